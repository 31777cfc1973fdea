"""The fine-tuning backend seam: what every backend gives the pipeline, and nothing about who trains.

A backend trains (stage a file, submit a run under an idempotency key, find it by that key, read it,
cancel it, delete the file once spent) and deploys (turn a trained artifact into a model name chat completions accept). OpenAI,
Together AI and the self-hosted LoRA backend each implement it in one module of finetune.backends;
tests/support/fake_backend.py is the in-memory one the contract suite also runs against.

Errors are the product's: BackendRefused (a permanent no), BackendUnavailable (a passing failure) and
NoSuchRun (the backend does not know the run). Messages are safe to show to people: no keys in them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol


class BackendError(Exception):
    """Base of what a backend raises; `message` is safe to show in Slack and logs."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class BackendRefused(BackendError):
    """A permanent no (bad request, no permission, unknown model): retrying the same call will not help."""


class BackendUnavailable(BackendError):
    """A passing failure (rate limit, server error, network): the same call may succeed later."""


class NoSuchRun(BackendRefused):
    """The backend does not know this run (deleted, or another account's): distinct from a refusal to read it."""


class Method(StrEnum):
    """How a run trains: on approved answers (supervised), or on preference pairs (dpo)."""

    SFT = "sft"
    DPO = "dpo"


METHOD_SETTING = {Method.SFT: "supervised", Method.DPO: "dpo"}  # FINETUNE_METHOD's words for each method


def method_unsupported(backend: str, method: Method) -> str:
    """Said at start-up and by a run: the backend's capabilities lack the method FINETUNE_METHOD asks for."""
    return (f"The {backend} backend cannot train with FINETUNE_METHOD={METHOD_SETTING[method]}: set "
            "FINETUNE_METHOD=supervised, or choose a backend that offers it.")


class RunStatus(StrEnum):
    """A run's status, the same words whichever backend trains. UNKNOWN is never terminal."""

    QUEUED = "queued"
    VALIDATING = "validating"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


@dataclass(frozen=True)
class Progress:
    """How far a run has come, where the backend reports it; any part may be unknown."""

    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    total_epochs: float | None = None
    loss: float | None = None


@dataclass(frozen=True)
class TrainingRun:
    """One run as the backend reports it, normalized. `artifact` is what deploy() takes, once trained."""

    id: str
    status: RunStatus
    raw_status: str  # the backend's own word, for people and logs
    key: str | None = None
    artifact: str | None = None
    progress: Progress = field(default_factory=Progress)
    error_code: str | None = None
    error_message: str | None = None
    trained_tokens: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class TrainingEvent:
    at: datetime | None
    message: str
    level: str = "info"


@dataclass(frozen=True)
class TrainingRequest:
    """What submit() needs. `key` is ours and unique per job: a lost answer is found again by it."""

    key: str
    base_model: str
    training_file: str
    method: Method = Method.SFT
    suffix: str | None = None
    validation_file: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    """A deploy's answer: the name to send as `model`, whether it answers yet, and where it is served."""

    model: str
    ready: bool
    where: str
    detail: str | None = None  # why it is not ready yet, in plain words


@dataclass(frozen=True)
class Capabilities:
    """The backend's rules, which the pipeline and the validator follow rather than OpenAI's."""

    min_examples: int
    max_example_tokens: int
    methods: frozenset[Method] = frozenset({Method.SFT})
    honours_weight: bool = True
    accepts_jobs_until: date | None = None  # the last day it takes new runs, when it has said so
    retirements: dict[str, date] = field(default_factory=dict)  # base model -> the day it stops serving
    # the serving end forgets deployed models when it restarts (vLLM drops runtime-loaded adapters): a
    # "model not found" then means "deploy it again", not "it was retired"
    serving_forgets: bool = False

    def retires(self, base_model: str) -> date | None:
        return self.retirements.get(base_model)


class Trainer(Protocol):
    """Training at one backend. No call here retries a creation on its own: the pipeline decides."""

    def write_training_file(self, jsonl: str, method: Method) -> bytes:
        """Our chat JSONL (OpenAI's format, per-message weights included) as this backend reads it."""
        ...

    def stage(self, filename: str, content: bytes) -> str:
        """Makes the training file available to the backend; returns its reference for submit()."""
        ...

    def submit(self, request: TrainingRequest) -> TrainingRun:
        """Starts one run; at most one per call, and at most one per key where the backend enforces keys."""
        ...

    def find(self, key: str) -> TrainingRun | None:
        """The run submitted under `key`, if any: how a lost answer to submit() is recovered."""
        ...

    def get(self, run_id: str) -> TrainingRun:
        """Raises NoSuchRun when the backend does not know `run_id`."""
        ...

    def events(self, run_id: str, limit: int = 20) -> list[TrainingEvent]:
        ...

    def cancel(self, run_id: str) -> TrainingRun:
        ...

    def delete_file(self, file_id: str) -> None:
        """Deletes a staged training file once its job no longer needs it (the job ended, or was given up
        before its run was created). A file the backend does not have (any more) counts as deleted."""
        ...


class Deployer(Protocol):
    """Turns a trained artifact into a served model. deploy() is idempotent: call it until ready."""

    def deploy(self, artifact: str) -> Deployment:
        ...

    def undeploy(self, model: str) -> None:
        ...


@dataclass(frozen=True)
class Backend:
    """One backend as the pipeline sees it: its name (recorded on each job), its rules, its two halves."""

    name: str
    capabilities: Capabilities
    trainer: Trainer
    deployer: Deployer
    how_to_switch: str = ""  # what to do when it refuses to train (shown once, with the refusal)
