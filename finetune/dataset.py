"""Turns approved replies into the chat JSONL that fine-tuning takes, one example a line.

What a training file holds, in order of the steps:
- one example per approved reply: the whole conversation as the model saw it, then the approved answer
  (the latest correction, else the reply). Earlier assistant turns in the thread that were not themselves
  approved (their text is no approved answer of that thread) carry `"weight": 0`: context, not a target;
- every text redacted (finetune.data_redaction) before anything else looks at it;
- invalid examples left out with their reasons (finetune.validation);
- the same conversation (same normalized text) once; an example that is the start of a longer one from
  the same thread, whose turn is trained there, is folded into it;
- from `holdout_min` examples on, a stable tenth held out for validation: by a hash of the conversation,
  so an example never moves between the files from one run to the next.
"""
from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from finetune.backend import Capabilities, Method
from finetune.data_redaction import NO_EXTRA, Redactor
from finetune.tokens import TokenCounter
from finetune.validation import example_problems
from storage.db import storable

HOLDOUT_BUCKETS = 10  # one bucket in ten: a tenth of the conversations, whichever way the set grows
DUPLICATE = "the same conversation as reply {into}: it appears once"
FOLDED = "the start of reply {into}'s conversation, where its answer is trained"


class ReplyLike(Protocol):
    """An approved reply as the dataset needs it (storage.queries.CuratedReply is one)."""

    @property
    def id(self) -> int: ...

    @property
    def messages(self) -> list[dict[str, Any]]: ...

    @property
    def answer(self) -> str: ...

    @property
    def thread(self) -> str: ...


def normalized(text: str) -> str:
    """What counts as the same text: Unicode-normalized, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def conversation_key(messages: Iterable[dict[str, Any]]) -> str:
    return json.dumps([[m.get("role"), normalized(str(m.get("content") or ""))] for m in messages], ensure_ascii=False)


def holdout_key(prompt: Sequence[dict[str, Any]]) -> str:
    """The conversation a held-out example is chosen by: its turns before the answer, system prompt aside (a new
    persona must not reshuffle the split)."""
    return conversation_key(m for m in prompt if m.get("role") != "system")


def held_out(prompt: Sequence[dict[str, Any]]) -> bool:
    digest = hashlib.sha256(holdout_key(prompt).encode()).digest()
    return int.from_bytes(digest[:8], "big") % HOLDOUT_BUCKETS == 0


def to_example(messages: list[dict[str, Any]], reply_text: str) -> dict[str, Any]:
    """The conversation exactly as the model saw it, with the approved answer as the last turn; a NUL byte or
    lone surrogate stored before the store refused them is dropped here, so none reaches a training file."""
    turns = [{"role": m["role"], "content": _clean(m["content"])} for m in messages]
    return {"messages": [*turns, {"role": "assistant", "content": _clean(reply_text)}]}


def _clean(content: Any) -> Any:
    return storable(content) if isinstance(content, str) else content


def weighted_example(messages: list[dict[str, Any]], answer: str, approved_in_thread: set[str]) -> dict[str, Any]:
    """to_example, with `"weight": 0` on each earlier assistant turn that is no approved answer of the thread."""
    example = to_example(messages, answer)
    for turn in example["messages"][:-1]:
        if turn["role"] == "assistant" and normalized(str(turn["content"] or "")) not in approved_in_thread:
            turn["weight"] = 0
    return example


@dataclass
class BuiltDataset:
    reply_ids: list[int] = field(default_factory=list)  # replies with an example of their own, either file
    lines: list[str] = field(default_factory=list)  # the training file
    validation_lines: list[str] = field(default_factory=list)  # the held-out examples
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"reply_id", "problems"}: left out as invalid
    merged: list[dict[str, Any]] = field(default_factory=list)  # {"reply_id", "into", "why"}: in another's example

    @property
    def jsonl(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    @property
    def validation_jsonl(self) -> str:
        return "".join(line + "\n" for line in self.validation_lines)

    @property
    def covered_ids(self) -> list[int]:
        """Every reply the files carry: its own example, or folded into another's."""
        return [*self.reply_ids, *(m["reply_id"] for m in self.merged)]

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256(self.jsonl.encode())
        if self.validation_lines:
            digest.update(b"\x00validation\x00" + self.validation_jsonl.encode())
        return digest.hexdigest()

    def __len__(self) -> int:
        """Training examples: what the backend's minimum counts."""
        return len(self.lines)


