"""A reply in its thread: the placeholder, the answer or a person's better answer, the apology, the hints."""
from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownBlock, MarkdownTextObject

HINT = "Ask me something after the mention, e.g. `@finetune-bot Review this product: a portable Bluetooth speaker`."
THINKING = "_Thinking…_"
NOTHING_TO_IMPROVE = "There is no answer of mine earlier in this thread to improve yet: ask me first, then reply `better: …`."
BUSY = ":hourglass: I'm answering a lot of questions right now and couldn't take this one. Please ask again in a minute."
MARKDOWN_BLOCK_LIMIT = 12_000  # characters a markdown block holds
REPLY_EVENT_TYPE = "finetune_bot_reply"


def answer_blocks(text: str, model: str, approve_reaction: str) -> list[Block]:
    return _answer_blocks(
        text,
        f"Answered by `{model}` · react :{approve_reaction}: if this is a good answer, "
        "or reply `better: …` with a better one",
    )


def suggestion_blocks(text: str, author: str, approve_reaction: str) -> list[Block]:
    return _answer_blocks(
        text, f"Better answer suggested by <@{author}> · react :{approve_reaction}: to make it a training example"
    )


def _answer_blocks(text: str, footer: str) -> list[Block]:
    """The answer, and under it who wrote it and how to approve it."""
    return [
        MarkdownBlock(text=text[:MARKDOWN_BLOCK_LIMIT]),
        ContextBlock(elements=[MarkdownTextObject(text=footer)]),
    ]


def reply_metadata(reply_id: int, model: str, author: str) -> dict[str, Any]:
    """Slack message metadata on every answer: tools (the sandbox) read who answered without parsing text."""
    return {"event_type": REPLY_EVENT_TYPE, "event_payload": {"reply_id": reply_id, "model": model, "author": author}}


def apology(reason: str) -> str:
    return f":sweat: Sorry, I couldn't answer that just now ({reason}). Please try again in a moment."
