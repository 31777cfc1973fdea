"""The OpenAI backend: fine-tuning and serving through the openai SDK (OpenAI, or any compatible endpoint).

OpenAI's self-serve fine-tuning is closing: organisations that never fine-tuned are refused (403,
`training_not_available`) and no new jobs are taken after OPENAI_LAST_JOB_DAY. Its rules (the minimum
file, the per-example limit, the retirement of base models) live here, not in the pipeline.
Deploying is immediate: a succeeded job's fine-tuned model answers at once under its own name.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import openai
from openai import OpenAI

from finetune.backend import (
    Backend,
    BackendError,
    BackendRefused,
    BackendUnavailable,
    Capabilities,
    Deployment,
    Method,
    NoSuchRun,
    Progress,
    RunStatus,
    TrainingEvent,
    TrainingRequest,
    TrainingRun,
)
from finetune.redaction import redact

NAME = "openai"
TRANSIENT_STATUSES = frozenset({408, 409, 429})
OPENAI_LAST_JOB_DAY = date(2027, 1, 6)
OPENAI_HOST = "api.openai.com"
OPENAI_MIN_EXAMPLES = 10  # the fewest examples OpenAI accepts in a training file
OPENAI_MAX_EXAMPLE_TOKENS = 65_536  # per-example context limit of the gpt-4.1 family
KEY_METADATA = "finetune_bot_key"
REFUSED_CODE = "training_not_available"
HOW_TO_SWITCH = (
    "OpenAI no longer takes fine-tuning jobs from this organisation. Set FINETUNE_BACKEND=local (your own GPU, "
    "served by vLLM) or FINETUNE_BACKEND=together (Together AI): see “Fine-tuning backends” in the README."
)
# OpenAI's deprecations page (developers.openai.com/api/docs/deprecations, read 2026-12-02): these
# snapshots, and every fine-tuned model built on them, shut down on the day given.
RETIREMENTS: dict[str, date] = {
    **dict.fromkeys(
        ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14",
         "gpt-4.1-mini-2025-04-14"),
        date(2027, 1, 14),
    ),
    **dict.fromkeys(
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125", "gpt-4-0613", "gpt-4o-2024-05-13", "gpt-4.1-nano-2025-04-14"),
        date(2026, 10, 23),
    ),
}
STATUSES = {
    "validating_files": RunStatus.VALIDATING,
    "queued": RunStatus.QUEUED,
    "running": RunStatus.RUNNING,
    "paused": RunStatus.PAUSED,
    "succeeded": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "cancelled": RunStatus.CANCELLED,
}


def backend_error(exc: openai.APIError, api_key: str = "") -> BackendError:
    """Sorts an SDK error into 'try again later' or 'no', keeping OpenAI's own words (minus any key)."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = redact(str(body.get("message") or exc.message), [api_key])
        code = body.get("code") if isinstance(body.get("code"), str) else None
        status = exc.status_code
        if status == 404:
            return NoSuchRun(message, status=status, code=code)
        kind = BackendUnavailable if status in TRANSIENT_STATUSES or status >= 500 else BackendRefused
        return kind(message, status=status, code=code)
    if isinstance(exc, openai.APIConnectionError):
        return BackendUnavailable(f"could not reach the fine-tuning API: {exc.message}")
    return BackendUnavailable(str(exc))


