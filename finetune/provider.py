"""The fine-tuning provider interface: what the pipeline needs, and nothing about who serves it.

OpenAI's self-serve fine-tuning is closing, so refusals are a normal answer (ProviderRefused), and any
OpenAI-compatible provider can stand behind this interface.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


class ProviderError(Exception):
    """Base of what a provider raises; the message is safe to show to users."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ProviderRefused(ProviderError):
    """A permanent no (bad request, no permission, unknown model): retrying the same thing will not help."""


class ProviderUnavailable(ProviderError):
    """A passing failure (rate limit, server error, network): the same call may succeed later."""


@dataclass(frozen=True)
class ProviderJob:
    id: str
    status: str  # validating_files | queued | running | succeeded | failed | cancelled, or a value new to us
    model: str
    fine_tuned_model: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    trained_tokens: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class FineTuningProvider(Protocol):
    name: str
    accepts_jobs_until: date | None  # the last day the provider takes new jobs, when it has said so

    def upload_training_file(self, filename: str, content: bytes) -> str:
        """Uploads JSONL training data; returns the provider's file id."""
        ...

    def create_job(
        self, *, model: str, training_file: str, suffix: str | None, metadata: dict[str, str]
    ) -> ProviderJob:
        """Creates a job exactly once per call: implementations must not retry this on their own."""
        ...

    def find_job(self, metadata: dict[str, str]) -> ProviderJob | None:
        """The job carrying this metadata, if one exists: how a lost create response is recovered."""
        ...

    def get_job(self, job_id: str) -> ProviderJob:
        ...

    def cancel_job(self, job_id: str) -> ProviderJob:
        ...
