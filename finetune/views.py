"""What the pipeline reports, as plain values: its outcomes, a job as people see it, and the whole status.

bot/ renders these; it never reads the tables. JobView is also the typed payload of every job
notification in the outbox (`as_payload` to write it, `JobNotice.read` to read it back).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from storage.enums import JobState, NotificationKind, Trigger
from storage.models import FineTuneJob
from storage.queries import ActiveModel, ExampleCounts


class Outcome(StrEnum):
    """What one tick, poll step or cancel came to."""

    SUBMITTED = "submitted"
    IN_FLIGHT = "in_flight"
    NOT_ENOUGH = "not_enough"
    PAUSED = "paused"
    UNCHANGED = "unchanged"
    REFUSED = "refused"
    RETRYING = "retrying"
    FAILED = "failed"
    CANCELLED = "cancelled"
    IDLE = "idle"
    BUSY = "busy"


@dataclass(frozen=True)
class TickResult:
    outcome: Outcome
    message: str
    job_id: int | None = None


@dataclass(frozen=True)
class JobView:
    id: int
    state: JobState
    trigger: Trigger
    provider: str
    base_model: str
    example_count: int
    provider_job_id: str | None
    provider_status: str | None
    fine_tuned_model: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    method: str = "sft"
    artifact: str | None = None
    served_where: str | None = None
    progress_step: int | None = None
    progress_total_steps: int | None = None
    progress_epoch: float | None = None
    progress_total_epochs: float | None = None
    progress_loss: float | None = None
    hyperparameters: dict[str, Any] | None = None
    advice: str | None = None  # what to do next, when the backend refused (set on the notice, not stored)

    @classmethod
    def of(cls, job: FineTuneJob) -> JobView:
        return cls(
            id=job.id,
            state=JobState(job.state),
            trigger=Trigger(job.trigger),
            provider=job.provider,
            base_model=job.base_model,
            example_count=job.dataset.example_count,
            provider_job_id=job.provider_job_id,
            provider_status=job.provider_status,
            fine_tuned_model=job.fine_tuned_model,
            error_code=job.error_code,
            error_message=job.error_message,
            attempts=job.attempts,
            created_at=job.created_at,
            submitted_at=job.submitted_at,
            finished_at=job.finished_at,
            method=job.method or "sft",
            artifact=job.artifact,
            served_where=job.served_where,
            progress_step=job.progress_step,
            progress_total_steps=job.progress_total_steps,
            progress_epoch=job.progress_epoch,
            progress_total_epochs=job.progress_total_epochs,
            progress_loss=job.progress_loss,
            hyperparameters=job.hyperparameters,
        )

    @property
    def backend(self) -> str:
        """The backend that trains this job (stored as `provider`)."""
        return self.provider

    @property
    def label(self) -> str:
        """The word people see: the backend's own status while it has the job, else ours."""
        if self.state == JobState.SUBMITTED and self.provider_status:
            return self.provider_status
        return self.state.value

    @property
    def progress(self) -> str | None:
        """'step 40/120 · epoch 1/3 · loss 0.82', from what the backend reported; None when it reported nothing."""
        parts = []
        if self.progress_step is not None:
            total = f"/{self.progress_total_steps}" if self.progress_total_steps else ""
            parts.append(f"step {self.progress_step}{total}")
        if self.progress_epoch is not None:
            total = f"/{_number(self.progress_total_epochs)}" if self.progress_total_epochs else ""
            parts.append(f"epoch {_number(self.progress_epoch)}{total}")
        if self.progress_loss is not None:
            parts.append(f"training loss {self.progress_loss:.3f}")
        return " · ".join(parts) or None

    def as_payload(self) -> dict[str, Any]:
        """JSON-ready, for the notifications outbox."""
        return {
            f.name: (value.isoformat() if isinstance(value, datetime) else value)
            for f in fields(self)
            for value in [getattr(self, f.name)]
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> JobView:
        """Reads back what as_payload wrote (older notes may lack newer keys: they read as None)."""
        def when(key: str) -> datetime | None:
            raw = payload.get(key)
            return datetime.fromisoformat(raw) if isinstance(raw, str) else None

        return cls(
            id=int(payload["id"]),
            state=JobState(payload["state"]),
            trigger=Trigger(payload.get("trigger") or Trigger.SCHEDULE),
            provider=str(payload.get("provider") or ""),
            base_model=str(payload.get("base_model") or ""),
            example_count=int(payload.get("example_count") or 0),
            provider_job_id=payload.get("provider_job_id"),
            provider_status=payload.get("provider_status"),
            fine_tuned_model=payload.get("fine_tuned_model"),
            error_code=payload.get("error_code"),
            error_message=payload.get("error_message"),
            attempts=int(payload.get("attempts") or 0),
            created_at=when("created_at") or datetime.fromtimestamp(0).astimezone(),
            submitted_at=when("submitted_at"),
            finished_at=when("finished_at"),
            method=str(payload.get("method") or "sft"),
            artifact=payload.get("artifact"),
            served_where=payload.get("served_where"),
            progress_step=payload.get("progress_step"),
            progress_total_steps=payload.get("progress_total_steps"),
            progress_epoch=payload.get("progress_epoch"),
            progress_total_epochs=payload.get("progress_total_epochs"),
            progress_loss=payload.get("progress_loss"),
            hyperparameters=payload.get("hyperparameters"),
            advice=payload.get("advice"),
        )


@dataclass(frozen=True)
class JobNotice:
    """One outbox note about a job, as written by the pipeline."""

    kind: NotificationKind
    job: JobView

    def payload(self) -> dict[str, Any]:
        return {"job": self.job.as_payload()}

    @classmethod
    def read(cls, kind: NotificationKind | str, payload: dict[str, Any]) -> JobNotice:
        return cls(NotificationKind(kind), JobView.from_payload(payload["job"]))


@dataclass(frozen=True)
class PipelineStatus:
    active: ActiveModel
    counts: ExampleCounts
    min_examples: int
    last_job: JobView | None
    paused_reason: str | None
    accepts_jobs_until: date | None = None
    backend: str = ""
    base_model: str = ""
    base_model_retires: date | None = None


def _number(value: float | None) -> str:
    return "?" if value is None else (f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}")
