"""Preference pairs for DPO: which answer the team preferred to which, for the same conversation.

A pair comes from
- a bad reply (a curator voted against it) and an approved or corrected answer to the same conversation
  (the same turns before the answer, normalized), and
- every corrected reply: its latest correction preferred to the original.

The file is OpenAI's preference format, which Together AI reads too: `{"input": {"messages": [...]},
"preferred_output": [assistant], "non_preferred_output": [assistant]}`. trl_preference_jsonl() turns it into
TRL's conversational prompt/chosen/rejected for the local backend. Redaction, duplicates and the holdout
follow the same rules as finetune.dataset.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from finetune.data_redaction import NO_EXTRA, Redactor
from finetune.dataset import BuiltDataset, conversation_key, held_out, normalized
from finetune.tokens import TokenCounter
from finetune.validation import example_problems

DUPLICATE_PAIR = "the same preference pair as reply {into}'s: it appears once"


class JudgedReply(Protocol):
    """A reply someone voted on or corrected (storage.queries.CuratedReply is one)."""

    @property
    def id(self) -> int: ...

    @property
    def messages(self) -> list[dict[str, Any]]: ...

    @property
    def original(self) -> str: ...

    @property
    def corrected(self) -> str | None: ...

    @property
    def approved(self) -> bool: ...

    @property
    def bad(self) -> bool: ...


@dataclass(frozen=True)
class Pair:
    prompt: list[dict[str, Any]]
    preferred: str
    rejected: str
    reply_ids: tuple[int, ...]  # the replies it was made of, the preferred answer's first

    def record(self) -> dict[str, Any]:
        return {"input": {"messages": self.prompt},
                "preferred_output": [{"role": "assistant", "content": self.preferred}],
                "non_preferred_output": [{"role": "assistant", "content": self.rejected}]}


@dataclass
class _Conversation:
    prompt: list[dict[str, Any]]
    good: list[tuple[str, int]] = field(default_factory=list)
    bad: list[tuple[str, int]] = field(default_factory=list)


def preference_pairs(replies: Iterable[JudgedReply], redact: Redactor = NO_EXTRA) -> list[Pair]:
    """Every pair the judgements give, redacted, in the order of the replies (duplicates included)."""
    conversations: dict[str, _Conversation] = {}
    corrected: list[Pair] = []
    for reply in replies:
        prompt = redact.messages({"role": m["role"], "content": m["content"]} for m in reply.messages)
        conversation = conversations.setdefault(conversation_key(prompt), _Conversation(prompt))
        original = redact(reply.original)
        if reply.corrected is not None:
            better = redact(reply.corrected)
            conversation.good.append((better, reply.id))
            corrected.append(Pair(prompt, better, original, (reply.id,)))
        elif reply.approved:
            conversation.good.append((original, reply.id))
        if reply.bad:
            conversation.bad.append((original, reply.id))
    pairs = [Pair(c.prompt, good, bad, (good_id, bad_id) if good_id != bad_id else (good_id,))
             for c in conversations.values() for good, good_id in c.good for bad, bad_id in c.bad]
    return [pair for pair in [*corrected, *pairs] if normalized(pair.preferred) != normalized(pair.rejected)]


def pair_problems(pair: Pair, max_tokens: int, counter: TokenCounter | None = None) -> list[str]:
    """The chat rules, checked on both sides; a preference input must end on the person's turn."""
    problems = example_problems({"messages": [*pair.prompt, {"role": "assistant", "content": pair.preferred}]}, max_tokens,
                                counter)
    problems += [p.replace("message", "rejected message", 1) if p.startswith("message") else p
                 for p in example_problems({"messages": [*pair.prompt, {"role": "assistant", "content": pair.rejected}]},
                                           max_tokens, counter) if p not in problems]
    if pair.prompt and pair.prompt[-1].get("role") != "user":
        problems.append("the conversation does not end with the person's message")
    return problems


def build_preferences(replies: Iterable[JudgedReply], *, max_example_tokens: int, redact: Redactor = NO_EXTRA,
                      holdout_min: int = 0, counter: TokenCounter | None = None) -> BuiltDataset:
    """Valid pairs in OpenAI's preference format, each once; a tenth held out from `holdout_min` pairs on."""
    built = BuiltDataset()
    seen: dict[str, int] = {}
    kept: list[Pair] = []
    for pair in preference_pairs(replies, redact):
        owner = pair.reply_ids[0]
        problems = pair_problems(pair, max_example_tokens, counter)
        if problems:
            built.skipped.append({"reply_id": owner, "problems": problems})
            continue
        key = json.dumps([conversation_key(pair.prompt), normalized(pair.preferred), normalized(pair.rejected)])
        if key in seen:
            if owner != seen[key]:
                built.merged.append({"reply_id": owner, "into": seen[key], "why": DUPLICATE_PAIR.format(into=seen[key])})
            continue
        seen[key] = owner
        kept.append(pair)
    hold = holdout_min > 0 and len(kept) >= holdout_min
    for pair in kept:
        line = json.dumps(pair.record(), ensure_ascii=False)
        (built.validation_lines if hold and held_out(pair.prompt) else built.lines).append(line)
        built.reply_ids.extend(i for i in pair.reply_ids if i not in built.reply_ids)
    covered = set(built.reply_ids)
    built.merged = [m for m in built.merged if m["reply_id"] not in covered]
    return built


def trl_preference_jsonl(jsonl: str) -> str:
    """OpenAI's preference JSONL as TRL's conversational preference format, for DPOTrainer:
    `{"prompt": [messages], "chosen": [assistant], "rejected": [assistant]}` (the local backend writes this)."""
    out = []
    for number, line in enumerate(jsonl.splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        try:
            row = {"prompt": record["input"]["messages"], "chosen": record["preferred_output"],
                   "rejected": record["non_preferred_output"]}
        except (KeyError, TypeError):
            raise ValueError(f"line {number} is not a preference pair (input, preferred_output, non_preferred_output)") from None
        out.append(json.dumps(row, ensure_ascii=False))
    return "".join(line + "\n" for line in out)
