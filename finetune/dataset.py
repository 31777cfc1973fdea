"""Turns approved replies into the chat JSONL that fine-tuning takes, one example a line."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from finetune.tokens import TokenCounter
from finetune.validation import example_problems


class ReplyLike(Protocol):
    id: int
    messages: list[dict[str, Any]]
    reply_text: str | None


def to_example(messages: list[dict[str, Any]], reply_text: str) -> dict[str, Any]:
    """The conversation exactly as the model saw it, with the approved answer as the last turn."""
    turns = [{"role": m["role"], "content": m["content"]} for m in messages]
    return {"messages": [*turns, {"role": "assistant", "content": reply_text}]}


@dataclass
class BuiltDataset:
    reply_ids: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def jsonl(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jsonl.encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.lines)


def build_dataset(replies: Iterable[ReplyLike], *, max_example_tokens: int, counter: TokenCounter) -> BuiltDataset:
    """Valid examples go in; invalid ones (over the token limit, counted by `counter`) are listed with their
    reasons instead of failing the upload."""
    built = BuiltDataset()
    for reply in replies:
        example = to_example(reply.messages, reply.reply_text or "")
        problems = example_problems(example, max_example_tokens, counter)
        if problems:
            built.skipped.append({"reply_id": reply.id, "problems": problems})
            continue
        built.reply_ids.append(reply.id)
        built.lines.append(json.dumps(example, ensure_ascii=False))
    return built
