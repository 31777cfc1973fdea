"""Queries of the self-hosted backend's tables (local_files, local_runs), each in the caller's session.

Every move of a run is a compare-and-set (an UPDATE that names the state, and the worker, it expects), so
two workers never take the same run, on SQLite and on PostgreSQL alike: under PostgreSQL's read committed,
the second UPDATE waits for the first to commit, reads the row again and no longer matches.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.enums import LocalRunState
from storage.models import LocalFile, LocalRun

ACTIVE = (LocalRunState.RUNNING, LocalRunState.CANCELLING)
FINISHED = (LocalRunState.SUCCEEDED, LocalRunState.FAILED, LocalRunState.CANCELLED)
WORKER_NAME_LENGTH = 100


def _changed(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount or 0


@dataclass(frozen=True)
class RunProgress:
    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    total_epochs: float | None = None
    loss: float | None = None

    def values(self) -> dict[str, Any]:
        """Only the parts known: an unknown part never erases one written before."""
        return {name: value for name, value in vars(self).items() if value is not None}


# --- files ----------------------------------------------------------------------------------------


def create_file(session: Session, filename: str, content: str, now: datetime) -> int:
    staged = LocalFile(filename=filename[:200], content=content, created_at=now)
    session.add(staged)
    session.flush()
    return staged.id


def forget_file(session: Session, file_id: int) -> None:
    """Empties a staged file once its job no longer needs it; the row stays for the runs that name it."""
    staged = session.get(LocalFile, file_id)
    if staged is not None:
        staged.content = ""


def get_file(session: Session, file_id: int) -> LocalFile | None:
    return session.get(LocalFile, file_id)


# --- runs: the backend's side ---------------------------------------------------------------------


def enqueue_run(session: Session, *, key: str, base_model: str, file_id: int, method: str,
                hyperparameters: dict[str, Any], now: datetime) -> tuple[LocalRun, bool]:
    """Queues one run under `key`; (the run, True) when new, (the run already under that key, False) if not."""
    try:
        with session.begin_nested():
            run = LocalRun(key=key, state=LocalRunState.QUEUED, base_model=base_model, file_id=file_id, method=method,
                           hyperparameters=dict(hyperparameters), attempts=0, created_at=now)
            session.add(run)
    except IntegrityError:
        existing = run_by_key(session, key)
        if existing is None:  # not the key's uniqueness: a file that is not there, say
            raise
        return existing, False
    return run, True


def get_run(session: Session, run_id: int) -> LocalRun | None:
    return session.get(LocalRun, run_id)


def run_by_key(session: Session, key: str) -> LocalRun | None:
    return session.scalar(select(LocalRun).where(LocalRun.key == key))


def count_runs(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(LocalRun)) or 0)


def request_cancel(session: Session, run_id: int, now: datetime) -> LocalRunState | None:
    """A queued run is cancelled at once; a running one goes to CANCELLING and its worker stops at its next
    step. Returns the run's state afterwards (None when there is no such run); an ended run stays as it is."""
    if _changed(session.execute(
        update(LocalRun).where(LocalRun.id == run_id, LocalRun.state == LocalRunState.QUEUED)
        .values(state=LocalRunState.CANCELLED, finished_at=now).execution_options(synchronize_session=False)
    )) == 0:
        session.execute(
            update(LocalRun).where(LocalRun.id == run_id, LocalRun.state == LocalRunState.RUNNING)
            .values(state=LocalRunState.CANCELLING).execution_options(synchronize_session=False)
        )
    session.expire_all()
    run = get_run(session, run_id)
    return None if run is None else LocalRunState(run.state)


# --- runs: the worker's side ----------------------------------------------------------------------


def claim_next(session: Session, worker: str, now: datetime, *, tries: int = 5) -> LocalRun | None:
    """Takes the oldest queued run for `worker`, or None. A run another worker took first is skipped."""
    worker = worker[:WORKER_NAME_LENGTH]
    for _ in range(tries):
        run_id = session.scalar(select(LocalRun.id).where(LocalRun.state == LocalRunState.QUEUED)
                                .order_by(LocalRun.id).limit(1))
        if run_id is None:
            return None
        won = _changed(session.execute(
            update(LocalRun).where(LocalRun.id == run_id, LocalRun.state == LocalRunState.QUEUED)
            .values(state=LocalRunState.RUNNING, worker=worker, heartbeat_at=now, started_at=now,
                    attempts=LocalRun.attempts + 1, error_message=None)
            .execution_options(synchronize_session=False)
        ))
        session.expire_all()
        if won:
            return get_run(session, run_id)
    return None


