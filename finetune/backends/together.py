"""Together AI behind the backend seam: fine-tuning jobs over its REST API, served on a dedicated endpoint.

Plain HTTP with the client the caller builds (no SDK, no module-level client). The facts this follows,
each with its source, are in sandbox/together_api_notes.md; the main ones:

- Files: POST /v1/files/upload (multipart purpose, file_name, file), DELETE /v1/files/{id}. Jobs: POST /v1/fine-tunes, GET
  /v1/fine-tunes (all jobs, no paging), GET /v1/fine-tunes/{id} (with events), GET .../events,
  GET .../metrics (train loss), POST .../cancel (https://docs.together.ai/reference/, the OpenAPI spec
  at github.com/togethercomputer/openapi).
- Serving: today a fine-tuned model is served on a dedicated endpoint: POST /v1/endpoints with the job's
  `model_output_name`, poll until state STARTED, then send the endpoint's `name` as `model` to
  /v1/chat/completions (https://docs.together.ai/docs/fine-tuning/deployment,
  https://docs.together.ai/docs/dedicated-endpoints/quickstart). Serverless LoRA inference of the output
  name is no longer offered by the current pages, so it is not relied on.

Idempotency: Together has no idempotency key and no job metadata. Every job this backend submits carries
a marker in its `suffix` (which Together returns on listed jobs, and which also ends up in the output
model name): "k" plus 16 hex digits of SHA-256 over (namespace, key), at the end of the suffix after the
caller's own words, within Together's 40-character suffix limit. find(key) lists the account's jobs and
returns the newest whose suffix ends with that exact marker, so a lost answer to submit() is found again,
and a job made under another key, or by another installation with its own namespace, never matches.

Nothing here retries: submit() and endpoint creation happen at most once per call; the pipeline decides
when to try again, and find() / the endpoint listing recover an answer that was lost.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx2 as httpx  # the httpx API, under the name openai>=3 installs it

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

NAME = "together"
TOGETHER_API_BASE = "https://api.together.ai/v1"
DEFAULT_NAMESPACE = "finetune-bot"

# Every documented job status (FinetuneJobStatus in the OpenAPI spec); anything else reads UNKNOWN.
STATUSES: dict[str, RunStatus] = {
    "pending": RunStatus.QUEUED,
    "queued": RunStatus.QUEUED,
    "running": RunStatus.RUNNING,
    "compressing": RunStatus.RUNNING,  # training is done; the output model is being packed
    "uploading": RunStatus.RUNNING,  # ... and stored: no artifact until `completed`
    "cancel_requested": RunStatus.CANCELLING,
    "cancelled": RunStatus.CANCELLED,
    "error": RunStatus.FAILED,
    "user_error": RunStatus.FAILED,  # not in today's enum; named as a failure elsewhere, so read as one
    "completed": RunStatus.SUCCEEDED,
}
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
MAX_SUFFIX = 40  # "Up to 40 character suffix" (together-python, FineTuning.create)
MARKER_DIGITS = 16
# Per-example limit: examples are packed up to the base model's SFT context length
# (https://docs.together.ai/docs/fine-tuning-models, "Context Length (SFT)"); unknown models get the
# smallest length that table lists, so nothing passes that no model could take.
SFT_CONTEXT_LENGTHS: dict[str, int] = {
    "Qwen/Qwen3-4B": 40960,
    "Qwen/Qwen3-8B": 40960,
    "Qwen/Qwen3-14B": 40960,
    "Qwen/Qwen3-32B": 40960,
    "google/gemma-3-4b-it": 131072,
    "google/gemma-3-12b-it": 65536,
    "google/gemma-3-27b-it": 49152,
    "openai/gpt-oss-20b": 24576,
    "openai/gpt-oss-120b": 16384,
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": 131072,
}
DEFAULT_CONTEXT_LENGTH = 16384
# The current SDK's file check wants at least one example (together-py, lib/constants.py MIN_SAMPLES);
# the pipeline's own threshold decides when a run is worth it.
MIN_EXAMPLES = 1
# What submit() passes on from TrainingRequest.hyperparameters (POST /fine-tunes body fields).
HYPERPARAMETERS = frozenset({
    "n_epochs", "n_checkpoints", "n_evals", "batch_size", "learning_rate", "lr_scheduler", "warmup_ratio",
    "max_grad_norm", "weight_decay", "random_seed", "training_type", "train_on_inputs", "dpo_beta", "packing",
    "max_seq_length", "from_checkpoint",
})
SFT_KEYS = (("messages",), ("prompt", "completion"), ("text",))
DPO_KEYS = ("input", "preferred_output", "non_preferred_output")
ENDPOINT_STATE_ORDER = ("STARTED", "STARTING", "PENDING", "STOPPING", "STOPPED", "ERROR")
EVENT_LEVELS = {"legacy_info": "info", "legacy_iwarning": "warning", "legacy_ierror": "error"}
HOW_TO_SWITCH = ("Check the Together AI API key, billing and fine-tuning access at https://api.together.ai/settings, "
                 "or choose another fine-tuning backend.")


def normalize_status(raw: object) -> RunStatus:
    """Together's word for a job's status, in the seam's words; an unknown word is UNKNOWN (never terminal)."""
    return STATUSES.get(str(raw).strip().lower(), RunStatus.UNKNOWN) if isinstance(raw, str) else RunStatus.UNKNOWN


