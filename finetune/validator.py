"""Checks a fine-tuning file, chat or DPO, one a person wrote by hand included, and reports what a job would cost.

The file is streamed: memory holds one line at a time, a histogram of per-example token counts (bounded by
the range of counts, not the number of examples) and a compact table of example hashes for duplicates
(16 bytes an example). A large file is split at line boundaries over worker processes (both cores).

Errors make a file unusable (the provider would reject it); warnings do not: duplicates, and examples over
the backend's per-example token limit (OpenAI truncates them; our own dataset builder leaves them out).
The epochs are the ones OpenAI's "auto" picks, as in the OpenAI cookbook's data-preparation notebook.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from finetune.backend import Capabilities
from finetune.prices import DEFAULT_PRICES, price_for
from finetune.tokens import REPLY_PRIMING, TOKENS_PER_MESSAGE, TOKENS_PER_NAME, TokenCounter, counter_for

MIN_EXAMPLES = 10
MAX_LISTED = 20  # problems listed per kind; the rest are counted
# below these sizes one process is quicker than starting another (a spawned one imports and loads its tokenizer)
PARALLEL_FROM_BYTES = {"fork": 1024 * 1024, "spawn": 32 * 1024 * 1024, "forkserver": 32 * 1024 * 1024}
CACHE_ENTRIES = 4096  # repeated texts (system prompts, a thread's earlier turns, roles, names) counted once
CACHE_TEXT_CHARS = 2048  # longer texts are counted each time: hashing them costs little, keeping them more

# OpenAI's "auto" epochs (the cookbook's Chat_finetuning_data_prep notebook)
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25

CHAT_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
DPO_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"})
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class FileFormat(StrEnum):
    CHAT = "chat"
    DPO = "dpo"


class ProblemKind(StrEnum):
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_MESSAGES = "missing_messages"
    UNKNOWN_KEY = "unknown_key"
    UNKNOWN_ROLE = "unknown_role"
    MISSING_CONTENT = "missing_content"
    NO_ASSISTANT = "no_assistant_message"
    BAD_WEIGHT = "bad_weight"
    MIXED_FORMATS = "mixed_formats"
    TOO_FEW_EXAMPLES = "too_few_examples"
    OVER_TOKEN_LIMIT = "over_token_limit"
    DUPLICATE = "duplicate"

    @property
    def is_warning(self) -> bool:
        return self in (ProblemKind.OVER_TOKEN_LIMIT, ProblemKind.DUPLICATE)


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    line: int | None  # 1-based; None for the file as a whole
    detail: str

    def text(self) -> str:
        return f"line {self.line}: {self.detail}" if self.line is not None else self.detail


@dataclass(frozen=True)
class Rules:
    """What a file is checked against: the model (its tokenizer and price) and the backend's limits."""

    model: str
    max_example_tokens: int
    min_examples: int = MIN_EXAMPLES
    model_dir: str | None = None  # the local backend: count with this directory's tokenizer.json
    prices: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def of(cls, capabilities: Capabilities, model: str, *, model_dir: str | None = None,
           prices: Mapping[str, float] | None = None) -> Rules:
        """A backend's limits for `model`: what the pipeline checks before an upload and `finetune-bot validate` checks."""
        return cls(model=model, max_example_tokens=capabilities.max_example_tokens, min_examples=capabilities.min_examples,
                   model_dir=model_dir, prices=dict(DEFAULT_PRICES) if prices is None else prices)

    def counter(self) -> TokenCounter:
        return counter_for(self.model, model_dir=self.model_dir)


@dataclass(frozen=True)
class TokenStats:
    total: int
    min: int
    median: float
    p95: float
    max: int


