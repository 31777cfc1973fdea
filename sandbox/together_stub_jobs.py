"""Fine-tuning jobs and dedicated endpoints for the Together AI stand-in (sandbox.together_stub).

Nothing here stores a status: a job's status, events and metrics, and an endpoint's state, are derived
from when it was created (or cancelled, or stopped), the configured phase durations and the time of the
read. Moving a ManualClock moves them along, with no background threads or sleeps. The wire shapes follow
sandbox/together_api_notes.md (FinetuneResponse, FinetuneResponseTruncated, FineTuneEvent, DedicatedEndpoint).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.openai_stub_jobs import TrainingExample
from sandbox.openai_stub_replies import estimate_tokens

# model -> context length for SFT (https://docs.together.ai/docs/fine-tuning-models). The `-Reference`
# models can be fine-tuned but not deployed on a dedicated endpoint (same page, the warning above the table).
FINE_TUNABLE_MODELS: dict[str, int] = {
    "Qwen/Qwen3-4B": 40960,
    "Qwen/Qwen3-8B": 40960,
    "Qwen/Qwen3-14B": 40960,
    "google/gemma-3-4b-it": 131072,
    "openai/gpt-oss-20b": 24576,
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": 131072,
}
UNDEPLOYABLE_SUFFIX = "-Reference"
MAX_SUFFIX = 40  # together-python's FineTuning.create docstring: "Up to 40 character suffix"
DEFAULT_BATCH_SIZE = 8  # the packed batch size the supported-models table lists for Qwen3-8B
# hardware id -> cents per minute (https://docs.together.ai/docs/dedicated-endpoints/overview: $3.99/h
# for 1x H100, $5.49/h for 1x H200)
HARDWARE: dict[str, float] = {"1x_nvidia_h100_80gb_sxm": 6.65, "1x_nvidia_h200_140gb_sxm": 9.15}
DEFAULT_JOB_ERROR = "Job failed due to an internal error. Please retry the job; contact support if it keeps failing."
CONVERSATION_ROLES = ("system", "user", "assistant", "tool")
FORMAT_KEYS: dict[str, tuple[str, ...]] = {
    "conversation": ("messages",),
    "instruction": ("prompt", "completion"),
    "preference_openai": ("input", "preferred_output", "non_preferred_output"),
    "general": ("text",),
}
METHOD_FORMATS = {"sft": ("conversation", "instruction", "general"), "dpo": ("preference_openai",)}


@dataclass
class TogetherDurations:
    """Seconds in each phase, on the injected clock."""

    pending: float = 5
    queued: float = 10
    running: float = 60
    compressing: float = 10
    uploading: float = 10
    cancelling: float = 5
    endpoint_pending: float = 10
    endpoint_starting: float = 60
    endpoint_stopping: float = 10


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ----- training files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetCheck:
    """A training file read the way Together's file check reads it: its format, size and examples."""

    format: str | None
    n_examples: int
    n_tokens: int
    examples: tuple[TrainingExample, ...] = ()
    problem: str | None = None


