"""A reply in its thread: the placeholder, the answer or a person's better answer, the apology, the hints."""
from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextActionsBlock,
    ContextBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    MarkdownBlock,
    MarkdownTextObject,
)

HINT = "Ask me something after the mention, e.g. `@finetune-bot Review this product: a portable Bluetooth speaker`."
THINKING = "_Thinking…_"
NOTHING_TO_IMPROVE = "There is no answer of mine earlier in this thread to improve yet: ask me first, then reply `better: …`."
BUSY = ":hourglass: I'm answering a lot of questions right now and couldn't take this one. Please ask again in a minute."
GAVE_UP = ":warning: I gave up on this answer: Slack kept refusing my messages. Please ask again in a few minutes."
RESTARTED = ":sweat: Sorry, I was restarted twice while writing this answer. Please ask again."
MARKDOWN_BLOCK_LIMIT = 12_000  # characters a markdown block holds
REPLY_EVENT_TYPE = "finetune_bot_reply"
PLACEHOLDER_EVENT_TYPE = "finetune_bot_placeholder"  # a "Thinking…" post: found again after a lost answer
FEEDBACK_ACTION = "reply_feedback"  # the native feedback buttons: value POSITIVE or NEGATIVE
IMPROVE_ACTION = "improve_reply"  # the "Improve" button: opens the edit modal
POSITIVE, NEGATIVE = "positive", "negative"


def answer_blocks(text: str, model: str, approve_reaction: str) -> list[Block]:
    return _answer_blocks(
        text,
        f"Answered by `{model}` · *Good answer* or react :{approve_reaction}: if this is a good answer; "
        "*Improve* it, or reply `better: …`, if it is not",
    )


def suggestion_blocks(text: str, author: str, approve_reaction: str, links: tuple[str, ...] = ()) -> list[Block]:
    footer = f"Better answer suggested by <@{author}> · *Good answer* or react :{approve_reaction}: to make it a training example"
    if links:
        footer += f" · {LINK_WARNING}"
    return _answer_blocks(text, footer)


LINK_WARNING = ":warning: it carries a link: check where it points before approving"


def _answer_blocks(text: str, footer: str) -> list[Block]:
    """The answer; under it who wrote it and how to approve it; then Slack's feedback buttons and Improve."""
    return [
        MarkdownBlock(text=text[:MARKDOWN_BLOCK_LIMIT]),
        ContextBlock(elements=[MarkdownTextObject(text=footer)]),
        ContextActionsBlock(elements=[FeedbackButtonsElement(
            action_id=FEEDBACK_ACTION,
            positive_button=FeedbackButtonObject(text="Good answer", accessibility_label="Mark as a good answer",
                                                 value=POSITIVE),
            negative_button=FeedbackButtonObject(text="Bad answer", accessibility_label="Mark as a bad answer",
                                                 value=NEGATIVE),
        )]),
        ActionsBlock(elements=[ButtonElement(text="Improve", action_id=IMPROVE_ACTION, value="improve")]),
    ]


def reply_metadata(reply_id: int, model: str, author: str) -> dict[str, Any]:
    """Slack message metadata on every answer: tools (the sandbox) read who answered without parsing text."""
    return {"event_type": REPLY_EVENT_TYPE, "event_payload": {"reply_id": reply_id, "model": model, "author": author}}


def placeholder_metadata(reply_id: int) -> dict[str, Any]:
    """On the "Thinking…" post, so a post whose answer was lost (a 500, a crash) is found, not posted twice."""
    return {"event_type": PLACEHOLDER_EVENT_TYPE, "event_payload": {"reply_id": reply_id}}


def placeholder_of(message: dict[str, Any]) -> int | None:
    """The reply id a placeholder post carries, if it is one."""
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != PLACEHOLDER_EVENT_TYPE:
        return None
    reply_id = (metadata.get("event_payload") or {}).get("reply_id")
    return reply_id if isinstance(reply_id, int) else None


def apology(reason: str) -> str:
    return f":sweat: Sorry, I couldn't answer that just now ({reason}). Please try again in a moment."


def vote_note(result: str, positive: bool, why: str | None = None) -> str:
    """What the person who clicked (or reacted) is told, only them."""
    if result == "not_a_curator":
        return f":lock: Your vote was not recorded: {why}"
    if result == "not_a_reply":
        return "That message is not one of my answers, so there is nothing to vote on."
    if result == "unchanged":
        return "Already noted: nothing changed."
    if result == "own_answer":
        return (":white_check_mark: Noted. You wrote this answer, so someone else has to approve it too before it "
                "becomes a training example.")
    if positive:
        return ":white_check_mark: Thanks! This answer counts as a good example for the next fine-tune."
    return ":x: Noted: this answer is marked bad and will not be trained on."


def links_note(links: tuple[str, ...]) -> str:
    """Told to whoever approves a person's answer that carries links: they decide whether to train on them."""
    shown = ", ".join(f"`{link}`" for link in links[:3]) + (" and more" if len(links) > 3 else "")
    return f":warning: This answer carries a link ({shown}): check where it points before it is trained on."


def improved_note(user: str, *, needs_another: bool = False) -> str:
    note = f":pencil2: <@{user}> improved this answer. The corrected version is what the model will learn from"
    if needs_another:
        return note + ", once someone else approves it (*Good answer*)."
    return note + "."