@dataclass(frozen=True)
class Report:
    source: str
    model: str
    encoding: str
    exact: bool
    format: FileFormat | None
    lines: int
    examples: int
    problems: list[Problem]  # at most MAX_LISTED of each kind, in file order
    counts: dict[ProblemKind, int]  # every problem, by kind
    tokens: TokenStats | None
    max_example_tokens: int
    epochs: int | None
    billed_tokens: int
    price_per_million: float | None
    estimated_cost: float | None

    @property
    def errors(self) -> int:
        return sum(n for kind, n in self.counts.items() if not kind.is_warning)

    @property
    def warnings(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind.is_warning)

    @property
    def usable(self) -> bool:
        return self.errors == 0

    def summary(self) -> str:
        """One line for a notification: why a file is unusable, or that it is fine."""
        if self.usable:
            return f"{self.examples} examples, {self.warnings} warning(s)"
        shown = [p.text() for p in self.problems if not p.kind.is_warning][:3]
        more = self.errors - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "usable": self.usable, "format": self.format.value if self.format else None,
            "lines": self.lines, "examples": self.examples, "model": self.model, "encoding": self.encoding,
            "exact_counts": self.exact, "max_example_tokens": self.max_example_tokens,
            "errors": [_problem_dict(p) for p in self.problems if not p.kind.is_warning],
            "warnings": [_problem_dict(p) for p in self.problems if p.kind.is_warning],
            "counts": {kind.value: n for kind, n in self.counts.items()},
            "tokens": None if self.tokens is None else {
                "total": self.tokens.total, "min": self.tokens.min, "median": self.tokens.median,
                "p95": self.tokens.p95, "max": self.tokens.max,
            },
            "epochs": self.epochs, "billed_tokens": self.billed_tokens,
            "price_per_million_tokens_usd": self.price_per_million, "estimated_cost_usd": self.estimated_cost,
        }

    def text(self) -> str:
        what = self.format.value if self.format else "no examples"
        verdict = "usable" if self.usable else "NOT usable"
        out = [f"{self.source}: {what}, {self.lines:,} line(s); {verdict}: {self.errors} error(s), {self.warnings} warning(s)"]
        for title, warning in (("Errors", False), ("Warnings", True)):
            listed = [p for p in self.problems if p.kind.is_warning == warning]
            if not listed:
                continue
            out.append(f"{title}:")
            out += [f"  {p.text()}" for p in listed]
            unlisted = sum(n for k, n in self.counts.items() if k.is_warning == warning) - len(listed)
            if unlisted > 0:
                out.append(f"  ...and {unlisted:,} more")
        counted = "exact" if self.exact else "estimated"
        out.append(f"Statistics ({self.encoding}, {counted} counts, model {self.model}):")
        out.append(f"  examples: {self.examples:,}")
        if self.tokens is not None:
            t = self.tokens
            out.append(f"  tokens: {t.total:,} in all; per example min {t.min:,}, median {_num(t.median)}, "
                       f"p95 {_num(t.p95)}, max {t.max:,} (limit {self.max_example_tokens:,})")
        if self.epochs is not None:
            out.append(f"  epochs (OpenAI's auto): {self.epochs}")
            out.append(f"  billed tokens: {self.billed_tokens:,} (each example up to the limit, times {self.epochs} epochs)")
            if self.estimated_cost is not None:
                cost = f"{self.estimated_cost:,.2f}" if self.estimated_cost >= 1 else f"{self.estimated_cost:.4f}"
                out.append(f"  estimated cost: ${cost} at ${self.price_per_million:,.2f} per 1M training tokens")
            else:
                out.append(f"  estimated cost: unknown, the price table has no entry for {self.model}")
        return "\n".join(out)


def auto_epochs(examples: int) -> int | None:
    """OpenAI's "auto" n_epochs: 3, raised so examples x epochs reach 100, lowered to stay under 25,000."""
    if examples <= 0:
        return None
    epochs = TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    elif examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return epochs


# --- entry points ---------------------------------------------------------------------------------


def validate_text(content: str | bytes, rules: Rules, *, source: str = "training file") -> Report:
    """A file already in memory (the pipeline's, before upload)."""
    data = content.encode() if isinstance(content, str) else content
    return validate_lines(data.splitlines(keepends=True), rules, source=source)


def validate_lines(lines: Iterable[bytes], rules: Rules, *, source: str = "training file") -> Report:
    seen = _Seen()
    return _report(source, rules, [_scan(lines, rules, seen)], seen)


