"""Fine-tuning jobs for the OpenAI stub: training-file checks, hyperparameters and a clock-driven lifecycle.

A job's status is never stored: it is derived from the time it was created, the configured phase
durations and the time of the read. That lets tests move a `ManualClock` and see the job progress
without background threads or sleeps.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.openai_stub_errors import ApiError, invalid_type, invalid_value, string_too_long

# alias or snapshot -> the snapshot OpenAI reports on the job (as the real API does for aliases)
FINE_TUNABLE_MODELS: dict[str, str] = {
    "gpt-4.1-2025-04-14": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14": "gpt-4.1-nano-2025-04-14",
    "gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "gpt-3.5-turbo-0125": "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
}
TRAINING_ROLES = ("system", "user", "assistant", "tool")
METHODS = ("supervised", "dpo")
PREFERENCE_KEYS = ("input", "preferred_output", "non_preferred_output")
# the models OpenAI's DPO guide lists (developers.openai.com/api/docs/guides/direct-preference-optimization)
DPO_MODELS = frozenset({"gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano-2025-04-14",
                        "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"})
MIN_TRAINING_EXAMPLES = 10
MAX_SUFFIX = 64
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
TERMINAL = ("succeeded", "failed", "cancelled")
_ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class JobDurations:
    """Seconds spent in each phase, measured on the injected clock."""

    validating_files: float = 5
    queued: float = 5
    running: float = 20


@dataclass(frozen=True)
class TrainingExample:
    """One conversation reduced to what the fine-tuned model imitates: the prompt and the reply."""

    user: str
    assistant: str


@dataclass(frozen=True)
class TrainingCheck:
    """The outcome of reading a training (or validation) file the way OpenAI validates it."""

    n_examples: int
    word_count: int
    examples: tuple[TrainingExample, ...]
    problem: str | None  # None when the file is usable


def check_training_file(content: bytes, *, min_examples: int = MIN_TRAINING_EXAMPLES,
                        method: str = "supervised") -> TrainingCheck:
    """Validates chat-format JSONL (preference JSONL for method "dpo"); the first problem found is reported, like
    OpenAI does."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return TrainingCheck(0, 0, (), "Invalid file format. The file must be UTF-8 encoded JSONL.")
    words = len(text.split())
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    examples: list[TrainingExample] = []
    parse = _parse_preference if method == "dpo" else _parse_example
    for number, line in lines:
        example = parse(line, number)
        if isinstance(example, str):
            return TrainingCheck(len(lines), words, (), example)
        examples.append(example)
    if len(examples) < min_examples:
        return TrainingCheck(len(examples), words, tuple(examples),
                             f"Training file has {len(examples)} example(s), but must have at least "
                             f"{min_examples} examples")
    return TrainingCheck(len(examples), words, tuple(examples), None)


def _parse_example(line: str, number: int) -> TrainingExample | str:
    """One JSONL line -> example, or the problem text for that line."""
    try:
        record = json.loads(line)
    except ValueError:
        return f"Invalid file format. Line {number}: the line is not valid JSON."
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        return f'Invalid file format. Line {number}, key "messages": expected a non-empty list of messages.'
    for index, message in enumerate(messages, 1):
        problem = _message_problem(message)
        if problem:
            return f"Invalid file format. Line {number}, message {index}: {problem}"
    if not any(m["role"] == "assistant" for m in messages):
        return f"Invalid file format. Line {number}: each example must contain at least one assistant message."
    return _example_from(messages)


