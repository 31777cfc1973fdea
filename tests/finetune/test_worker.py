"""The training worker: one queued run at a time, progress as it goes, a cancel that stops it, a dead worker's
run retried and then failed, a shutdown that hands the run back. Real training on the tiny model."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("torch", reason="the training worker needs the [local] extra")

from finetune.backend import Method, RunStatus, TrainingRequest  # noqa: E402
from finetune.worker import MAX_ATTEMPTS, PROGRESS_EVERY, STALE_AFTER, Worker, adapter_name  # noqa: E402
from storage import local_runs  # noqa: E402
from storage.enums import LocalRunState  # noqa: E402
from tests.support.backends import TRAINING_JSONL  # noqa: E402
from tests.support.local_harness import LocalHarness  # noqa: E402


@pytest.fixture
def local(tmp_path, clock) -> Iterator[LocalHarness]:
    made = LocalHarness(tmp_path, clock)
    try:
        yield made
    finally:
        made.close()


def submit(local: LocalHarness, key: str) -> str:
    trainer = local.backend.trainer
    file_ref = trainer.stage(f"{key}.jsonl", trainer.write_training_file(TRAINING_JSONL, Method.SFT))
    return trainer.submit(TrainingRequest(key=key, base_model=local.base_model, training_file=file_ref)).id


def states(local: LocalHarness) -> dict[str, tuple[str, str | None]]:
    with local.db.session() as session:
        return {f"local-{run_id}": (str(run.state), run.worker)
                for run_id in range(1, local_runs.count_runs(session) + 1)
                if (run := local_runs.get_run(session, run_id)) is not None}


def test_a_worker_trains_one_run_at_a_time_oldest_first_and_records_its_progress(local):
    first, second = submit(local, "job-1"), submit(local, "job-2")
    during: list[dict] = []
    local.worker.on_step = lambda run_id, report: during.append(states(local)) if report.step == 1 else None

    assert local.worker.run_once() == 1
    assert during == [{first: ("running", "contract-worker"), second: ("queued", None)}]
    run = local.backend.trainer.get(first)
    assert run.status is RunStatus.SUCCEEDED and run.artifact.endswith(adapter_name(1, "job-1"))
    assert run.progress.step == run.progress.total_steps == 6 and run.progress.loss is not None
    assert run.progress.epoch == pytest.approx(2.0)
    assert local.backend.trainer.get(second).status is RunStatus.QUEUED

    assert local.worker.run_once() == 2 and local.worker.run_once() is None
    assert local.backend.trainer.get(second).status is RunStatus.SUCCEEDED


def test_the_hyperparameters_a_run_trains_with_are_recorded_on_it(local):
    trainer = local.backend.trainer
    file_ref = trainer.stage("job.jsonl", trainer.write_training_file(TRAINING_JSONL, Method.SFT))
    trainer.submit(TrainingRequest(key="job-1", base_model=local.base_model, training_file=file_ref,
                                   hyperparameters={"epochs": 1}))
    with local.db.session() as session:
        recorded = local_runs.get_run(session, 1).hyperparameters
    assert recorded["epochs"] == 1 and recorded["lora_rank"] == 4 and recorded["learning_rate"] == 5e-3
    local.worker.run_once()
    assert local.backend.trainer.get("local-1").progress.total_steps == 3  # one epoch of 10 rows in fours


def test_a_cancel_stops_the_training_at_its_next_step(local, clock):
    run_id = submit(local, "job-1")
    steps: list[int] = []

    def cancel_at_first_step(_run: int, report) -> None:
        steps.append(report.step)
        if report.step == 1:
            assert local.backend.trainer.cancel(run_id).status is RunStatus.CANCELLING
        clock.advance(seconds=PROGRESS_EVERY.total_seconds())  # each step takes a while: the next one reports

    local.worker.on_step = cancel_at_first_step
    local.worker.run_once()
    run = local.backend.trainer.get(run_id)
    assert run.status is RunStatus.CANCELLED and run.artifact is None
    assert steps == [1, 2] and run.progress.total_steps == 6  # stopped two steps in, of six
    assert not any(local.adapters_dir.iterdir())  # nothing half-written left behind
    assert [e.message for e in local.backend.trainer.events(run_id)][-1] == "cancelled"


def test_a_run_whose_worker_died_is_queued_again_and_trained_by_another(local, clock):
    run_id = submit(local, "job-1")
    with local.db.session() as session:  # a worker takes it, then its machine goes away
        local_runs.claim_next(session, "gpu-box-that-died", clock.now())
    clock.advance(seconds=STALE_AFTER.total_seconds() - 60)
    assert local.backend.trainer.get(run_id).status is RunStatus.RUNNING  # not stale yet
    clock.advance(seconds=120)
    requeued = local.backend.trainer.get(run_id)  # the bot's poll notices it, with no live worker needed
    assert requeued.status is RunStatus.QUEUED
    assert any("gpu-box-that-died stopped answering" in e.message for e in local.backend.trainer.events(run_id))
    assert local.worker.run_once() == 1
    done = local.backend.trainer.get(run_id)
    assert done.status is RunStatus.SUCCEEDED
    with local.db.session() as session:
        assert local_runs.get_run(session, 1).attempts == 2


def test_a_run_that_keeps_killing_its_workers_ends_failed_with_the_reason(local, clock):
    run_id = submit(local, "job-1")
    for attempt in range(MAX_ATTEMPTS):
        with local.db.session() as session:
            local_runs.claim_next(session, f"worker-{attempt}", clock.now())
        clock.advance(seconds=STALE_AFTER.total_seconds() + 1)
        local.backend.trainer.get(run_id)
    failed = local.backend.trainer.get(run_id)
    assert failed.status is RunStatus.FAILED
    assert f"stopped answering (no heartbeat for 10 min) {MAX_ATTEMPTS} times" in failed.error_message
    assert local.worker.run_once() is None  # not retried for ever


def test_a_worker_asked_to_stop_hands_its_run_back_untried(local):
    run_id = submit(local, "job-1")
    stop = threading.Event()
    local.worker.on_step = lambda _run, report: stop.set()
    local.worker.run_forever(stop, idle_seconds=0)
    with local.db.session() as session:
        run = local_runs.get_run(session, 1)
        assert run.state == LocalRunState.QUEUED and run.attempts == 0 and run.worker is None
    assert local.backend.trainer.get(run_id).status is RunStatus.QUEUED


def test_a_base_model_that_will_not_load_fails_the_run_in_one_line(local, tmp_path):
    from tests.support.local_harness import broken_model_dir

    run_id = submit(local, "job-1")
    broken = Worker(local.db, local.clock, adapters_dir=local.adapters_dir, base_model_dir=broken_model_dir(tmp_path / "m"),
                    name="w", defaults=local.worker.defaults)
    broken.run_once()
    run = local.backend.trainer.get(run_id)
    assert run.status is RunStatus.FAILED and run.error_message.startswith("training failed: ")
    assert "\n" not in run.error_message and "Traceback" not in run.error_message