@dataclass
class _Candidate:
    reply_id: int
    example: dict[str, Any]
    key: str
    prefix_keys: list[str]  # the starts of this conversation that end on a trained assistant turn


def build_dataset(replies: Iterable[ReplyLike], *, max_example_tokens: int, redact: Redactor = NO_EXTRA,
                  holdout_min: int = 0, counter: TokenCounter | None = None) -> BuiltDataset:
    """Valid examples go in; invalid ones are listed with their reasons instead of failing the upload.

    `holdout_min`: from this many examples on, a tenth go to the validation file (0: never)."""
    replies = list(replies)
    approved: dict[str, set[str]] = {}
    for reply in replies:
        approved.setdefault(reply.thread, set()).add(normalized(reply.answer))
    built = BuiltDataset()
    candidates: list[_Candidate] = []
    seen: dict[str, int] = {}
    for reply in replies:
        example = weighted_example(reply.messages, reply.answer, approved[reply.thread])
        example["messages"] = redact.messages(example["messages"])
        problems = example_problems(example, max_example_tokens, counter)
        if problems:
            built.skipped.append({"reply_id": reply.id, "problems": problems})
            continue
        key = conversation_key(example["messages"])
        if key in seen:
            built.merged.append({"reply_id": reply.id, "into": seen[key], "why": DUPLICATE.format(into=seen[key])})
            continue
        seen[key] = reply.id
        turns = example["messages"]
        prefixes = [conversation_key(turns[: index + 1]) for index, turn in enumerate(turns[:-1])
                    if turn["role"] == "assistant" and turn.get("weight", 1) != 0]
        candidates.append(_Candidate(reply.id, example, key, prefixes))
    owners: dict[str, int] = {}
    for candidate in sorted(candidates, key=lambda c: -len(c.example["messages"])):  # the longest owns its starts
        for prefix in candidate.prefix_keys:
            owners.setdefault(prefix, candidate.reply_id)
    kept = []
    for candidate in candidates:
        into = owners.get(candidate.key)
        if into is not None and into != candidate.reply_id:
            built.merged.append({"reply_id": candidate.reply_id, "into": into, "why": FOLDED.format(into=into)})
        else:
            kept.append(candidate)
    hold = holdout_min > 0 and len(kept) >= holdout_min
    for candidate in kept:
        line = json.dumps(candidate.example, ensure_ascii=False)
        built.reply_ids.append(candidate.reply_id)
        if hold and held_out(candidate.example["messages"][:-1]):
            built.validation_lines.append(line)
        else:
            built.lines.append(line)
    return built


def unweighted(jsonl: str) -> str:
    """Chat JSONL with per-message weights, for a backend that trains on every assistant turn it is given.

    Each trained assistant turn (weight 1, or none) becomes one prompt/completion example: the conversation
    before it as the prompt (weights dropped), the turn as the completion. Weight-0 turns stay context only,
    and nothing is trained twice. This is TRL's conversational prompt-completion format (loss on the completion).
    """
    out = []
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        messages = json.loads(line)["messages"]
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        for index, message in enumerate(messages):
            if message["role"] == "assistant" and message.get("weight", 1) != 0:
                out.append(json.dumps({"prompt": plain[:index], "completion": [plain[index]]}, ensure_ascii=False))
    return "".join(line + "\n" for line in out)


def as_backend_reads(jsonl: str, capabilities: Capabilities, method: Method) -> str:
    """Our stored file as the backend's rules need it: weights unrolled where the backend would ignore them."""
    if method is Method.SFT and not capabilities.honours_weight:
        return unweighted(jsonl)
    return jsonl