def validate_file(path: str | Path, rules: Rules, *, workers: int | None = None) -> Report:
    """Streams `path`. `workers` processes in all (default: both cores when the file is large enough to gain)."""
    path = Path(path)
    size = path.stat().st_size
    context = _context()
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if size >= PARALLEL_FROM_BYTES[context.get_start_method()] else 1
    ranges = _split(path, size, workers)
    seen = _Seen()
    if len(ranges) == 1:
        with path.open("rb") as handle:
            return _report(str(path), rules, [_scan(handle, rules, seen)], seen)
    # A process per share, started at once with its share as its arguments (no pool: a pool hands work
    # over through a thread of this process, which waits for the GIL while this process scans).
    workers_started: list[tuple[BaseProcess, Connection]] = []
    try:
        for start, end in ranges[1:]:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_scan_share, args=(sender, str(path), start, end, rules), daemon=True)
            process.start()
            sender.close()
            workers_started.append((process, receiver))
        parts = [_scan_range(str(path), *ranges[0], rules, seen)]  # this process takes the first share meanwhile
        parts += [_share_result(worker, pipe) for worker, pipe in workers_started]
    finally:
        for worker, pipe in workers_started:
            pipe.close()
            if worker.is_alive():
                worker.terminate()
            worker.join()
    return _report(str(path), rules, parts, seen)


def _scan_share(sender: Connection, path: str, start: int, end: int, rules: Rules) -> None:
    """A worker process: scans its share and sends back what it found, or why it could not."""
    try:
        sender.send((True, _scan_range(path, start, end, rules)))
    except Exception as exc:  # the parent raises it: one clear line, not a worker's traceback
        sender.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()


def _share_result(process: BaseProcess, receiver: Connection) -> _Part:
    try:
        ok, value = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"a validation worker ended without its result (exit status {process.exitcode})") from None
    if not ok:
        raise RuntimeError(f"a validation worker failed: {value}")
    return value


def _context() -> ForkContext | SpawnContext:
    """fork where it is safe (no other threads: the CLI), which starts in milliseconds; spawn otherwise."""
    if threading.active_count() == 1 and "fork" in get_all_start_methods():
        return get_context("fork")
    return get_context("spawn")


# --- one example ----------------------------------------------------------------------------------