def check_dataset(content: bytes) -> DatasetCheck:
    try:
        lines = [line for line in content.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        return DatasetCheck(None, 0, 0, problem="The file is not UTF-8 encoded JSONL.")
    if not lines:
        return DatasetCheck(None, 0, 0, problem="The training file is empty.")
    formats: set[str] = set()
    examples: list[TrainingExample] = []
    for number, line in enumerate(lines, 1):
        parsed = _parse_line(line, number)
        if isinstance(parsed, str):
            return DatasetCheck(None, len(lines), 0, problem=parsed)
        formats.add(parsed[0])
        examples.append(parsed[1])
    if len(formats) > 1:
        return DatasetCheck(None, len(lines), 0, problem=f"Mixed dataset formats in one file: {sorted(formats)}.")
    tokens = sum(estimate_tokens(line) for line in lines)
    return DatasetCheck(formats.pop(), len(lines), tokens, tuple(examples))


def _parse_line(line: str, number: int) -> tuple[str, TrainingExample] | str:
    try:
        record = json.loads(line)
    except ValueError:
        return f"Line {number} is not valid JSON."
    if not isinstance(record, dict):
        return f"Line {number} is not a JSON object."
    found = [name for name, keys in FORMAT_KEYS.items() if all(key in record for key in keys)]
    if len(found) != 1:
        return (f"Line {number}: could not detect the dataset format (found fields {sorted(record)}); expected one of "
                f"{[list(keys) for keys in FORMAT_KEYS.values()]}.")
    kind = found[0]
    if kind == "conversation":
        return _conversation(record["messages"], number)
    if kind == "preference_openai":
        return _preference(record, number)
    if kind == "instruction":
        return kind, TrainingExample(user=str(record["prompt"]), assistant=str(record["completion"]))
    return kind, TrainingExample(user="", assistant=str(record["text"]))


def _conversation(messages: object, number: int, kind: str = "conversation") -> tuple[str, TrainingExample] | str:
    if not isinstance(messages, list) or not messages:
        return f"Line {number}: 'messages' must be a non-empty list."
    for index, message in enumerate(messages, 1):
        if not isinstance(message, dict) or message.get("role") not in CONVERSATION_ROLES:
            return f"Line {number}, message {index}: role must be one of {list(CONVERSATION_ROLES)}."
        if not isinstance(message.get("content"), str):
            return f"Line {number}, message {index}: 'content' must be a string."
        if "weight" in message and message["weight"] not in (0, 1):
            return f"Line {number}, message {index}: 'weight' must be 0 or 1."
    if messages[0]["role"] not in ("system", "user"):
        return f"Line {number}: a conversation must start with a system or user message."
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if kind == "conversation" and not assistants:
        return f"Line {number}: the conversation has no assistant message to train on."
    last = assistants[-1] if assistants else len(messages)
    users = [m["content"] for m in messages[:last] if m["role"] == "user"]
    reply = messages[last]["content"] if assistants else ""
    return kind, TrainingExample(user=users[-1] if users else "", assistant=reply)


def _preference(record: dict[str, Any], number: int) -> tuple[str, TrainingExample] | str:
    source = record["input"]
    prompt = _conversation(source.get("messages") if isinstance(source, dict) else None, number, "preference_openai")
    if isinstance(prompt, str):
        return prompt
    for key in ("preferred_output", "non_preferred_output"):
        output = record[key]
        if not (isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict)
                and output[0].get("role") == "assistant" and isinstance(output[0].get("content"), str)):
            return f"Line {number}: '{key}' must hold exactly one assistant message."
    return "preference_openai", TrainingExample(user=prompt[1].user, assistant=record["preferred_output"][0]["content"])


# ----- jobs ----------------------------------------------------------------------------------------


