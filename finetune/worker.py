"""The local backend's training worker: takes queued runs from the database one at a time and trains each.

Plain Python over the database and the model directory, so it runs inside the bot (a thread) or as
`finetune-bot worker` on a GPU machine that shares the database. For each run it claims (a compare-and-set:
two workers never take the same run) it trains a LoRA adapter (finetune.local_training), beats a heartbeat
with the progress as steps end (at most once per PROGRESS_EVERY of the clock) and every KEEPALIVE_SECONDS
between (loading the model has no steps), and stores the adapter under `adapters_dir`. A heartbeat that
finds the run cancelled stops the training after that step; a run whose worker stopped beating is queued
again (storage.local_runs.requeue_stale), and failed after MAX_ATTEMPTS tries, so a dead worker never
leaves a run running forever.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from finetune.clock import Clock
from finetune.local_training import (
    LocalHyperparameters,
    StepReport,
    TrainingDataError,
    TrainingStopped,
    read_rows,
    train_lora,
)
from storage import local_runs
from storage.db import Database
from storage.enums import LocalRunState

log = logging.getLogger("finetune.worker")

STALE_AFTER = timedelta(minutes=10)  # no heartbeat for this long: the worker is taken for dead
MAX_ATTEMPTS = 3  # tries of one run before it fails
KEEPALIVE_SECONDS = 60.0  # heartbeats between steps (while the model loads, or a long step runs)
PROGRESS_EVERY = timedelta(seconds=1)  # at most one progress write (and cancel check) per second of steps
MESSAGE_LIMIT = 500


def adapter_name(run_id: int, key: str) -> str:
    """The adapter's directory name, which is also the model name vLLM serves it under: unique per run, and
    per database (the key's hash), so a second installation on one vLLM never takes another's name."""
    return f"ft-local-{run_id}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


class _Stop:
    """Why training should stop: a cancel, the run taken away, or the worker asked to shut down."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason


class Worker:
    def __init__(self, db: Database, clock: Clock, *, adapters_dir: Path, base_model_dir: Path, name: str,
                 defaults: LocalHyperparameters, stale_after: timedelta = STALE_AFTER, max_attempts: int = MAX_ATTEMPTS,
                 keepalive_seconds: float = KEEPALIVE_SECONDS, progress_every: timedelta = PROGRESS_EVERY,
                 on_step: Callable[[int, StepReport], None] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.adapters_dir = Path(adapters_dir)
        self.base_model_dir = Path(base_model_dir)
        self.name = name[: local_runs.WORKER_NAME_LENGTH]
        self.defaults = defaults
        self.stale_after = stale_after
        self.max_attempts = max_attempts
        self.keepalive_seconds = keepalive_seconds
        self.progress_every = progress_every
        self.on_step = on_step  # called after each step's heartbeat (run id, step): for logs and tests
        self._shutdown = threading.Event()

    # --- the loop ---------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, idle_seconds: float) -> None:
        """Trains queued runs until `stop` is set; a run in training when it is set goes back to the queue."""
        self._shutdown = stop
        while not stop.is_set():
            try:
                ran = self.run_once()
            except SQLAlchemyError as exc:
                log.warning("training worker %s could not reach the database (%s); trying again in %.0f s",
                            self.name, _first_line(exc), idle_seconds)
                log.debug("database error", exc_info=True)
                ran = None
            if ran is None:
                stop.wait(idle_seconds)

    def run_once(self) -> int | None:
        """Requeues runs whose worker died, then claims the oldest queued run and trains it to its end.
        Returns the run's id, or None when nothing was queued."""
        now = self.clock.now()
        with self.db.session() as session:
            for moved in local_runs.requeue_stale(session, now, self.stale_after, self.max_attempts):
                log.warning("run %s: its worker stopped beating; now %s", moved.id, moved.state)
            run = local_runs.claim_next(session, self.name, now)
            if run is None:
                return None
            run_id, key, file_id, attempt = run.id, run.key, run.file_id, run.attempts
            values = dict(run.hyperparameters or {})
            staged = local_runs.get_file(session, file_id)
            content = staged.content if staged is not None else None
        log.info("worker %s took run %s (attempt %s)", self.name, run_id, attempt)
        self._train(run_id, key, content, values)
        return run_id

    # --- one run ------------------------------------------------------------------------------------

    def _train(self, run_id: int, key: str, content: str | None, values: dict[str, object]) -> None:
        try:
            if content is None:
                raise TrainingDataError("the run's training file is not in the database")
            rows = read_rows(content)
            params = LocalHyperparameters.merged(values, self.defaults)
        except ValueError as exc:
            self._end(run_id, LocalRunState.FAILED, error_message=f"the run cannot be trained: {exc}")
            return
        adapter_dir = self.adapters_dir / adapter_name(run_id, key)
        stop = _Stop()
        keepalive = threading.Event()
        beating = threading.Thread(target=self._keep_alive, args=(run_id, stop, keepalive), daemon=True,
                                   name=f"heartbeat-{run_id}")
        beating.start()

        last_beat: list[datetime] = []

        def on_step(report: StepReport) -> None:
            # the first step, the last, and then once per `progress_every`: a write per step would cost a
            # small model's training a tenth of its time, and a cancel seen a second later is soon enough
            now = self.clock.now()
            if not last_beat or now - last_beat[0] >= self.progress_every or report.step >= report.total_steps:
                last_beat[:] = [now]
                progress = local_runs.RunProgress(step=report.step, total_steps=report.total_steps, epoch=report.epoch,
                                                  total_epochs=report.total_epochs, loss=report.loss)
                self._beat(run_id, stop, progress)
            if self.on_step is not None:
                self.on_step(run_id, report)

        def should_stop() -> bool:
            if self._shutdown.is_set():
                stop.set("shutdown")
            return stop.reason is not None

        try:
            self.adapters_dir.mkdir(parents=True, exist_ok=True)
            result = train_lora(self.base_model_dir, rows, params, adapter_dir, on_step=on_step, should_stop=should_stop)
        except TrainingStopped as stopped:
            self._stopped(run_id, stop.reason, str(stopped))
            return
        except Exception as exc:  # training failed: one line on the run and in the log, the traceback at DEBUG
            message = f"training failed: {type(exc).__name__}: {_first_line(exc)}"
            if not self.base_model_dir.joinpath("config.json").is_file():
                message += f" (LOCAL_BASE_MODEL={self.base_model_dir} holds no config.json)"
            log.debug("run %s failed", run_id, exc_info=True)
            self._end(run_id, LocalRunState.FAILED, error_message=message[:MESSAGE_LIMIT])
            return
        finally:
            keepalive.set()
            beating.join(timeout=5)
        last = result.losses[-1] if result.losses else None
        done = local_runs.RunProgress(step=result.steps, total_steps=result.steps, loss=last).values()
        if self._end(run_id, LocalRunState.SUCCEEDED, artifact=str(adapter_dir.absolute()), error_message=None, **done):
            log.info("run %s trained in %.1f s (%s steps, last loss %s): %s", run_id, result.seconds, result.steps,
                     f"{last:.4f}" if last is not None else "unknown", adapter_dir)
            return
        # cancelled in the last moments (or taken away): the adapter is not this run's result any more
        if self._end(run_id, LocalRunState.CANCELLED):
            log.info("run %s was cancelled as it finished; its adapter is discarded", run_id)
        _remove(adapter_dir)

    def _beat(self, run_id: int, stop: _Stop, progress: local_runs.RunProgress | None = None) -> None:
        try:
            with self.db.session() as session:
                state = local_runs.beat(session, run_id, self.name, self.clock.now(), progress)
        except SQLAlchemyError as exc:  # a missed beat is not fatal; a long outage makes the run stale
            log.warning("run %s: heartbeat failed (%s)", run_id, _first_line(exc))
            return
        if state is LocalRunState.CANCELLING:
            stop.set("cancel")
        elif state is None:
            stop.set("lost")

    def _keep_alive(self, run_id: int, stop: _Stop, done: threading.Event) -> None:
        while not done.wait(self.keepalive_seconds):
            self._beat(run_id, stop)

    def _stopped(self, run_id: int, reason: str | None, detail: str) -> None:
        if reason == "cancel":
            self._end(run_id, LocalRunState.CANCELLED)
            log.info("run %s cancelled: %s", run_id, detail)
        elif reason == "shutdown":
            with self.db.session() as session:
                local_runs.release(session, run_id, self.name, self.clock.now())
            log.info("run %s put back in the queue: the worker is shutting down (%s)", run_id, detail)
        else:
            log.warning("run %s was taken from this worker (its heartbeat had gone stale); stopped: %s", run_id, detail)

    def _end(self, run_id: int, target: LocalRunState, **fields: object) -> bool:
        with self.db.session() as session:
            return local_runs.finish(session, run_id, self.name, target, self.clock.now(), **fields)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [""])[0][:300]


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