def beat(session: Session, run_id: int, worker: str, now: datetime, progress: RunProgress | None = None) -> LocalRunState | None:
    """The worker's heartbeat (and progress, when given) on a run it still holds. Returns the run's state:
    RUNNING to go on, CANCELLING to stop; None when the run is not this worker's any more (requeued after a
    stale heartbeat, and maybe taken by another worker), which also means stop."""
    values: dict[str, Any] = {"heartbeat_at": now, **(progress.values() if progress else {})}
    result = session.execute(
        update(LocalRun)
        .where(LocalRun.id == run_id, LocalRun.worker == worker[:WORKER_NAME_LENGTH], LocalRun.state.in_(ACTIVE))
        .values(**values).execution_options(synchronize_session=False)
    )
    session.expire_all()
    if not _changed(result):
        return None
    run = get_run(session, run_id)
    return None if run is None else LocalRunState(run.state)


def finish(session: Session, run_id: int, worker: str, target: LocalRunState, now: datetime, **fields: Any) -> bool:
    """Ends a run this worker holds: SUCCEEDED or FAILED from RUNNING, CANCELLED from either active state.
    A run cancelled meanwhile does not succeed: finishing it SUCCEEDED then fails and the caller cancels it."""
    assert target in FINISHED, target
    expected = ACTIVE if target in (LocalRunState.CANCELLED, LocalRunState.FAILED) else (LocalRunState.RUNNING,)
    result = session.execute(
        update(LocalRun)
        .where(LocalRun.id == run_id, LocalRun.worker == worker[:WORKER_NAME_LENGTH], LocalRun.state.in_(expected))
        .values(state=target, finished_at=now, heartbeat_at=now, **fields).execution_options(synchronize_session=False)
    )
    session.expire_all()
    return bool(_changed(result))


def release(session: Session, run_id: int, worker: str, now: datetime) -> bool:
    """A worker shutting down hands its run back: queued again without counting the try (or cancelled, when
    a cancel was asked meanwhile)."""
    mine = (LocalRun.id == run_id, LocalRun.worker == worker[:WORKER_NAME_LENGTH])
    changed = _changed(session.execute(
        update(LocalRun).where(*mine, LocalRun.state == LocalRunState.RUNNING)
        .values(state=LocalRunState.QUEUED, worker=None, heartbeat_at=None, attempts=LocalRun.attempts - 1)
        .execution_options(synchronize_session=False)
    )) or _changed(session.execute(
        update(LocalRun).where(*mine, LocalRun.state == LocalRunState.CANCELLING)
        .values(state=LocalRunState.CANCELLED, finished_at=now)
        .execution_options(synchronize_session=False)
    ))
    session.expire_all()
    return bool(changed)


def requeue_stale(session: Session, now: datetime, stale_after: timedelta, max_attempts: int) -> Sequence[LocalRun]:
    """Runs whose worker stopped beating: queued again, or failed once they have been tried `max_attempts`
    times; a stale run that was being cancelled is cancelled. Returns the runs it moved, as they are now."""
    cutoff = now - stale_after
    stale = session.scalars(select(LocalRun).where(LocalRun.state.in_(ACTIVE), LocalRun.heartbeat_at < cutoff)).all()
    moved: list[int] = []
    for run in stale:
        state, worker, attempts = LocalRunState(run.state), run.worker, run.attempts
        if state is LocalRunState.CANCELLING:
            values: dict[str, Any] = {"state": LocalRunState.CANCELLED, "finished_at": now}
        elif attempts >= max_attempts:
            values = {"state": LocalRunState.FAILED, "finished_at": now,
                      "error_message": f"the training worker stopped answering (no heartbeat for {_duration(stale_after)}) "
                                       f"{attempts} times; check the worker's log, its memory and its GPU"}
        else:
            values = {"state": LocalRunState.QUEUED, "worker": None, "heartbeat_at": None,
                      "error_message": f"worker {worker} stopped answering (no heartbeat for {_duration(stale_after)}); "
                                       f"queued again (attempt {attempts} of {max_attempts})"}
        if _changed(session.execute(
            update(LocalRun).where(LocalRun.id == run.id, LocalRun.state == state, LocalRun.worker == worker,
                                   LocalRun.heartbeat_at < cutoff)
            .values(**values).execution_options(synchronize_session=False)
        )):
            moved.append(run.id)
    session.expire_all()
    runs = (get_run(session, run_id) for run_id in moved)
    return [run for run in runs if run is not None]


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"