class _Checker:
    """Checks one parsed example and counts its tokens; repeated texts are counted once."""

    def __init__(self, counter: TokenCounter) -> None:
        self._count = counter.count
        self._cache: dict[str, int] = {}

    def cached(self, text: str) -> int:
        tokens = self._cache.get(text)
        if tokens is None:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            tokens = self._cache[text] = self._count(text)
        return tokens

    def example(self, obj: Any, problems: list[tuple[ProblemKind, str]], key: list[str]) -> tuple[FileFormat | None, int]:
        """The example's format and tokens; appends what is wrong to `problems` and its text to `key`."""
        if type(obj) is not dict:
            problems.append((ProblemKind.NOT_AN_OBJECT, "the line is not a JSON object"))
            return None, 0
        if "input" in obj or "preferred_output" in obj or "non_preferred_output" in obj:
            return FileFormat.DPO, self._dpo(obj, problems, key)
        if not obj.keys() <= CHAT_KEYS:
            problems.append((ProblemKind.UNKNOWN_KEY, f"unknown key(s) {_names(obj.keys() - CHAT_KEYS)}"))
        messages = obj.get("messages")
        if type(messages) is not list or not messages:
            what = "missing" if messages is None else "empty" if messages == [] else "not a list"
            problems.append((ProblemKind.MISSING_MESSAGES, f"messages is {what}"))
            return FileFormat.CHAT, 0
        tokens, trained = self._messages(messages, "", problems, key)
        if not trained:
            problems.append((ProblemKind.NO_ASSISTANT, "no assistant message to train on"
                             if trained is None else "every assistant message has weight 0"))
        return FileFormat.CHAT, tokens + REPLY_PRIMING

    def _dpo(self, obj: dict[str, Any], problems: list[tuple[ProblemKind, str]], key: list[str]) -> int:
        if not obj.keys() <= DPO_KEYS:
            problems.append((ProblemKind.UNKNOWN_KEY, f"unknown key(s) {_names(obj.keys() - DPO_KEYS)}"))
        tokens = REPLY_PRIMING
        given = obj.get("input")
        messages = given.get("messages") if type(given) is dict else None
        if type(given) is dict and not given.keys() <= DPO_INPUT_KEYS:
            problems.append((ProblemKind.UNKNOWN_KEY, f"input has unknown key(s) {_names(given.keys() - DPO_INPUT_KEYS)}"))
        if type(messages) is not list or not messages:
            problems.append((ProblemKind.MISSING_MESSAGES, "input.messages is missing or empty"))
        else:
            tokens += self._messages(messages, "input ", problems, key, weights=False)[0]
        for side in ("preferred_output", "non_preferred_output"):
            output = obj.get(side)
            key.append("\x1d")
            if type(output) is not list or not output:
                problems.append((ProblemKind.NO_ASSISTANT, f"{side} is missing or empty"))
                continue
            counted, trained = self._messages(output, f"{side} ", problems, key, weights=False)
            tokens += counted
            if trained is None:
                problems.append((ProblemKind.NO_ASSISTANT, f"{side} has no assistant message"))
        return tokens

    def _messages(self, messages: list[Any], where: str, problems: list[tuple[ProblemKind, str]], key: list[str],
                  *, weights: bool = True) -> tuple[int, bool | None]:
        """Tokens of the messages, and whether an assistant message is trained on (None: there is none)."""
        tokens = 0
        trained: bool | None = None
        count, cached = self._count, self.cached
        for index, message in enumerate(messages):
            if type(message) is not dict:
                problems.append((ProblemKind.NOT_AN_OBJECT, f"{where}message {index} is not an object"))
                continue
            if not message.keys() <= MESSAGE_KEYS:
                unknown = message.keys() - MESSAGE_KEYS
                problems.append((ProblemKind.UNKNOWN_KEY, f"{where}message {index} has unknown key(s) {_names(unknown)}"))
            role = message.get("role")
            if role not in ROLES:
                problems.append((ProblemKind.UNKNOWN_ROLE, f"{where}message {index} has an unknown role {_short(role)}"
                                 if role is not None else f"{where}message {index} has no role"))
                role = str(role)
            content = message.get("content")
            if type(content) is str:
                text = content
            elif type(content) is list:
                text = _text_parts(content)
            else:
                text = ""
            if (not text or text.isspace()) and not (role == "assistant" and (message.get("tool_calls")
                                                                             or message.get("function_call"))):
                problems.append((ProblemKind.MISSING_CONTENT, f"{where}message {index} ({role}) has no content"))
            weight = message.get("weight", 1)
            if "weight" in message and (not weights or role != "assistant" or type(weight) is not int or weight not in (0, 1)):
                detail = (f"{where}message {index} has a weight {_short(weight)}: only 0 or 1 is allowed"
                          if role == "assistant" and weights else f"{where}message {index} ({role}) cannot carry a weight")
                problems.append((ProblemKind.BAD_WEIGHT, detail))
            if role == "assistant":
                trained = bool(trained) or weight != 0
            tokens += TOKENS_PER_MESSAGE + cached(role) + (cached(text) if len(text) <= CACHE_TEXT_CHARS else count(text))
            name = message.get("name")
            if type(name) is str:
                tokens += cached(name) + TOKENS_PER_NAME
            key.append(role)
            key.append(text)
        return tokens, trained


def _text_parts(content: list[Any]) -> str:
    return "".join(p["text"] for p in content if type(p) is dict and type(p.get("text")) is str)


def _names(keys: Iterable[Any]) -> str:
    return ", ".join(_short(k) for k in sorted(map(str, keys)))