def _parse_preference(line: str, number: int) -> TrainingExample | str:
    """One DPO line: {"input": {"messages": [...]}, "preferred_output": [assistant], "non_preferred_output": [assistant]}."""
    try:
        record = json.loads(line)
    except ValueError:
        return f"Invalid file format. Line {number}: the line is not valid JSON."
    if not isinstance(record, dict):
        return f"Invalid file format. Line {number}: each line must be a JSON object."
    missing = [key for key in PREFERENCE_KEYS if key not in record]
    if missing:
        return f"Invalid file format. Line {number}: missing required key(s) {', '.join(missing)} for a DPO example."
    inputs = record["input"]
    messages = inputs.get("messages") if isinstance(inputs, dict) else None
    if not isinstance(messages, list) or not messages:
        return f'Invalid file format. Line {number}, key "input.messages": expected a non-empty list of messages.'
    for index, message in enumerate(messages, 1):
        problem = _message_problem(message)
        if problem:
            return f"Invalid file format. Line {number}, input message {index}: {problem}"
    outputs = []
    for key in PREFERENCE_KEYS[1:]:
        output = record[key]
        if (not isinstance(output, list) or len(output) != 1 or not isinstance(output[0], dict)
                or output[0].get("role") != "assistant" or not isinstance(output[0].get("content"), str)):
            return f'Invalid file format. Line {number}, key "{key}": expected exactly one assistant message with content.'
        outputs.append(output[0]["content"])
    users = [m for m in messages if m["role"] == "user"]
    return TrainingExample(user=users[-1]["content"] if users else "", assistant=outputs[0])


def _message_problem(message: object) -> str | None:
    if not isinstance(message, dict):
        return "each message must be an object with 'role' and 'content'."
    role = message.get("role")
    if role not in TRAINING_ROLES:
        return f'Unrecognized role "{role}". Expected one of {", ".join(TRAINING_ROLES)}.'
    content = message.get("content")
    calls_a_tool = bool(message.get("tool_calls") or message.get("function_call"))
    if not isinstance(content, str) and not (role == "assistant" and content is None and calls_a_tool):
        return "'content' must be a string."
    return None