def _when(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


def to_run(job: Any) -> TrainingRun:
    error = getattr(job, "error", None)
    raw = str(job.status)
    hyper = getattr(job, "hyperparameters", None)
    epochs = getattr(hyper, "n_epochs", None) if hyper is not None else None
    return TrainingRun(
        id=job.id,
        status=STATUSES.get(raw, RunStatus.UNKNOWN),
        raw_status=raw,
        key=(job.metadata or {}).get(KEY_METADATA),
        artifact=job.fine_tuned_model,
        progress=Progress(total_epochs=float(epochs) if isinstance(epochs, int) else None),
        error_code=getattr(error, "code", None) if error else None,
        error_message=getattr(error, "message", None) if error else None,
        trained_tokens=job.trained_tokens,
        created_at=_when(job.created_at),
        finished_at=_when(job.finished_at),
    )


class OpenAITrainer:
    """Fine-tuning through the openai client it is given (built once, in bot.services)."""

    def __init__(self, client: OpenAI) -> None:
        self._client = client
        # The SDK retries POSTs without an idempotency key; job creation must happen at most once per call.
        self._once = client.with_options(max_retries=0)

    def _error(self, exc: openai.APIError) -> BackendError:
        return backend_error(exc, self._client.api_key)

    def write_training_file(self, jsonl: str, method: Method) -> bytes:
        """OpenAI reads our chat JSONL (weights included) and its own DPO format as they are."""
        return jsonl.encode()

    def stage(self, filename: str, content: bytes) -> str:
        try:
            uploaded = self._client.files.create(file=(filename, content, "application/jsonl"), purpose="fine-tune")
        except openai.APIError as exc:
            raise self._error(exc) from exc
        return uploaded.id

    def submit(self, request: TrainingRequest) -> TrainingRun:
        kwargs: dict[str, Any] = {
            "model": request.base_model,
            "training_file": request.training_file,
            "metadata": {KEY_METADATA: request.key},
        }
        if request.suffix:
            kwargs["suffix"] = request.suffix
        if request.validation_file:
            kwargs["validation_file"] = request.validation_file
        if request.method is Method.DPO:  # DPO's settings (beta, epochs...) live in the method, not at the top level
            kwargs["method"] = {"type": "dpo", "dpo": {"hyperparameters": dict(request.hyperparameters)}}
        elif request.hyperparameters:
            kwargs["hyperparameters"] = request.hyperparameters
        try:
            return to_run(self._once.fine_tuning.jobs.create(**kwargs))
        except openai.APIError as exc:
            error = self._error(exc)
            # a 404 on create is about the model or file, not about a run: a refusal, not "no such run"
            raise (BackendRefused(error.message, status=error.status, code=error.code) if isinstance(error, NoSuchRun)
                   else error) from exc

    def find(self, key: str) -> TrainingRun | None:
        try:
            page = self._client.fine_tuning.jobs.list(metadata={KEY_METADATA: key}, limit=20)
        except openai.APIError as exc:
            raise self._error(exc) from exc
        for job in page.data:
            if (job.metadata or {}).get(KEY_METADATA) == key:
                return to_run(job)
        return None

    def get(self, run_id: str) -> TrainingRun:
        try:
            return to_run(self._client.fine_tuning.jobs.retrieve(run_id))
        except openai.APIError as exc:
            raise self._error(exc) from exc

    def events(self, run_id: str, limit: int = 20) -> list[TrainingEvent]:
        try:
            page = self._client.fine_tuning.jobs.list_events(run_id, limit=limit)
        except openai.APIError as exc:
            raise self._error(exc) from exc
        return [TrainingEvent(_when(e.created_at), e.message, str(e.level)) for e in page.data]

    def cancel(self, run_id: str) -> TrainingRun:
        try:
            return to_run(self._client.fine_tuning.jobs.cancel(run_id))
        except openai.APIError as exc:
            raise self._error(exc) from exc

    def delete_file(self, file_id: str) -> None:
        try:
            self._client.files.delete(file_id)
        except openai.NotFoundError:
            return  # gone already: what we wanted
        except openai.APIError as exc:
            raise self._error(exc) from exc


class OpenAIDeployer:
    """A succeeded OpenAI job is served at once under its fine-tuned model's name: nothing to load."""

    def __init__(self, where: str) -> None:
        self._where = where

    def deploy(self, artifact: str) -> Deployment:
        return Deployment(model=artifact, ready=True, where=self._where)

    def undeploy(self, model: str) -> None:
        """OpenAI keeps fine-tuned models until deleted; the bot never deletes a team's models."""


def _host(client: OpenAI) -> str:
    url = client.base_url
    return f"{url.host}:{url.port}" if url.port else str(url.host)


def build_openai_backend(client: OpenAI) -> Backend:
    official = client.base_url.host == OPENAI_HOST
    return Backend(
        name=NAME,
        capabilities=Capabilities(
            min_examples=OPENAI_MIN_EXAMPLES,
            max_example_tokens=OPENAI_MAX_EXAMPLE_TOKENS,
            methods=frozenset({Method.SFT, Method.DPO}),
            honours_weight=True,
            # other OpenAI-compatible endpoints keep their own rules
            accepts_jobs_until=OPENAI_LAST_JOB_DAY if official else None,
            retirements=RETIREMENTS if official else {},
        ),
        trainer=OpenAITrainer(client),
        deployer=OpenAIDeployer("OpenAI" if official else f"the OpenAI-compatible API at {_host(client)}"),
        how_to_switch=HOW_TO_SWITCH,
    )