def key_marker(key: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """The suffix marker for `key`: lower-case letters and digits only, so Together keeps it as sent."""
    digest = hashlib.sha256(f"{namespace}\x00{key}".encode()).hexdigest()
    return "k" + digest[:MARKER_DIGITS]


def suffix_for(key: str, namespace: str = DEFAULT_NAMESPACE, suffix: str | None = None) -> str:
    """The job's suffix: the caller's words (made safe, shortened) then the marker, at most 40 characters."""
    marker = key_marker(key, namespace)
    words = re.sub(r"[^a-z0-9]+", "-", (suffix or "").lower()).strip("-")
    words = words[: MAX_SUFFIX - len(marker) - 1].strip("-")
    return f"{words}-{marker}" if words else marker


def carries_marker(job: dict[str, Any], marker: str) -> bool:
    """Whether a listed job was submitted under `marker`: its suffix ends with it (or, where a listing leaves
    the suffix out, its output model name has it as a whole word)."""
    suffix = job.get("suffix")
    if isinstance(suffix, str) and suffix:
        return suffix == marker or suffix.endswith("-" + marker)
    output = job.get("model_output_name")
    return isinstance(output, str) and re.search(rf"(?<![a-z0-9]){marker}(?![a-z0-9])", output) is not None


def error_for(response: httpx.Response, *, secrets: Iterable[str] = (), missing: type[BackendError] | None = None) -> BackendError:
    """Sorts an error answer: passing (408/409/425/429/5xx) or permanent; a 404 is `missing` where given."""
    status = response.status_code
    message, code = _error_parts(response)
    if status in TRANSIENT_STATUSES or status >= 500:
        retry_after = response.headers.get("retry-after")
        if retry_after:
            message += f" (Together AI asks to retry after {retry_after} s)"
        kind: type[BackendError] = BackendUnavailable
    elif status == 404 and missing is not None:
        kind = missing
    else:
        kind = BackendRefused
    return kind(redact(message, list(secrets)), status=status, code=code or f"http_{status}")


def _error_parts(response: httpx.Response) -> tuple[str, str | None]:
    """Together's ErrorData body {"error": {"message", "type", "param", "code"}}, read leniently."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    message: object = None
    code: object = None
    if isinstance(error, dict):
        message, code = error.get("message"), error.get("code") or error.get("type")
    elif isinstance(error, str):
        message = error
    elif isinstance(body, dict):
        message = body.get("message")
    text = str(message).strip() if message else ""
    return text or f"Together AI answered HTTP {response.status_code}", code if isinstance(code, str) and code else None


def _when(value: object) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _Api:
    """One Together API account over the caller's client; every failure comes out as a BackendError."""

    def __init__(self, http: httpx.Client, *, api_key: str, base_url: str | None) -> None:
        self._http = http
        self._api_key = api_key
        self._base = (base_url or str(http.base_url) or TOGETHER_API_BASE).rstrip("/")

    @property
    def secrets(self) -> list[str]:
        return [self._api_key]

    def call(self, method: str, path: str, *, missing: type[BackendError] | None = None, **request: Any) -> Any:
        """One request, never retried; the parsed JSON answer (None when there is no body)."""
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            response = self._http.request(method, f"{self._base}/{path}", headers=headers, **request)
        except httpx.RequestError as exc:
            text = f"could not reach Together AI ({type(exc).__name__}): {exc}".rstrip(": ")
            raise BackendUnavailable(redact(text, self.secrets), code="connection_error") from exc
        if response.status_code >= 400:
            raise error_for(response, secrets=self.secrets, missing=missing)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise BackendUnavailable(f"Together AI answered {method} /{path} with a body that is not JSON",
                                     status=response.status_code, code="bad_answer") from None


def _object(answer: Any, what: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise BackendUnavailable(f"Together AI answered {what} with something other than an object", code="bad_answer")
    return answer


def _items(answer: Any, what: str) -> list[dict[str, Any]]:
    data = answer.get("data") if isinstance(answer, dict) else answer
    if not isinstance(data, list):
        raise BackendUnavailable(f"Together AI answered {what} without a list", code="bad_answer")
    return [item for item in data if isinstance(item, dict)]


class TogetherTrainer:
    """Trainer over Together's fine-tuning API."""

    def __init__(self, api: _Api, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._api = api
        self._namespace = namespace

    def write_training_file(self, jsonl: str, method: Method) -> bytes:
        """Our chat JSONL is Together's conversational format as is (per-message weight 0/1 included); DPO rows
        in OpenAI's preference format (input, preferred_output, non_preferred_output) are Together's too."""
        lines = [line.strip() for line in jsonl.splitlines() if line.strip()]
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"training data line {number} is not JSON") from None
            if not isinstance(record, dict):
                raise ValueError(f"training data line {number} is not a JSON object")
            if method is Method.DPO and not all(key in record for key in DPO_KEYS):
                raise ValueError(f"training data line {number} lacks {', '.join(DPO_KEYS)} for a DPO run")
            if method is Method.SFT and not any(all(key in record for key in keys) for keys in SFT_KEYS):
                raise ValueError(f"training data line {number} has no messages (or prompt/completion, or text)")
        return "".join(line + "\n" for line in lines).encode("utf-8")

    def stage(self, filename: str, content: bytes) -> str:
        uploaded = _object(self._api.call(
            "POST", "files/upload", files={"file": (filename, content, "application/octet-stream")},
            data={"purpose": "fine-tune", "file_name": filename, "file_type": "jsonl"}), "the file upload")
        file_id = uploaded.get("id")
        if not isinstance(file_id, str) or not file_id:
            raise BackendUnavailable("Together AI accepted the upload but named no file id", code="bad_answer")
        return file_id

    def submit(self, request: TrainingRequest) -> TrainingRun:
        body: dict[str, Any] = {
            "model": request.base_model,
            "training_file": request.training_file,
            "suffix": suffix_for(request.key, self._namespace, request.suffix),
            "training_method": ({"method": "dpo"} if request.method is Method.DPO
                                else {"method": "sft", "train_on_inputs": "auto"}),
        }
        if request.validation_file:  # Together evaluates it only when asked to (n_evals defaults to 0): once an epoch
            body["validation_file"] = request.validation_file
            epochs = request.hyperparameters.get("n_epochs")
            body["n_evals"] = epochs if isinstance(epochs, int) and epochs > 0 else 1  # an n_evals given still wins
        for name, value in request.hyperparameters.items():
            if value == "auto":
                continue  # OpenAI's word for "your default": Together's default is what omitting it gives
            if name not in HYPERPARAMETERS:
                raise BackendRefused(f"Together AI fine-tuning has no hyperparameter {name!r}; it takes "
                                     f"{', '.join(sorted(HYPERPARAMETERS))}", code="unknown_hyperparameter")
            if name == "dpo_beta":
                body["training_method"]["dpo_beta"] = value
            else:
                body[name] = value
        job = _object(self._api.call("POST", "fine-tunes", json=body), "the job creation")
        return self._run(job, key=request.key)

    def find(self, key: str) -> TrainingRun | None:
        marker = key_marker(key, self._namespace)
        jobs = [job for job in _items(self._api.call("GET", "fine-tunes"), "the job list") if carries_marker(job, marker)]
        if not jobs:
            return None
        newest = max(jobs, key=lambda job: _when(job.get("created_at")) or datetime.min.replace(tzinfo=UTC))
        return self._run(newest, key=key)

    def get(self, run_id: str) -> TrainingRun:
        path = self._job_path(run_id)
        job = _object(self._api.call("GET", path, missing=NoSuchRun), "the job")
        run_status = normalize_status(job.get("status"))
        metrics = self._metrics(path) if run_status in (RunStatus.RUNNING, RunStatus.SUCCEEDED) else []
        return self._run(job, metrics=metrics)

    def events(self, run_id: str, limit: int = 20) -> list[TrainingEvent]:
        answer = self._api.call("GET", f"{self._job_path(run_id)}/events", missing=NoSuchRun)
        events = [self._event(item) for item in _items(answer, "the job events")]
        events.sort(key=lambda event: event.at or datetime.min.replace(tzinfo=UTC))
        return events[-limit:] if limit > 0 else []

    def cancel(self, run_id: str) -> TrainingRun:
        path = self._job_path(run_id)
        try:
            job = _object(self._api.call("POST", f"{path}/cancel", missing=NoSuchRun), "the cancel")
        except NoSuchRun:
            raise
        except BackendRefused as refused:
            if refused.status != 400:
                raise
            current = self.get(run_id)  # a 400 for a job that has already ended: its end is the answer
            if current.status.terminal:
                return current
            raise
        return self._run(job)

    def delete_file(self, file_id: str) -> None:
        """DELETE /v1/files/{id} (answers {"id", "deleted": true}); a 404 means it is gone already."""
        try:
            self._api.call("DELETE", f"files/{quote(file_id, safe='')}", missing=NoSuchRun)
        except NoSuchRun:
            return

    # ----- reading Together's answers ------------------------------------------------------------

    @staticmethod
    def _job_path(run_id: str) -> str:
        if not run_id.startswith("ft-"):  # Together's job ids "start with ft-" (OpenAPI spec)
            raise NoSuchRun(f"Together AI has no fine-tuning job {run_id!r}: its job ids start with 'ft-'",
                            status=404, code="not_found")
        return f"fine-tunes/{quote(run_id, safe='')}"

    def _metrics(self, path: str) -> list[dict[str, Any]]:
        """The logged training metrics; progress is a nicety, so a failure here costs only the loss."""
        try:
            answer = self._api.call("GET", f"{path}/metrics")
        except BackendError:
            return []
        metrics = answer.get("metrics") if isinstance(answer, dict) else None
        return [item for item in metrics if isinstance(item, dict)] if isinstance(metrics, list) else []

    @staticmethod
    def _event(item: dict[str, Any]) -> TrainingEvent:
        level = str(item.get("level") or "info").lower()
        message = str(item.get("message") or "").strip() or str(item.get("type") or "event").replace("_", " ")
        return TrainingEvent(at=_when(item.get("created_at")), message=message, level=EVENT_LEVELS.get(level, level))

    def _run(self, job: dict[str, Any], *, key: str | None = None, metrics: list[dict[str, Any]] | None = None) -> TrainingRun:
        job_id = job.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise BackendUnavailable("Together AI answered a job without an id", code="bad_answer")
        raw = str(job.get("status") or "")
        status = normalize_status(raw)
        events = [event for event in job.get("events") or [] if isinstance(event, dict)]
        output = job.get("model_output_name")
        error_code = error_message = None
        if status is RunStatus.FAILED:
            errors = [event for event in events if event.get("type") == "job_error" or event.get("level") == "error"]
            error_code = "job_error"
            error_message = (str(errors[-1].get("message") or "").strip() if errors else "") or \
                f"Together AI reports job {job_id} ended with status {raw}"
        return TrainingRun(
            id=job_id, status=status, raw_status=raw, key=key,
            artifact=output if status is RunStatus.SUCCEEDED and isinstance(output, str) and output else None,
            progress=self._progress(job, events, metrics or []), error_code=error_code, error_message=error_message,
            trained_tokens=_int(job.get("token_count")), created_at=_when(job.get("created_at")),
            finished_at=_when(job.get("updated_at")) if status.terminal else None)

    @staticmethod
    def _progress(job: dict[str, Any], events: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> Progress:
        steps = [s for s in (_int(event.get("step")) for event in events) if s is not None]
        steps += [int(s) for s in (_number(m.get("train/global_step")) for m in metrics) if s is not None]
        totals = [t for t in (_int(event.get("total_steps")) for event in events) if t]
        losses = [loss for loss in (_number(m.get("train/loss")) for m in metrics) if loss is not None]
        epochs = _number(job.get("epochs_completed"))
        return Progress(step=max(steps) if steps else None, total_steps=totals[-1] if totals else None,
                        epoch=epochs, total_epochs=_number(job.get("n_epochs")), loss=losses[-1] if losses else None)


class TogetherDeployer:
    """Serves a trained model on a dedicated endpoint: created once, polled by calling deploy() again."""

    def __init__(self, api: _Api, *, hardware: str | None = None, inactive_timeout_minutes: int | None = None,
                 replicas: tuple[int, int] = (1, 1), label: str = DEFAULT_NAMESPACE) -> None:
        self._api = api
        self._hardware = hardware
        self._inactive_timeout = inactive_timeout_minutes
        self._replicas = replicas
        self._label = label

    def deploy(self, artifact: str) -> Deployment:
        endpoint = self._endpoint_for(artifact)
        if endpoint is None:  # none yet: create it (a lost answer is found by the listing next time)
            hardware = self._hardware or self._pick_hardware(artifact)
            endpoint = _object(self._api.call("POST", "endpoints", json={
                "model": artifact, "hardware": hardware, "display_name": f"{self._label}: {artifact}"[:100],
                "autoscaling": {"min_replicas": self._replicas[0], "max_replicas": self._replicas[1]},
                "state": "STARTED", "inactive_timeout": self._inactive_timeout}), "the endpoint creation")
        return self._deployment(endpoint)

    def undeploy(self, model: str) -> None:
        """Deletes the endpoint serving `model` (its name); nothing to do when there is none."""
        for endpoint in self._dedicated():
            if model in (endpoint.get("name"), endpoint.get("id")):
                try:
                    self._api.call("DELETE", f"endpoints/{quote(str(endpoint.get('id')), safe='')}", missing=NoSuchRun)
                except NoSuchRun:
                    pass  # already gone

    def _dedicated(self) -> list[dict[str, Any]]:
        answer = self._api.call("GET", "endpoints", params={"type": "dedicated", "mine": "true"})
        return [e for e in _items(answer, "the endpoint list") if e.get("type", "dedicated") == "dedicated"]

    def _endpoint_for(self, artifact: str) -> dict[str, Any] | None:
        serving = [e for e in self._dedicated() if e.get("model") == artifact]
        rank = {state: index for index, state in enumerate(ENDPOINT_STATE_ORDER)}
        serving.sort(key=lambda e: rank.get(str(e.get("state")), len(rank)))
        return serving[0] if serving else None

    def _pick_hardware(self, artifact: str) -> str:
        try:
            answer = self._api.call("GET", "hardware", params={"model": artifact})
        except BackendRefused as refused:
            if refused.status != 404:
                raise
            raise BackendRefused(f"Together AI cannot host {artifact} on a dedicated endpoint ({refused.message}); "
                                 "fine-tune a base model that has compatible hardware", status=404,
                                 code="not_deployable") from None
        offers = [h for h in _items(answer, "the hardware list")
                  if isinstance(h.get("id"), str) and (h.get("availability") or {}).get("status", "available") == "available"]
        if not offers:
            raise BackendUnavailable(f"Together AI has no hardware available for {artifact} right now",
                                     code="no_hardware")
        offers.sort(key=lambda h: _number((h.get("pricing") or {}).get("cents_per_minute")) or float("inf"))
        return str(offers[0]["id"])

    def _deployment(self, endpoint: dict[str, Any]) -> Deployment:
        endpoint_id, name, state = str(endpoint.get("id")), str(endpoint.get("name") or ""), str(endpoint.get("state"))
        where = f"Together AI dedicated endpoint {endpoint_id}"
        if endpoint.get("hardware"):
            where += f" on {endpoint['hardware']}"
        if state == "STARTED" and name:
            return Deployment(model=name, ready=True, where=where)
        if state == "ERROR":
            raise BackendRefused(f"Together AI endpoint {endpoint_id} serving {endpoint.get('model')} failed to start "
                                 f"(state ERROR); delete it (undeploy {name}) and deploy again", code="endpoint_error")
        if state == "STOPPED":
            self._api.call("PATCH", f"endpoints/{quote(endpoint_id, safe='')}", json={"state": "STARTED"})
            return Deployment(model=name, ready=False, where=where, detail="the endpoint was stopped; starting it again")
        return Deployment(model=name, ready=False, where=where,
                          detail=f"the endpoint is {state.lower()}; it answers once it is started")


def build_together_backend(http: httpx.Client, *, api_key: str, base_url: str | None = None,
                           namespace: str = DEFAULT_NAMESPACE, base_model: str | None = None,
                           hardware: str | None = None, inactive_timeout_minutes: int | None = None,
                           replicas: tuple[int, int] = (1, 1)) -> Backend:
    """The Together AI backend over `http` (built and closed by the caller).

    `api_key` is sent as the bearer token (pass "" when the client already carries it; it is also masked
    in every message). `base_url` defaults to the client's own base URL, else https://api.together.ai/v1.
    `namespace` keeps this installation's job markers apart from others sharing the account. `base_model`
    sets the per-example token limit; `hardware`, `inactive_timeout_minutes` (None: never stop; a stopped
    endpoint stops answering) and `replicas` shape the dedicated endpoint, which bills per minute while it runs.
    """
    api = _Api(http, api_key=api_key, base_url=base_url)
    context = SFT_CONTEXT_LENGTHS.get(base_model or "", DEFAULT_CONTEXT_LENGTH)
    return Backend(
        name=NAME,
        capabilities=Capabilities(min_examples=MIN_EXAMPLES, max_example_tokens=context,
                                  methods=frozenset({Method.SFT, Method.DPO}), honours_weight=True,
                                  accepts_jobs_until=None),
        trainer=TogetherTrainer(api, namespace=namespace),
        deployer=TogetherDeployer(api, hardware=hardware, inactive_timeout_minutes=inactive_timeout_minutes,
                                  replicas=replicas, label=namespace),
        how_to_switch=HOW_TO_SWITCH,
    )
