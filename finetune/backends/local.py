"""The self-hosted backend: LoRA runs queued in our own database for a training worker, served by vLLM.

Training: stage() keeps the training file in local_files and submit() queues a run in local_runs under the
pipeline's idempotency key (a unique column: a second submit under one key returns the first run, and
find(key) reads it back). A worker (finetune.worker, on this machine or another sharing the database)
trains it with TRL + PEFT and records progress and the adapter's directory. The database is this
backend's remote end: when it cannot be reached, calls answer BackendUnavailable, as a provider's 5xx would.

Serving: vLLM started with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True loads an adapter at run
time (POST {server}/v1/load_lora_adapter {lora_name, lora_path}; unload with /v1/unload_lora_adapter) and
serves it under lora_name at /v1/chat/completions. GET /v1/models lists the base model and every loaded
adapter, so deploy() asks it first and loads only what is missing: after vLLM restarts (it forgets runtime
adapters: serving_forgets) the pipeline's restore() deploys the active one again. A load vLLM answers with
its own error (a rank above --max-lora-rank, a path it cannot read) is BackendRefused with vLLM's reason;
vLLM not answering, or a proxy's 502/503/504, is BackendUnavailable. Error bodies are vLLM's
{"error": {"message", "type", "param", "code"}} (vllm/entrypoints/openai/models/serving.py).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx  # the httpx API, under the name openai>=3 installs it
from sqlalchemy.exc import SQLAlchemyError

from finetune.backend import (
    Backend,
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
from finetune.clock import Clock
from finetune.local_training import LocalHyperparameters, TrainingDataError, read_rows, rows_jsonl, to_prompt_completion
from finetune.worker import MAX_ATTEMPTS, STALE_AFTER
from storage import local_runs
from storage.db import Database
from storage.enums import LocalRunState
from storage.models import LocalRun

log = logging.getLogger("finetune.backends.local")

NAME = "local"
RUN_PREFIX = "local-"
MIN_EXAMPLES = 1  # LoRA trains on any number; FINETUNE_MIN_EXAMPLES decides when a run is worth it
STATUSES = {
    LocalRunState.QUEUED: RunStatus.QUEUED,
    LocalRunState.RUNNING: RunStatus.RUNNING,
    LocalRunState.CANCELLING: RunStatus.CANCELLING,
    LocalRunState.SUCCEEDED: RunStatus.SUCCEEDED,
    LocalRunState.FAILED: RunStatus.FAILED,
    LocalRunState.CANCELLED: RunStatus.CANCELLED,
}
HOW_TO_SWITCH = ("Check the local settings (FINETUNE_BASE_MODEL must be the name vLLM serves the base model under, "
                 "LOCAL_* hyperparameters) and the worker's log, or choose another fine-tuning backend.")
START_VLLM = ("start it with `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve MODEL_DIR --enable-lora "
              "--max-lora-rank RANK`")


@contextlib.contextmanager
def _database(doing: str) -> Iterator[None]:
    """The database is where this backend's runs live: an error reaching it is a passing one."""
    try:
        yield
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
        raise BackendUnavailable(f"the local backend could not {doing}: the database answered {detail[0][:200]}",
                                 code="database_error") from None


def _run_id(run_id: str) -> int:
    number = run_id[len(RUN_PREFIX):] if run_id.startswith(RUN_PREFIX) else ""
    if not number.isdigit():
        raise NoSuchRun(f"the local backend has no run {run_id!r}: its run ids look like {RUN_PREFIX}12", code="not_found")
    return int(number)