@dataclass
class JobRecord:
    id: str
    created: float
    user_id: str
    model: str
    training_file: str
    output_name: str
    method: str
    n_epochs: int
    batch_size: int
    check: DatasetCheck
    durations: TogetherDurations
    params: dict[str, Any] = field(default_factory=dict)  # what the request set, echoed back
    suffix: str | None = None
    validation_file: str | None = None
    error_message: str | None = None  # set: the job ends in `error` when training ends
    cancelled_at: float | None = None

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.check.n_examples / self.batch_size))

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.n_epochs

    def _phases(self) -> list[tuple[float, str]]:
        d, t = self.durations, self.created
        phases = [(t, "pending"), (t + d.pending, "queued"), (t + d.pending + d.queued, "running")]
        training_end = phases[-1][0] + d.running
        if self.error_message is not None:
            phases.append((training_end, "error"))
        else:
            phases += [(training_end, "compressing"), (training_end + d.compressing, "uploading"),
                       (training_end + d.compressing + d.uploading, "completed")]
        if self.cancelled_at is not None:
            phases = [p for p in phases if p[0] < self.cancelled_at]
            phases += [(self.cancelled_at, "cancel_requested"), (self.cancelled_at + d.cancelling, "cancelled")]
        return phases

    def _reached(self, t: float) -> list[tuple[float, str]]:
        return [p for p in self._phases() if p[0] <= t] or self._phases()[:1]

    def status_at(self, t: float) -> str:
        return self._reached(t)[-1][1]

    def is_terminal(self, t: float) -> bool:
        return self.status_at(t) in ("completed", "error", "cancelled")

    def _started(self) -> float:
        return self.created + self.durations.pending + self.durations.queued

    def _training_fraction(self, t: float) -> float:
        end = t if self.cancelled_at is None else min(t, self.cancelled_at)
        return min(1.0, max(0.0, (end - self._started()) / self.durations.running))

    def step_at(self, t: float) -> int:
        return math.floor(self.total_steps * self._training_fraction(t))

    def epochs_at(self, t: float) -> int:
        return math.floor(self.n_epochs * self._training_fraction(t))

    def events(self, t: float) -> list[dict[str, Any]]:
        """FineTuneEvent objects for what has happened by `t`, oldest first."""
        happened: list[tuple[float, str, str, str]] = [(self.created, "job_pending", "info", "Fine tune request created")]
        for when, status in self._reached(t)[1:]:
            happened += self._phase_events(when, status)
        for epoch in range(1, self.epochs_at(t) + 1):
            when = self._started() + self.durations.running * epoch / self.n_epochs
            if when <= t and (self.cancelled_at is None or when < self.cancelled_at):
                happened.append((when, "epoch_complete", "info", f"Epoch completed, at step {epoch * self.steps_per_epoch}"))
        happened.sort(key=lambda event: (event[0], event[1] != "epoch_complete"))
        return [self._event(when, kind, level, message, t) for when, kind, level, message in happened]

    def _phase_events(self, when: float, status: str) -> list[tuple[float, str, str, str]]:
        texts = {
            "queued": [("job_pending", "info", "Job queued; waiting for free hardware")],
            "running": [("job_start", "info", f"Job started at {iso(when)}"),
                        ("model_downloading", "info", f"Model data downloaded for {self.model}"),
                        ("training_start", "info", f"Training started for model {self.model}")],
            "compressing": [("training_complete", "info", f"Training completed for {self.model}"),
                            ("model_compressing", "info", f"Compressing output model for {self.output_name}")],
            "uploading": [("model_uploading", "info", f"Uploading output model {self.output_name}")],
            "completed": [("job_complete", "info", f"Job finished at {iso(when)}")],
            "error": [("job_error", "error", self.error_message or DEFAULT_JOB_ERROR)],
            "cancel_requested": [("cancel_requested", "info", "Job cancellation requested")],
            "cancelled": [("job_stopped", "info", "Job was cancelled")],
        }
        return [(when, kind, level, message) for kind, level, message in texts.get(status, [])]

    def _event(self, when: float, kind: str, level: str, message: str, now: float) -> dict[str, Any]:
        step = self.step_at(when) if when >= self._started() else 0
        return {"object": "fine-tune-event", "created_at": iso(when), "level": level, "message": message,
                "type": kind, "param_count": 0, "token_count": self.check.n_tokens if kind == "training_start" else 0,
                "total_steps": self.total_steps, "wandb_url": "", "step": step, "checkpoint_path": "",
                "model_path": "", "training_offset": 0, "hash": ""}

    def metrics(self, t: float) -> list[dict[str, float]]:
        """What GET /fine-tunes/{id}/metrics answers: one snapshot per logged step, oldest first."""
        return [{"train/loss": round(0.4 + 1.6 * 0.8 ** step, 4), "train/learning_rate": self.params.get("learning_rate", 1e-5),
                 "train/global_step": step, "train/epoch": round(step / self.steps_per_epoch, 3)}
                for step in range(1, self.step_at(t) + 1)]

    def truncated(self, t: float) -> dict[str, Any]:
        """FinetuneResponseTruncated: what create, list and cancel answer (no events)."""
        reached = self._reached(t)
        status = reached[-1][1]
        running_since = [when for when, phase in reached if phase == "running"]
        shown: dict[str, Any] = {
            "id": self.id, "status": status, "created_at": iso(self.created), "updated_at": iso(reached[-1][0]),
            "started_at": iso(running_since[0]) if running_since else None, "user_id": self.user_id,
            "owner_address": f"{self.user_id}@example.com", "total_price": 0, "token_count": self.check.n_tokens * self.n_epochs,
            "events": [], "training_file": self.training_file, "validation_file": self.validation_file or "",
            "model": self.model, "model_output_name": self.output_name, "suffix": self.suffix or "",
            "n_epochs": self.n_epochs, "n_evals": self.params.get("n_evals", 0),
            "n_checkpoints": self.params.get("n_checkpoints", 1), "batch_size": self.batch_size,
            "training_type": self.params.get("training_type") or {"type": "Lora", "lora_r": 64, "lora_alpha": 128,
                                                                  "lora_dropout": 0.0, "lora_trainable_modules": "all-linear"},
            "training_method": self._training_method(), "learning_rate": self.params.get("learning_rate", 1e-5),
            "warmup_ratio": self.params.get("warmup_ratio", 0.0), "max_grad_norm": self.params.get("max_grad_norm", 1.0),
            "weight_decay": self.params.get("weight_decay", 0.0), "random_seed": self.params.get("random_seed"),
            "progress": self._progress(t, status),
        }
        return shown

    def full(self, t: float) -> dict[str, Any]:
        """FinetuneResponse: what GET /fine-tunes/{id} answers, events included."""
        shown = self.truncated(t)
        shown.update({"events": self.events(t), "job_id": self.id, "epochs_completed": self.epochs_at(t),
                      "trainingfile_numlines": self.check.n_examples, "queue_depth": 0, "param_count": 0,
                      "eval_steps": 0, "wandb_project_name": "", "wandb_url": "",
                      "model_output_path": f"s3://together-finetunes/{self.id}/"})
        return shown

    def _training_method(self) -> dict[str, Any]:
        given = self.params.get("training_method")
        if isinstance(given, dict):
            return given
        return {"method": "sft", "train_on_inputs": "auto"} if self.method == "sft" else {"method": "dpo", "dpo_beta": 0.1}

    def _progress(self, t: float, status: str) -> dict[str, Any]:
        upcoming = [when for when, _ in self._phases() if when > t]
        return {"estimate_available": bool(upcoming) and status not in ("cancel_requested",),
                "seconds_remaining": int(upcoming[0] - t) if upcoming else 0}