def _short(value: Any, limit: int = 60) -> str:
    """repr() of a value from the file, cut: a hand-written file may hold a key or a role of any length."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _problem_dict(problem: Problem) -> dict[str, Any]:
    return {"kind": problem.kind.value, "line": problem.line, "detail": problem.detail}


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


# --- one range of lines ---------------------------------------------------------------------------


@dataclass
class _Part:
    """What one scan found, with line numbers local to its range."""

    lines: int = 0
    examples: int = 0
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[ProblemKind] = field(default_factory=Counter)
    histogram: Counter[int] = field(default_factory=Counter)
    billed: int = 0
    first_line: dict[FileFormat, int] = field(default_factory=dict)
    keys: array[int] = field(default_factory=lambda: array("Q"))  # example hashes, for duplicates across ranges
    key_lines: array[int] = field(default_factory=lambda: array("Q"))

    def add(self, kind: ProblemKind, line: int | None, detail: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_LISTED:
            self.problems.append(Problem(kind, line, detail))


def _scan(lines: Iterable[bytes], rules: Rules, seen: _Seen | None = None) -> _Part:
    """One pass over `lines`. With `seen`, duplicates are found as it goes; without (a worker's share), the
    example hashes are kept for the parent to merge."""
    checker = _Checker(rules.counter())
    limit = rules.max_example_tokens
    part = _Part()
    loads, blake2b = json.loads, hashlib.blake2b
    histogram, keys, key_lines = part.histogram, part.keys, part.key_lines
    number = 0
    for number, raw in enumerate(lines, 1):  # noqa: B007 - the count of lines is read after the loop
        try:
            obj = loads(raw)
        except ValueError as exc:
            detail = "an empty line" if not raw.strip() else f"invalid JSON: {_json_error(exc)}"
            part.add(ProblemKind.INVALID_JSON, number, detail)
            continue
        problems: list[tuple[ProblemKind, str]] = []
        key: list[str] = []
        form, tokens = checker.example(obj, problems, key)
        if form is not None and form not in part.first_line:
            part.first_line[form] = number
        if problems:
            for kind, detail in problems:
                part.add(kind, number, detail)
            continue
        part.examples += 1
        histogram[tokens] += 1
        part.billed += tokens if tokens <= limit else limit
        if tokens > limit:
            part.add(ProblemKind.OVER_TOKEN_LIMIT, number, f"{tokens:,} tokens, over the limit of {limit:,}")
        digest = int.from_bytes(blake2b("\x1f".join(key).encode("utf-8", "surrogatepass"), digest_size=8).digest())
        if seen is None:
            keys.append(digest)
            key_lines.append(number)
        elif (earlier := seen.earlier(digest, number)) is not None:
            part.add(ProblemKind.DUPLICATE, number, f"the same example as line {earlier}")
    part.lines = number
    return part


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (column {exc.colno})"
    return "the line is not UTF-8 text"


def _scan_range(path: str, start: int, end: int, rules: Rules, seen: _Seen | None = None) -> _Part:
    """One process's share: the lines that start in [start, end)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        return _scan(_lines_until(handle, end - start), rules, seen)


def _lines_until(handle: Any, budget: int) -> Iterable[bytes]:
    for line in handle:
        if budget <= 0:
            return
        budget -= len(line)
        yield line


def _split(path: Path, size: int, workers: int) -> list[tuple[int, int]]:
    """Byte ranges starting at line starts, one per worker; a small file gets one."""
    if workers <= 1 or size == 0:
        return [(0, size)]
    starts = [0]
    with path.open("rb") as handle:
        for i in range(1, workers):
            handle.seek(size * i // workers)
            handle.readline()  # to the start of the next line
            position = handle.tell()
            if starts[-1] < position < size:
                starts.append(position)
    return list(zip(starts, [*starts[1:], size], strict=True))


# --- the whole file -------------------------------------------------------------------------------


class _Seen:
    """Open addressing over two arrays (12 bytes a slot, at most half full): duplicates without a Python
    object per example."""

    def __init__(self, capacity: int = 1024) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._lines = array("I", bytes(4 * capacity))
        self._used = 0

    def earlier(self, key: int, line: int) -> int | None:
        """The line that already had `key`; otherwise records it at `line` and returns None."""
        key = key or 1  # 0 marks an empty slot
        keys, mask = self._keys, len(self._keys) - 1
        slot = key & mask
        while keys[slot]:
            if keys[slot] == key:
                return int(self._lines[slot])
            slot = (slot + 1) & mask
        keys[slot], self._lines[slot] = key, line
        self._used += 1
        if self._used * 2 > len(keys):
            self._grow()
        return None

    def _grow(self) -> None:
        old = zip(self._keys, self._lines, strict=True)
        self._keys = array("Q", bytes(16 * len(self._keys)))
        self._lines = array("I", bytes(4 * len(self._keys)))
        self._used = 0
        for key, line in old:
            if key:
                self.earlier(key, line)


def _report(source: str, rules: Rules, parts: list[_Part], seen: _Seen) -> Report:
    """Merges the parts in file order; `seen` already holds the first part's examples."""
    counter = rules.counter()
    counts: Counter[ProblemKind] = Counter()
    problems: list[Problem] = []
    histogram: Counter[int] = Counter()
    first_line: dict[FileFormat, int] = {}
    offset = examples = billed = 0
    for part in parts:
        counts.update(part.counts)
        problems += [Problem(p.kind, None if p.line is None else p.line + offset, p.detail) for p in part.problems]
        histogram.update(part.histogram)
        examples += part.examples
        billed += part.billed
        for form, line in part.first_line.items():
            first_line.setdefault(form, line + offset)
        for key, line in zip(part.keys, part.key_lines, strict=True):
            if (earlier := seen.earlier(key, line + offset)) is not None:
                counts[ProblemKind.DUPLICATE] += 1
                if counts[ProblemKind.DUPLICATE] <= MAX_LISTED:
                    problems.append(Problem(ProblemKind.DUPLICATE, line + offset, f"the same example as line {earlier}"))
        offset += part.lines
    if len(first_line) > 1:
        chat, dpo = first_line[FileFormat.CHAT], first_line[FileFormat.DPO]
        counts[ProblemKind.MIXED_FORMATS] += 1
        problems.append(Problem(ProblemKind.MIXED_FORMATS, None,
                                f"the file mixes chat examples (first at line {chat}) and DPO examples (first at line {dpo})"))
    if examples < rules.min_examples:
        counts[ProblemKind.TOO_FEW_EXAMPLES] += 1
        problems.append(Problem(ProblemKind.TOO_FEW_EXAMPLES, None,
                                f"{examples} usable example(s): at least {rules.min_examples} are needed"))
    problems.sort(key=lambda p: (p.line is not None, p.line or 0))
    listed: Counter[ProblemKind] = Counter()
    problems = [p for p in problems if (listed.update([p.kind]) or listed[p.kind]) <= MAX_LISTED]
    epochs = auto_epochs(examples)
    price = price_for(rules.model, rules.prices)
    billed_all = billed * (epochs or 0)
    file_format = min(first_line, key=first_line.__getitem__) if first_line else None
    return Report(
        source=source, model=rules.model, encoding=counter.encoding, exact=counter.exact, format=file_format, lines=offset,
        examples=examples, problems=problems, counts=dict(counts), tokens=_stats(histogram, examples),
        max_example_tokens=rules.max_example_tokens, epochs=epochs, billed_tokens=billed_all,
        price_per_million=price, estimated_cost=None if price is None or epochs is None else billed_all * price / 1_000_000,
    )


def _stats(histogram: Counter[int], n: int) -> TokenStats | None:
    if n == 0:
        return None
    values = sorted(histogram.items())
    return TokenStats(total=sum(v * c for v, c in values), min=values[0][0], median=_quantile(values, n, 0.5),
                      p95=_quantile(values, n, 0.95), max=values[-1][0])


def _quantile(values: list[tuple[int, int]], n: int, q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default), read from a sorted histogram."""
    position = (n - 1) * q
    low = int(position)
    a, b = _value_at(values, low), _value_at(values, min(low + 1, n - 1))
    return float(a + (b - a) * (position - low))


def _value_at(values: list[tuple[int, int]], index: int) -> int:
    seen = 0
    for value, count in values:
        seen += count
        if seen > index:
            return value
    return values[-1][0]
