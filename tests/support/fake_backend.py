"""An in-memory backend for tests: the seam's behaviour with no server. Production never imports it.

Runs move only when a test says so (`finish_runs`), deploys need one extra call to be ready, and every
lever the contract suite uses (refusals, passing errors, lost answers, failed runs) is a method.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime

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


@dataclass
class FakeState:
    runs: dict[str, TrainingRun] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[TrainingRequest] = field(default_factory=list)  # every submit(), as asked (validation file, method)
    deleted_files: list[str] = field(default_factory=list)
    delete_calls: list[str] = field(default_factory=list)
    refusing_deletes: bool = False  # delete_file answers a permanent no (a key without the permission)
    stage_gate: threading.Event | None = None  # when set up, stage() waits for it (a slow upload)
    staging: threading.Event = field(default_factory=threading.Event)  # stage() has begun
    deploying: set[str] = field(default_factory=set)
    deployed: set[str] = field(default_factory=set)
    undeployed: list[str] = field(default_factory=list)
    refusing: bool = False
    failing_calls: list[int] = field(default_factory=list)  # statuses for the next calls
    lose_next_answer: bool = False
    fail_next_run: bool = False
    deploy_errors: list[Exception] = field(default_factory=list)
    instant_deploys: bool = False  # deploys answer ready at once (as vLLM's load does); else after finish_runs()
    failing_runs: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeTrainer:
    def __init__(self, state: FakeState, now: callable) -> None:  # type: ignore[valid-type]
        self.state = state
        self._now = now

    def _call(self) -> None:
        if self.state.failing_calls:
            status = self.state.failing_calls.pop(0)
            raise BackendUnavailable(f"the fake backend answered {status}", status=status)

    def write_training_file(self, jsonl: str, method: Method) -> bytes:
        return jsonl.encode()

    def stage(self, filename: str, content: bytes) -> str:
        self.state.staging.set()
        if self.state.stage_gate is not None:
            assert self.state.stage_gate.wait(30), "the test never let the slow upload finish"
        with self.state.lock:
            self._call()
            ref = f"file-{len(self.state.files) + len(self.state.deleted_files) + 1}"
            self.state.files[ref] = content
            return ref

    def delete_file(self, file_id: str) -> None:
        with self.state.lock:
            self.state.delete_calls.append(file_id)
            self._call()
            if self.state.refusing_deletes:
                raise BackendRefused("files cannot be deleted with this key", status=403, code="refused")
            if self.state.files.pop(file_id, None) is not None:
                self.state.deleted_files.append(file_id)

    def submit(self, request: TrainingRequest) -> TrainingRun:
        with self.state.lock:
            self._call()
            if self.state.refusing:
                raise BackendRefused("fine-tuning is not available to this account", status=403, code="refused")
            self.state.requests.append(request)
            run_id = f"run-{len(self.state.runs) + 1}"
            run = TrainingRun(run_id, RunStatus.QUEUED, "queued", key=request.key, created_at=self._now())
            self.state.runs[run_id] = run
            if self.state.fail_next_run:
                self.state.fail_next_run = False
                self.state.failing_runs.add(run_id)
            if self.state.lose_next_answer:
                self.state.lose_next_answer = False
                raise BackendUnavailable("the answer to the submission was lost", status=502)
            return run

    def find(self, key: str) -> TrainingRun | None:
        with self.state.lock:
            self._call()
            return next((run for run in self.state.runs.values() if run.key == key), None)

    def get(self, run_id: str) -> TrainingRun:
        with self.state.lock:
            self._call()
            if run_id not in self.state.runs:
                raise NoSuchRun(f"no run {run_id}", status=404)
            return self.state.runs[run_id]

    def events(self, run_id: str, limit: int = 20) -> list[TrainingEvent]:
        run = self.get(run_id)
        return [TrainingEvent(run.created_at, f"run {run_id} is {run.raw_status}")][:limit]

    def cancel(self, run_id: str) -> TrainingRun:
        with self.state.lock:
            self._call()
            run = self.state.runs.get(run_id)
            if run is None:
                raise NoSuchRun(f"no run {run_id}", status=404)
            if not run.status.terminal:
                run = replace(run, status=RunStatus.CANCELLING, raw_status="cancelling")
                self.state.runs[run_id] = run
            return run


class FakeDeployer:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def deploy(self, artifact: str) -> Deployment:
        with self.state.lock:
            if self.state.deploy_errors:
                raise self.state.deploy_errors.pop(0)
            model = f"served-{artifact}"
            if self.state.instant_deploys:
                self.state.deployed.add(model)
            if model not in self.state.deployed:
                self.state.deploying.add(model)
                return Deployment(model, ready=False, where="the fake server", detail="loading")
            return Deployment(model, ready=True, where="the fake server")

    def undeploy(self, model: str) -> None:
        with self.state.lock:
            self.state.deployed.discard(model)
            self.state.undeployed.append(model)


class FakeBackend:
    """The backend plus its levers."""

    def __init__(self, now: callable, *, name: str = "fake", min_examples: int = 1,  # type: ignore[valid-type]
                 serving_forgets: bool = False, methods: frozenset[Method] = frozenset({Method.SFT}),
                 honours_weight: bool = True) -> None:
        self.state = FakeState()
        self.trainer = FakeTrainer(self.state, now)
        self.deployer = FakeDeployer(self.state)
        self.backend = Backend(
            name=name,
            capabilities=Capabilities(min_examples=min_examples, max_example_tokens=4096,
                                      methods=methods, honours_weight=honours_weight, serving_forgets=serving_forgets),
            trainer=self.trainer,
            deployer=self.deployer,
            how_to_switch="Try another backend.",
        )

    def finish_runs(self, *, loss: float = 0.5) -> None:
        """Every run reaches its end, and every deploy under way becomes ready."""
        with self.state.lock:
            self.state.deployed |= self.state.deploying
            self.state.deploying.clear()
            for run_id, run in list(self.state.runs.items()):
                if run.status is RunStatus.CANCELLING:
                    self.state.runs[run_id] = replace(run, status=RunStatus.CANCELLED, raw_status="cancelled")
                elif run.status.terminal:
                    continue
                elif run_id in self.state.failing_runs:
                    self.state.runs[run_id] = replace(run, status=RunStatus.FAILED, raw_status="failed",
                                                      error_message="the fake run ran out of memory", error_code="oom")
                else:
                    self.state.runs[run_id] = replace(
                        run, status=RunStatus.SUCCEEDED, raw_status="succeeded", artifact=f"adapter-{run_id}",
                        progress=Progress(step=10, total_steps=10, epoch=3.0, total_epochs=3.0, loss=loss),
                    )

    def start_runs(self, *, step: int = 4, loss: float = 1.25) -> None:
        """Queued runs start running, with some progress."""
        with self.state.lock:
            for run_id, run in list(self.state.runs.items()):
                if run.status is RunStatus.QUEUED:
                    self.state.runs[run_id] = replace(
                        run, status=RunStatus.RUNNING, raw_status="running",
                        progress=Progress(step=step, total_steps=10, epoch=1.0, total_epochs=3.0, loss=loss),
                    )


def fake_backend(now: callable = datetime.now, **kwargs) -> FakeBackend:  # type: ignore[valid-type]
    return FakeBackend(now, **kwargs)
