"""The Improve modal: a reply's text in editable parts (Slack's input holds 3,000 characters), and its notes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import ContextBlock, InputBlock, MarkdownTextObject, PlainTextInputElement
from slack_sdk.models.views import View

CALLBACK_ID = "improve_reply"
SHORTCUT_ID = "improve_reply_shortcut"
INPUT_LIMIT = 3_000  # characters a plain_text_input holds
MAX_PARTS = 8
PART_BLOCK = "part_{}"
PART_ACTION = "text"


@dataclass(frozen=True)
class Target:
    """Which reply the modal edits: kept in the view's private_metadata."""

    channel: str
    ts: str

    def dump(self) -> str:
        return json.dumps({"channel": self.channel, "ts": self.ts})

    @classmethod
    def load(cls, raw: str) -> Target:
        data = json.loads(raw or "{}")
        return cls(str(data.get("channel") or ""), str(data.get("ts") or ""))


def split_parts(text: str, limit: int = INPUT_LIMIT) -> list[str]:
    """Up to `limit` characters a part, broken at a paragraph or line end where one is near."""
    parts, rest = [], text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit))
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:]
    parts.append(rest)
    return parts


def too_long(text: str) -> bool:
    return len(split_parts(text)) > MAX_PARTS


def modal(text: str, target: Target) -> View:
    parts = split_parts(text)
    blocks: list[Any] = []
    if len(parts) > 1:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"This answer is {len(text):,} characters, longer than one edit box holds, so it is split into "
                 f"{len(parts)} parts. They are joined back in order when you save.")]))
    for index, part in enumerate(parts):
        blocks.append(InputBlock(
            block_id=PART_BLOCK.format(index),
            label=f"Answer, part {index + 1} of {len(parts)}" if len(parts) > 1 else "The answer the model should give",
            element=PlainTextInputElement(action_id=PART_ACTION, multiline=True, initial_value=part,
                                          max_length=INPUT_LIMIT),
        ))
    return View(type="modal", callback_id=CALLBACK_ID, title="Improve this answer", submit="Save", close="Cancel",
                private_metadata=target.dump(), blocks=blocks)


def submitted_text(state_values: dict[str, Any]) -> str:
    """The parts as the person left them, joined in order."""
    parts = []
    for index in range(MAX_PARTS):
        block = state_values.get(PART_BLOCK.format(index))
        if block is None:
            break
        parts.append((block.get(PART_ACTION) or {}).get("value") or "")
    return "".join(parts)


TOO_LONG = ("This answer is too long to edit here ({length:,} characters; Slack's edit boxes hold "
            f"{MAX_PARTS} x {INPUT_LIMIT:,}). Reply `better: …` in its thread with the answer you want instead.")
NOT_A_REPLY = "Only my own answers can be improved here."
EMPTY = "The answer cannot be empty."
