"""Reading what the bot did in the Slack stand-in, and waiting for it."""
from __future__ import annotations

from sandbox.stack import LocalStack
from storage import queries


def bot_posts(stack: LocalStack, channel: str = "C0GENERAL") -> list[str]:
    """The bot's top-level posts in a channel (its notifications), oldest first."""
    return [m["text"] for m in stack.slack.messages(channel) if m.get("bot_id") and "thread_ts" not in m]


def approved_count(stack: LocalStack) -> int:
    assert stack.services is not None
    with stack.services.db.session() as session:
        return queries.example_counts(session).approved


def wait_for_approved(stack: LocalStack, expected: int) -> None:
    stack.slack.wait_for(lambda: approved_count(stack) == expected, timeout=10)


def command(stack: LocalStack, text: str, user: str = "U0ALICE") -> str:
    """A /finetune command's immediate answer (its ack), which Slack shows only to the person who typed it."""
    answer = stack.slack.slash_command(user, "C0GENERAL", "/finetune", text)
    assert answer["status"] == 200
    return answer["ack"]["text"]
