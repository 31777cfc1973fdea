"""Reading what the bot did in the Slack stand-in, and waiting for it; clicking what a person clicks."""
from __future__ import annotations

from sandbox.slack_stub import Interaction
from sandbox.stack import LocalStack
from storage import queries


def bot_posts(stack: LocalStack, channel: str = "C0GENERAL") -> list[str]:
    """The bot's top-level posts in a channel (its notifications), oldest first."""
    return [m["text"] for m in stack.slack.messages(channel) if m.get("bot_id") and "thread_ts" not in m]


def approved_count(stack: LocalStack) -> int:
    """Approved examples as the bot counts them (its curators, approvals required, self-approval setting)."""
    assert stack.services is not None
    with stack.services.db.session() as session:
        return queries.example_counts(session, stack.services.pipeline.config.curation).approved


def wait_for_approved(stack: LocalStack, expected: int) -> None:
    stack.slack.wait_for(lambda: approved_count(stack) == expected, timeout=10)


def command(stack: LocalStack, text: str, user: str = "U0ALICE") -> str:
    """A /finetune command's immediate answer (its ack), which Slack shows only to the person who typed it."""
    answer = stack.slack.slash_command(user, "C0GENERAL", "/finetune", text)
    assert answer["status"] == 200
    return answer["ack"]["text"]


# --- interactivity: what a person clicks, and what only they are shown ---------------------------------


def feedback(stack: LocalStack, reply: dict, *, user: str = "U0BOB", positive: bool = True,
             channel: str = "C0GENERAL") -> Interaction:
    """A click on the reply's native feedback buttons (Good answer / Bad answer)."""
    clicked = stack.slack.feedback(user, channel, reply["ts"], positive=positive)
    assert clicked.acked, "Slack shows the person an error when a click is not acknowledged within 3 s"
    return clicked


def click(stack: LocalStack, reply: dict, action_id: str, *, user: str = "U0BOB", channel: str = "C0GENERAL") -> Interaction:
    clicked = stack.slack.click(user, channel, reply["ts"], action_id)
    assert clicked.acked
    return clicked


def shortcut(stack: LocalStack, reply: dict, callback_id: str, *, user: str = "U0BOB",
             channel: str = "C0GENERAL") -> Interaction:
    used = stack.slack.shortcut(user, channel, reply["ts"], callback_id)
    assert used.acked
    return used


def open_modal(stack: LocalStack, user: str = "U0BOB") -> dict:
    """The modal the bot opened for `user` (the one on top), once it is open."""
    return stack.slack.wait_for(lambda: (stack.slack.open_views(user) or [None])[-1])


def submit_view(stack: LocalStack, values: dict[str, str] | None = None, *, user: str = "U0BOB") -> Interaction:
    submitted = stack.slack.submit_view(user, values)
    assert submitted.acked
    return submitted


def ephemerals_for(stack: LocalStack, user: str, *, after: int = 0) -> list[str]:
    """Texts only `user` was shown, oldest first; `after` skips the first ones (those seen already)."""
    return [e["text"] for e in stack.slack.ephemerals_for(user)][after:]


def wait_for_ephemeral(stack: LocalStack, user: str, *, after: int = 0) -> str:
    """The next text only `user` is shown, after the first `after`."""
    return stack.slack.wait_for(lambda: ephemerals_for(stack, user, after=after))[0]


def dm_files(stack: LocalStack, user: str) -> list[dict]:
    """Files the bot sent `user` in a DM, each with its bytes under "content"."""
    return stack.slack.dm_files(user)