class LocalTrainer:
    """Trainer over the local_runs queue."""

    def __init__(self, db: Database, clock: Clock, params: LocalHyperparameters, vllm: VllmServer) -> None:
        self._db = db
        self._clock = clock
        self._params = params
        self._vllm = vllm

    def delete_file(self, file_id: str) -> None:
        """The training data leaves the database once its job no longer needs it; an unknown id counts as deleted."""
        if not file_id.isdigit():
            return
        with self._db.session() as session:
            local_runs.forget_file(session, int(file_id))

    def write_training_file(self, jsonl: str, method: Method) -> bytes:
        """Prompt/completion rows, one per assistant turn that counts: how weight 0 survives TRL (see
        finetune.local_training)."""
        self._check_method(method)
        try:
            return rows_jsonl(to_prompt_completion(jsonl)).encode("utf-8")
        except TrainingDataError as exc:
            raise BackendRefused(str(exc), code="invalid_training_file") from None

    def stage(self, filename: str, content: bytes) -> str:
        try:
            text = content.decode("utf-8")
            read_rows(text)
        except (UnicodeDecodeError, TrainingDataError) as exc:
            raise BackendRefused(f"the training file {filename} is not one the local backend reads: {exc}",
                                 code="invalid_training_file") from None
        with _database("store the training file"), self._db.session() as session:
            return str(local_runs.create_file(session, filename, text, self._clock.now()))

    def submit(self, request: TrainingRequest) -> TrainingRun:
        self._check_method(request.method)
        try:
            params = LocalHyperparameters.merged(request.hyperparameters, self._params)
        except ValueError as exc:
            raise BackendRefused(str(exc), code="invalid_hyperparameters") from None
        if not request.training_file.isdigit():
            raise BackendRefused(f"the local backend has no training file {request.training_file!r}", code="no_such_file")
        self._vllm.check_base_model(request.base_model)
        with _database("queue the run"), self._db.session() as session:
            if local_runs.get_file(session, int(request.training_file)) is None:
                raise BackendRefused(f"the local backend has no training file {request.training_file}", code="no_such_file")
            run, created = local_runs.enqueue_run(
                session, key=request.key, base_model=request.base_model, file_id=int(request.training_file),
                method=request.method.value, hyperparameters=params.as_dict(), now=self._clock.now())
            run_id = run.id
        if created:
            log.info("queued run %s%s for the training worker", RUN_PREFIX, run_id)
        return self._read(run_id)

    def find(self, key: str) -> TrainingRun | None:
        with _database("look the run up"), self._db.session() as session:
            run = local_runs.run_by_key(session, key)
            return _training_run(run) if run is not None else None

    def get(self, run_id: str) -> TrainingRun:
        number = _run_id(run_id)
        with _database("read the run"), self._db.session() as session:
            # a run whose worker died is noticed here too, so it never stays "running" with no worker left
            local_runs.requeue_stale(session, self._clock.now(), STALE_AFTER, MAX_ATTEMPTS)
        return self._read(number)

    def events(self, run_id: str, limit: int = 20) -> list[TrainingEvent]:
        number = _run_id(run_id)
        with _database("read the run"), self._db.session() as session:
            run = local_runs.get_run(session, number)
            if run is None:
                raise NoSuchRun(f"the local backend has no run {run_id}", code="not_found")
            events = _events(run)
        return events[-limit:] if limit > 0 else []

    def cancel(self, run_id: str) -> TrainingRun:
        number = _run_id(run_id)
        with _database("cancel the run"), self._db.session() as session:
            if local_runs.request_cancel(session, number, self._clock.now()) is None:
                raise NoSuchRun(f"the local backend has no run {run_id}", code="not_found")
        return self._read(number)

    def _read(self, number: int) -> TrainingRun:
        with _database("read the run"), self._db.session() as session:
            run = local_runs.get_run(session, number)
            if run is None:
                raise NoSuchRun(f"the local backend has no run {RUN_PREFIX}{number}", code="not_found")
            return _training_run(run)

    @staticmethod
    def _check_method(method: Method) -> None:
        if method is not Method.SFT:
            raise BackendRefused(f"the local backend trains {Method.SFT.value} runs only, not {method.value}",
                                 code="unsupported_method")