# ----- dedicated endpoints -------------------------------------------------------------------------


@dataclass
class EndpointRecord:
    id: str
    name: str
    display_name: str
    model: str
    hardware: str
    owner: str
    created: float
    durations: TogetherDurations
    autoscaling: dict[str, int]
    inactive_timeout: int | None = None
    started_at: float = 0.0  # when it was (last) asked to start
    stopped_at: float | None = None  # when it was asked to stop
    fails: bool = False  # set: it ends in ERROR instead of STARTED

    def state_at(self, t: float) -> str:
        d = self.durations
        if self.stopped_at is not None and t >= self.stopped_at:
            return "STOPPING" if t < self.stopped_at + d.endpoint_stopping else "STOPPED"
        if t < self.started_at + d.endpoint_pending:
            return "PENDING"
        if t < self.started_at + d.endpoint_pending + d.endpoint_starting:
            return "STARTING"
        return "ERROR" if self.fails else "STARTED"

    def to_dict(self, t: float) -> dict[str, Any]:
        return {"object": "endpoint", "id": self.id, "name": self.name, "display_name": self.display_name,
                "model": self.model, "hardware": self.hardware, "type": "dedicated", "owner": self.owner,
                "state": self.state_at(t), "autoscaling": dict(self.autoscaling), "created_at": iso(self.created),
                "inactive_timeout": self.inactive_timeout}

    def listed(self, t: float) -> dict[str, Any]:
        """ListEndpoint: what GET /endpoints shows of it."""
        return {key: value for key, value in self.to_dict(t).items()
                if key in ("object", "id", "name", "model", "type", "owner", "state", "created_at")}


def hardware_object(hardware_id: str, t: float) -> dict[str, Any]:
    count, gpu = hardware_id.split("x_", 1)
    gpu_type = gpu.removeprefix("nvidia_").rsplit("_", 1)[0].replace("_", "-")
    memory = 140 if "h200" in hardware_id else 80
    return {"object": "hardware", "id": hardware_id, "pricing": {"cents_per_minute": HARDWARE[hardware_id]},
            "specs": {"gpu_type": gpu_type, "gpu_link": "sxm", "gpu_memory": memory, "gpu_count": int(count)},
            "availability": {"status": "available"}, "updated_at": iso(t)}
