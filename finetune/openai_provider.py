"""FineTuningProvider over the openai SDK: OpenAI itself, or any OpenAI-compatible endpoint (base_url)."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import openai
from openai import OpenAI

from finetune.provider import ProviderError, ProviderJob, ProviderRefused, ProviderUnavailable
from finetune.redaction import redact

TRANSIENT_STATUSES = frozenset({408, 409, 429})
# OpenAI's self-serve fine-tuning is closing: no new jobs after this day (organisations that never
# fine-tuned are refused already). Other OpenAI-compatible endpoints keep their own rules.
OPENAI_LAST_JOB_DAY = date(2027, 1, 6)
OPENAI_HOST = "api.openai.com"


def provider_error(exc: openai.APIError, api_key: str = "") -> ProviderError:
    """Sorts an SDK error into 'try again later' or 'no', keeping the provider's own words (minus any key)."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = redact(str(body.get("message") or exc.message), [api_key])
        code = body.get("code") if isinstance(body.get("code"), str) else None
        status = exc.status_code
        kind = ProviderUnavailable if status in TRANSIENT_STATUSES or status >= 500 else ProviderRefused
        return kind(message, status=status, code=code)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable(f"could not reach the fine-tuning provider: {exc.message}")
    return ProviderUnavailable(str(exc))


def _when(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


def to_provider_job(job: Any) -> ProviderJob:
    error = getattr(job, "error", None)
    return ProviderJob(
        id=job.id,
        status=str(job.status),
        model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        error_code=getattr(error, "code", None) if error else None,
        error_message=getattr(error, "message", None) if error else None,
        trained_tokens=job.trained_tokens,
        created_at=_when(job.created_at),
        finished_at=_when(job.finished_at),
        metadata=dict(job.metadata or {}),
    )


class OpenAIFineTuning:
    """Fine-tuning through the openai client it is given (built once, in bot.services)."""

    name = "openai"

    def __init__(self, client: OpenAI) -> None:
        self._client = client
        self.accepts_jobs_until = OPENAI_LAST_JOB_DAY if client.base_url.host == OPENAI_HOST else None
        # The SDK retries POSTs without an idempotency key; job creation must happen at most once per call.
        self._once = client.with_options(max_retries=0)

    def upload_training_file(self, filename: str, content: bytes) -> str:
        try:
            uploaded = self._client.files.create(file=(filename, content, "application/jsonl"), purpose="fine-tune")
        except openai.APIError as exc:
            raise provider_error(exc, self._client.api_key) from exc
        return uploaded.id

    def create_job(
        self, *, model: str, training_file: str, suffix: str | None, metadata: dict[str, str]
    ) -> ProviderJob:
        kwargs: dict[str, Any] = {"model": model, "training_file": training_file, "metadata": metadata}
        if suffix:
            kwargs["suffix"] = suffix
        try:
            return to_provider_job(self._once.fine_tuning.jobs.create(**kwargs))
        except openai.APIError as exc:
            raise provider_error(exc, self._client.api_key) from exc

    def find_job(self, metadata: dict[str, str]) -> ProviderJob | None:
        try:
            page = self._client.fine_tuning.jobs.list(metadata=metadata, limit=20)
        except openai.APIError as exc:
            raise provider_error(exc, self._client.api_key) from exc
        for job in page.data:
            found = dict(job.metadata or {})
            if all(found.get(key) == value for key, value in metadata.items()):
                return to_provider_job(job)
        return None

    def get_job(self, job_id: str) -> ProviderJob:
        try:
            return to_provider_job(self._client.fine_tuning.jobs.retrieve(job_id))
        except openai.APIError as exc:
            raise provider_error(exc, self._client.api_key) from exc

    def cancel_job(self, job_id: str) -> ProviderJob:
        try:
            return to_provider_job(self._client.fine_tuning.jobs.cancel(job_id))
        except openai.APIError as exc:
            raise provider_error(exc, self._client.api_key) from exc