def _training_run(run: LocalRun) -> TrainingRun:
    state = LocalRunState(run.state)
    status = STATUSES[state]
    error_message = run.error_message if state is LocalRunState.FAILED else None
    return TrainingRun(
        id=f"{RUN_PREFIX}{run.id}", status=status, raw_status=state.value, key=run.key,
        artifact=run.artifact if state is LocalRunState.SUCCEEDED else None,
        progress=Progress(step=run.step, total_steps=run.total_steps, epoch=run.epoch, total_epochs=run.total_epochs,
                          loss=run.loss),
        error_code="training_failed" if state is LocalRunState.FAILED else None,
        error_message=(error_message or "the training worker reported a failure without a reason")
        if state is LocalRunState.FAILED else None,
        created_at=run.created_at, finished_at=run.finished_at if status.terminal else None,
    )


def _events(run: LocalRun) -> list[TrainingEvent]:
    """The run's story from its row: queued, taken, progress, its end."""
    events = [TrainingEvent(run.created_at, f"queued for training on {run.base_model}")]
    if run.started_at is not None:
        events.append(TrainingEvent(run.started_at, f"worker {run.worker or '(none now)'} started training "
                                                    f"(attempt {run.attempts})"))
    if run.step is not None:
        loss = f", training loss {run.loss:.4f}" if run.loss is not None else ""
        of = f" of {run.total_steps}" if run.total_steps else ""
        events.append(TrainingEvent(run.heartbeat_at, f"step {run.step}{of}{loss}"))
    state = LocalRunState(run.state)
    ends = {
        LocalRunState.SUCCEEDED: f"adapter written to {run.artifact}",
        LocalRunState.FAILED: f"failed: {run.error_message or 'no reason given'}",
        LocalRunState.CANCELLED: "cancelled",
        LocalRunState.CANCELLING: "cancel requested; the worker stops at its next step",
    }
    if state is LocalRunState.QUEUED and run.error_message:
        events.append(TrainingEvent(run.heartbeat_at or run.started_at, run.error_message, level="warning"))
    if state in ends:
        level = "error" if state is LocalRunState.FAILED else "info"
        when: datetime | None = run.finished_at or run.heartbeat_at
        events.append(TrainingEvent(when, ends[state], level=level))
    return events


# --- serving: vLLM's HTTP API ----------------------------------------------------------------------


