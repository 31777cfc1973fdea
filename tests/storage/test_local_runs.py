"""The local backend's run queue: one run per key, claimed by one worker, heartbeats, cancel, stale runs."""
from __future__ import annotations

import threading
from datetime import timedelta

from storage import local_runs
from storage.enums import LocalRunState

STALE = timedelta(minutes=10)


def queue(db, clock, key: str) -> int:
    with db.session() as session:
        file_id = local_runs.create_file(session, f"{key}.jsonl", '{"prompt": [], "completion": []}\n', clock.now())
        run, created = local_runs.enqueue_run(session, key=key, base_model="base", file_id=file_id, method="sft",
                                              hyperparameters={"epochs": 1}, now=clock.now())
        assert created
        return run.id


def test_one_key_makes_one_run(db, clock):
    first = queue(db, clock, "job-1")
    with db.session() as session:
        file_id = local_runs.create_file(session, "again.jsonl", "{}\n", clock.now())
        again, created = local_runs.enqueue_run(session, key="job-1", base_model="base", file_id=file_id, method="sft",
                                                hyperparameters={}, now=clock.now())
        assert not created and again.id == first
        assert local_runs.count_runs(session) == 1
        assert local_runs.run_by_key(session, "job-1").id == first
        assert local_runs.run_by_key(session, "job-2") is None


def test_workers_take_queued_runs_oldest_first_and_never_the_same_one(db, clock):
    first, second = queue(db, clock, "job-1"), queue(db, clock, "job-2")
    with db.session() as session:
        taken = local_runs.claim_next(session, "worker-a", clock.now())
        assert taken.id == first and taken.state == LocalRunState.RUNNING and taken.attempts == 1
    with db.session() as session:
        assert local_runs.claim_next(session, "worker-b", clock.now()).id == second
    with db.session() as session:
        assert local_runs.claim_next(session, "worker-c", clock.now()) is None


def test_racing_workers_split_the_queue_without_overlap(db, clock):
    ids = {queue(db, clock, f"job-{n}") for n in range(12)}
    taken: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    start = threading.Barrier(len(taken))

    def work(name: str) -> None:
        start.wait()
        while True:
            with db.session() as session:
                run = local_runs.claim_next(session, name, clock.now(), tries=50)
                if run is None:
                    return
                taken[name].append(run.id)

    threads = [threading.Thread(target=work, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    claimed = [run_id for runs in taken.values() for run_id in runs]
    assert sorted(claimed) == sorted(ids)  # every run once, none twice


def test_a_heartbeat_reports_progress_and_tells_the_worker_to_stop_after_a_cancel(db, clock):
    run_id = queue(db, clock, "job-1")
    with db.session() as session:
        local_runs.claim_next(session, "worker-a", clock.now())
    progress = local_runs.RunProgress(step=3, total_steps=9, epoch=1.0, total_epochs=3.0, loss=2.5)
    with db.session() as session:
        assert local_runs.beat(session, run_id, "worker-a", clock.now(), progress) is LocalRunState.RUNNING
        assert local_runs.beat(session, run_id, "worker-b", clock.now()) is None  # not worker-b's run
    with db.session() as session:
        run = local_runs.get_run(session, run_id)
        assert (run.step, run.total_steps, run.epoch, run.loss) == (3, 9, 1.0, 2.5)
        assert local_runs.request_cancel(session, run_id, clock.now()) is LocalRunState.CANCELLING
    with db.session() as session:
        assert local_runs.beat(session, run_id, "worker-a", clock.now()) is LocalRunState.CANCELLING
        # a cancelled run never ends succeeded, even when its last step had already run
        assert not local_runs.finish(session, run_id, "worker-a", LocalRunState.SUCCEEDED, clock.now())
        assert local_runs.finish(session, run_id, "worker-a", LocalRunState.CANCELLED, clock.now())
        assert local_runs.get_run(session, run_id).state == LocalRunState.CANCELLED


def test_a_queued_run_is_cancelled_at_once_and_an_ended_one_stays_ended(db, clock):
    run_id = queue(db, clock, "job-1")
    with db.session() as session:
        assert local_runs.request_cancel(session, run_id, clock.now()) is LocalRunState.CANCELLED
        assert local_runs.claim_next(session, "worker-a", clock.now()) is None
        assert local_runs.request_cancel(session, run_id, clock.now()) is LocalRunState.CANCELLED
        assert local_runs.request_cancel(session, 999, clock.now()) is None


def test_a_run_whose_worker_stopped_beating_is_queued_again_then_failed_after_a_few_tries(db, clock):
    run_id = queue(db, clock, "job-1")
    for attempt in (1, 2):
        with db.session() as session:
            assert local_runs.claim_next(session, f"worker-{attempt}", clock.now()).attempts == attempt
        clock.advance(minutes=5)
        with db.session() as session:
            assert local_runs.requeue_stale(session, clock.now(), STALE, max_attempts=2) == []  # still fresh
        clock.advance(minutes=6)
        with db.session() as session:
            moved = local_runs.requeue_stale(session, clock.now(), STALE, max_attempts=2)
            assert [run.id for run in moved] == [run_id]
        with db.session() as session:
            run = local_runs.get_run(session, run_id)
            if attempt == 1:
                assert run.state == LocalRunState.QUEUED and "worker-1 stopped answering" in run.error_message
                # the dead worker, should it wake up, holds nothing any more
                assert local_runs.beat(session, run_id, "worker-1", clock.now()) is None
            else:
                assert run.state == LocalRunState.FAILED and "stopped answering" in run.error_message


def test_a_stale_run_that_was_being_cancelled_ends_cancelled(db, clock):
    run_id = queue(db, clock, "job-1")
    with db.session() as session:
        local_runs.claim_next(session, "worker-a", clock.now())
        local_runs.request_cancel(session, run_id, clock.now())
    clock.advance(minutes=11)
    with db.session() as session:
        local_runs.requeue_stale(session, clock.now(), STALE, max_attempts=3)
        assert local_runs.get_run(session, run_id).state == LocalRunState.CANCELLED