def _example_from(messages: list[dict[str, Any]]) -> TrainingExample:
    """The last assistant reply and the user message it answered."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    users = [m for m in messages[:last] if m["role"] == "user"]
    return TrainingExample(user=users[-1]["content"] if users else "", assistant=messages[last].get("content") or "")


def auto_n_epochs(n_examples: int) -> int:
    """OpenAI's published default: aim for 100..25000 example visits, 3 epochs otherwise."""
    n = max(1, n_examples)
    if n * 3 < 100:
        return min(25, 100 // n)
    if n * 3 > 25000:
        return max(1, 25000 // n)
    return 3


def auto_batch_size(n_examples: int) -> int:
    return max(1, min(256, round(n_examples * 0.002)))


def auto_learning_rate_multiplier(model: str) -> float:
    return 2.0 if model.startswith("gpt-3.5") else 1.8


def method_type(body: dict[str, Any]) -> str:
    """The job's method: "supervised" (also when absent) or "dpo"; this sandbox trains no other."""
    method = body.get("method")
    if method is None:
        return "supervised"
    if not isinstance(method, dict):
        raise invalid_type("method", "an object", method)
    kind = method.get("type")
    if kind not in METHODS:
        raise invalid_value("method.type", f"Invalid value: '{kind}'. This sandbox supports the 'supervised' and "
                                           "'dpo' fine-tuning methods.")
    return str(kind)


def parse_hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
    """Requested values ("auto" when absent), from `method.<type>` or the deprecated top-level field (supervised only)."""
    kind = method_type(body)
    method = body.get("method")
    nested: object = None
    if isinstance(method, dict):
        settings = method.get(kind)
        nested = settings.get("hyperparameters") if isinstance(settings, dict) else None
    top = body.get("hyperparameters")
    if kind == "dpo" and top is not None:
        raise invalid_value("hyperparameters", "The top-level 'hyperparameters' are for supervised jobs only; give a DPO "
                                               "job's in method.dpo.hyperparameters.")
    requested = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    if kind == "dpo":
        requested["beta"] = "auto"
    for source, prefix in ((top, "hyperparameters"), (nested, f"method.{kind}.hyperparameters")):
        if source is None:
            continue
        if not isinstance(source, dict):
            raise invalid_type(prefix, "an object", source)
        for key in requested:
            if key in source and source[key] is not None:
                requested[key] = _checked_hyperparameter(f"{prefix}.{key}", key, source[key])
    return requested


_HP_LIMITS: dict[str, tuple[float, float, bool]] = {  # name -> (min, max, integer?)
    "n_epochs": (1, 50, True),
    "batch_size": (1, 256, True),
    "learning_rate_multiplier": (0.0, 10.0, False),
    "beta": (0.0, 2.0, False),
}


def _checked_hyperparameter(param: str, key: str, value: object) -> object:
    if value == "auto":
        return value
    low, high, integer = _HP_LIMITS[key]
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (integer and not float(value).is_integer()):  # type: ignore[arg-type]
        raise invalid_type(param, "'auto' or an integer" if integer else "'auto' or a number", value)
    if not low <= value <= high or (not integer and value <= 0):  # type: ignore[operator]
        raise invalid_value(param, f"Invalid '{param}': {value} is out of range. Expected a value between "
                                   f"{low:g} and {high:g}.")
    return int(value) if integer else float(value)  # type: ignore[arg-type]


def check_suffix(suffix: object) -> str | None:
    if suffix is None or suffix == "":
        return None
    if not isinstance(suffix, str):
        raise invalid_type("suffix", "a string", suffix)
    if len(suffix) > MAX_SUFFIX:
        raise string_too_long("suffix", MAX_SUFFIX, len(suffix))
    return suffix


def check_metadata(metadata: object) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise invalid_type("metadata", "an object", metadata)
    if len(metadata) > MAX_METADATA_PAIRS:
        raise ApiError(400, f"Invalid 'metadata': too many properties. Expected an object with at most "
                            f"{MAX_METADATA_PAIRS} properties, but got an object with {len(metadata)} properties "
                            "instead.", param="metadata", code="object_above_max_properties")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            raise string_too_long("metadata", MAX_METADATA_KEY, len(key))
        if not isinstance(value, str):
            raise invalid_type(f"metadata.{key}", "a string", value)
        if len(value) > MAX_METADATA_VALUE:
            raise string_too_long(f"metadata.{key}", MAX_METADATA_VALUE, len(value))
    return dict(metadata)


def stable_id(prefix: str, seed: str, length: int) -> str:
    """A random-looking id derived from `seed`, so it is the same on every run."""
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(_ALPHANUM[b % len(_ALPHANUM)] for b in digest[:length])


@dataclass
class JobRecord:
    """Everything about a job that is fixed at creation; the rest is derived from a time `t`."""

    id: str
    created: float
    model: str
    organization: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    metadata: dict[str, str] | None
    seed: int
    requested: dict[str, Any]
    resolved: dict[str, Any]
    durations: JobDurations
    examples: tuple[TrainingExample, ...]
    trained_tokens: int
    fine_tuned_model: str
    result_file: str
    validation_error: dict[str, Any] | None = None  # fails when validation ends
    training_error: dict[str, Any] | None = None  # fails when running ends
    cancelled_at: float | None = None
    results_published: bool = field(default=False)
    method: str = "supervised"  # "supervised" or "dpo"

    def transitions(self) -> list[tuple[float, str]]:
        """(time, status) for each phase the job enters, ignoring cancellation."""
        v, q, r = self.durations.validating_files, self.durations.queued, self.durations.running
        start = self.created
        if self.validation_error:
            return [(start, "validating_files"), (start + v, "failed")]
        end_status = "failed" if self.training_error else "succeeded"
        return [(start, "validating_files"), (start + v, "queued"), (start + v + q, "running"),
                (start + v + q + r, end_status)]

    def _reached(self, t: float) -> list[tuple[float, str]]:
        """The transitions that have happened by `t`, with the cancellation cutting the list short."""
        reached = [(when, status) for when, status in self.transitions() if when <= t]
        if self.cancelled_at is not None and self.cancelled_at <= t:
            reached = [(when, status) for when, status in reached if when <= self.cancelled_at]
            reached.append((self.cancelled_at, "cancelled"))
        return reached

    def status_at(self, t: float) -> str:
        return self._reached(t)[-1][1]

    def is_terminal(self, t: float) -> bool:
        return self.status_at(t) in TERMINAL

    def _has_run(self, t: float) -> bool:
        return any(status == "running" for _, status in self._reached(t))

    def to_dict(self, t: float) -> dict[str, Any]:
        """The FineTuningJob object as the API shows it at time `t`."""
        reached = self._reached(t)
        when, status = reached[-1]
        hyperparameters = dict(self.resolved if self._has_run(t) else self.requested)
        succeeded = status == "succeeded"
        end = self.transitions()[-1][0]
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": int(self.created),
            "finished_at": int(when) if status in TERMINAL else None,
            "fine_tuned_model": self.fine_tuned_model if succeeded else None,
            "organization_id": self.organization,
            "result_files": [self.result_file] if succeeded else [],
            "status": status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": hyperparameters,
            "trained_tokens": self.trained_tokens if succeeded else None,
            "error": self._error(status),
            "user_provided_suffix": self.suffix,
            "seed": self.seed,
            "estimated_finish": int(math.ceil(end)) if status in ("queued", "running") else None,
            "integrations": [],
            "metadata": dict(self.metadata) if self.metadata is not None else None,
            "method": {"type": self.method, self.method: {"hyperparameters": dict(hyperparameters)}},
        }

    def _error(self, status: str) -> dict[str, Any] | None:
        if status != "failed":
            return None
        return dict(self.validation_error or self.training_error or {})

    def events(self, t: float) -> list[dict[str, Any]]:
        """One FineTuningJobEvent per phase transition reached by `t`, newest first."""
        events = [self._event(index, when, status) for index, (when, status) in enumerate(self._reached(t))]
        return list(reversed(events))

    def _event(self, index: int, when: float, status: str) -> dict[str, Any]:
        level, message = self._event_text(status)
        return {"object": "fine_tuning.job.event", "id": stable_id("ftevent-", f"{self.id}:{index}", 24),
                "created_at": int(when), "level": level, "message": message, "data": {}, "type": "message"}

    def _event_text(self, status: str) -> tuple[str, str]:
        if status == "validating_files":
            return "info", f"Validating training file: {self.training_file}"
        if status == "queued":
            return "info", "Files validated, moving job to queued state"
        if status == "running":
            return "info", "Fine-tuning job started"
        if status == "succeeded":
            return "info", f"The job has successfully completed. New fine-tuned model: {self.fine_tuned_model}"
        if status == "failed":
            return "error", str((self.validation_error or self.training_error or {}).get("message", "The job failed"))
        return "info", "Fine-tuning job cancelled"

    def to_state(self) -> dict[str, Any]:
        """Plain JSON for the sandbox's saved state: everything the job's answers are derived from."""
        state = asdict(self)
        state["examples"] = [[example.user, example.assistant] for example in self.examples]
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JobRecord:
        """The inverse of to_state; KeyError/TypeError/ValueError when the state is not one of ours."""
        fields = dict(state)
        fields["durations"] = JobDurations(**fields["durations"])
        fields["examples"] = tuple(TrainingExample(str(user), str(assistant)) for user, assistant in fields["examples"])
        return cls(**fields)

    def results_csv(self) -> bytes:
        """A plausible step_metrics.csv, the file OpenAI attaches to a succeeded job."""
        steps = max(1, self.resolved["n_epochs"] * math.ceil(len(self.examples) / self.resolved["batch_size"]))
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for step in range(1, min(steps, 200) + 1):
            loss = 2.0 / (1 + step / 10)
            rows.append(f"{step},{loss:.5f},{min(0.99, 0.5 + step / (2 * steps)):.5f},,")
        return ("\n".join(rows) + "\n").encode()