class VllmServer:
    """vLLM's OpenAI-compatible server over the caller's client. `base_url` is VLLM_BASE_URL (ending in /v1)."""

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self.server = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def models(self) -> list[dict[str, Any]]:
        answer = self._call("GET", "/v1/models")
        try:
            data = answer.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            raise BackendUnavailable(f"vLLM at {self.base_url} answered GET /v1/models without a model list",
                                     code="bad_answer")
        return [card for card in data if isinstance(card, dict)]

    def check_base_model(self, base_model: str) -> None:
        """Refuses a run for a base model vLLM does not serve: its adapter could never be deployed. When vLLM
        cannot be asked now, training goes ahead (the deploy waits for vLLM)."""
        try:
            cards = self.models()
        except BackendUnavailable as exc:
            log.info("could not ask vLLM which base model it serves (%s); training anyway", exc.message)
            return
        bases = [str(card.get("id")) for card in cards if not card.get("parent")]
        if base_model not in bases:
            raise BackendRefused(
                f"vLLM at {self.base_url} does not serve the base model {base_model!r} (it serves "
                f"{', '.join(repr(name) for name in bases) or 'nothing'}): set FINETUNE_BASE_MODEL to vLLM's "
                "--served-model-name, and LOCAL_BASE_MODEL to that model's directory", code="base_model_not_served")

    def load(self, name: str, path: str) -> None:
        self._call("POST", "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path})

    def unload(self, name: str) -> None:
        self._call("POST", "/v1/unload_lora_adapter", json={"lora_name": name})

    def _call(self, method: str, path: str, **request: Any) -> httpx.Response:
        url = f"{self.server}{path}"
        try:
            answer = self._http.request(method, url, **request)
        except httpx.RequestError as exc:
            raise BackendUnavailable(f"vLLM did not answer at {self.base_url} ({type(exc).__name__}): check that it is "
                                     f"running and that VLLM_BASE_URL is right; {START_VLLM}", code="vllm_unreachable") from None
        if answer.status_code >= 400:
            raise self._error(method, path, answer)
        return answer

    def _error(self, method: str, path: str, answer: httpx.Response) -> BackendUnavailable | BackendRefused:
        status = answer.status_code
        try:
            body = answer.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        message = str(error.get("message") or "").strip() if isinstance(error, dict) else ""
        kind = str(error.get("type") or "") if isinstance(error, dict) else ""
        if not message:  # not vLLM's own answer: a proxy in front of it, or a route it does not have
            if status == 404 and path != "/v1/models":
                return BackendUnavailable(f"vLLM at {self.server} has no {path}: runtime LoRA loading is off; "
                                          f"{START_VLLM}", status=status, code="runtime_lora_disabled")
            return BackendUnavailable(f"vLLM at {self.base_url} answered {method} {path} with HTTP {status}",
                                      status=status, code=f"http_{status}")
        if status in (408, 429) or status in (502, 503, 504):
            return BackendUnavailable(f"vLLM is busy or starting ({status}): {message}", status=status, code=kind or None)
        return BackendRefused(message, status=status, code=kind or f"http_{status}")


class LocalDeployer:
    """Loads a trained adapter into vLLM under its directory's name; idempotent, and ready as soon as loaded."""

    def __init__(self, vllm: VllmServer, adapters_dir: Path) -> None:
        self._vllm = vllm
        self._adapters_dir = adapters_dir

    def deploy(self, artifact: str) -> Deployment:
        path = str(artifact)
        name = Path(path).name
        where = f"vLLM at {self._vllm.base_url}"
        if any(card.get("id") == name for card in self._vllm.models()):
            return Deployment(model=name, ready=True, where=where)
        try:
            self._vllm.load(name, path)
        except BackendRefused as refused:
            if refused.status == 400 and "already been loaded" in refused.message:
                return Deployment(model=name, ready=True, where=where)  # loaded meanwhile: by another process
            hint = "" if refused.status != 404 else (
                f" (vLLM must read the adapters at the path the worker wrote them: LOCAL_ADAPTERS_DIR, "
                f"{self._adapters_dir}, on the same path on both machines)")
            raise BackendRefused(f"vLLM would not load the adapter {name}: {refused.message}{hint}",
                                 status=refused.status, code=refused.code) from None
        log.info("vLLM loaded adapter %s from %s", name, path)
        return Deployment(model=name, ready=True, where=where)

    def undeploy(self, model: str) -> None:
        try:
            self._vllm.unload(model)
        except BackendRefused as refused:
            if refused.status != 404:
                raise  # 404: not loaded (any more), which is what was wanted


def build_local_backend(db: Database, clock: Clock, http: httpx.Client, *, vllm_base_url: str, adapters_dir: str | Path,
                        params: LocalHyperparameters | None = None) -> Backend:
    """The local backend: runs in `db` for the training worker, adapters served by vLLM at `vllm_base_url`.

    `http` is built and closed by the caller. `params` are the LOCAL_* hyperparameters every run trains with
    (a job's own hyperparameters override them by name); `max_length` is also the per-example token limit.
    """
    params = params or LocalHyperparameters()
    vllm = VllmServer(http, vllm_base_url)
    return Backend(
        name=NAME,
        capabilities=Capabilities(min_examples=MIN_EXAMPLES, max_example_tokens=params.max_length,
                                  methods=frozenset({Method.SFT}), honours_weight=True, serving_forgets=True),
        trainer=LocalTrainer(db, clock, params, vllm),
        deployer=LocalDeployer(vllm, Path(adapters_dir)),
        how_to_switch=HOW_TO_SWITCH,
    )
