"""One process at a time on the pipeline: a live holder keeps its lease by its heartbeat, a killed one loses it
within seconds, and a clean stop gives it back at once. Real databases, real helper processes."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from openai import OpenAI

from finetune.backends.registry import Backends
from finetune.lease import LEASE_TTL, PIPELINE_LEASE, Lease
from finetune.pipeline import Pipeline, PipelineConfig
from storage import queries
from storage.enums import JobState
from tests.support.factories import BASE
from tests.support.factories import approve_examples as approve
from tests.support.fake_backend import FakeBackend
from tests.support.pipelines import AlwaysAnswers, openai_pipeline
from tests.support.processes import BotProcess
from tests.support.waiting import wait_until

WAITING_LINE = "another bot process is working"


@pytest.fixture
def restarted(db, clock, stub) -> Iterator[Pipeline]:
    """The pipeline of a bot process that has just started, on the OpenAI stand-in."""
    client = OpenAI(api_key="sk-test-key", base_url=stub.base_url, max_retries=0)
    yield openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE, min_examples=10))
    client.close()


@pytest.fixture
def slow_upload(clock) -> Iterator[FakeBackend]:
    """A backend whose upload takes as long as the test wants: the holder is busy working."""
    fake = FakeBackend(clock.now)
    fake.state.stage_gate = threading.Event()
    yield fake
    fake.state.stage_gate.set()


def fake_pipeline(db, clock, fake: FakeBackend, lease: Lease | None = None) -> Pipeline:
    return Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig(base_model="fake-base", min_examples=3), AlwaysAnswers(),
                    lease=lease)


def lease_expiry(db):
    with db.session() as session:
        row = queries.lease_holder(session, PIPELINE_LEASE)
        return row.expires_at if row else None


def test_a_lease_left_by_a_killed_process_is_taken_over_within_seconds_and_the_wait_is_logged_once(
        db, database_url, clock, stub, restarted, caplog):
    holder = BotProcess("lease", database_url, clock.now().isoformat())
    holder.go()
    assert holder.said() == "held"
    approve(db, clock, 10)
    caplog.set_level(logging.INFO)
    assert restarted.tick().outcome == "busy"  # alive: it is working
    holder.kill9()  # kill -9 in the middle of its work: no release, no more heartbeats
    for _ in range(10):  # the restarted bot polls every second meanwhile
        clock.advance(1)
        assert restarted.poll() == []
    clock.advance(6)  # 16 s since its last heartbeat: seconds, not the 15 minutes a lease used to last
    result = restarted.tick()
    assert result.outcome == "submitted" and len(stub.jobs()) == 1
    waits = [r for r in caplog.records if WAITING_LINE in r.getMessage().lower()]
    assert len(waits) == 1, [r.getMessage() for r in waits]


def test_the_holder_heartbeats_while_it_works_so_a_long_step_keeps_its_lease(db, clock, slow_upload):
    working = fake_pipeline(db, clock, slow_upload, Lease(db, clock, heartbeat_seconds=0.02))
    other = fake_pipeline(db, clock, FakeBackend(clock.now))
    approve(db, clock, 3)
    results = []
    thread = threading.Thread(target=lambda: results.append(working.tick()))
    thread.start()
    assert slow_upload.state.staging.wait(10)
    clock.advance(16 * 60)  # longer than any lease lasts unrenewed
    wait_until(lambda: lease_expiry(db) == clock.now() + LEASE_TTL)  # renewed by the heartbeat, not by a step
    assert other.tick().outcome == "busy" and other.poll() == []
    slow_upload.state.stage_gate.set()
    thread.join(10)
    assert results[0].outcome == "submitted" and len(slow_upload.state.runs) == 1
    assert other.tick().outcome == "in_flight"  # given back when the work ended


def test_a_clean_stop_gives_the_lease_back_at_once_and_the_stopped_process_goes_no_further(db, clock, slow_upload):
    stopping = fake_pipeline(db, clock, slow_upload)
    successor = fake_pipeline(db, clock, FakeBackend(clock.now))
    approve(db, clock, 3)
    thread = threading.Thread(target=stopping.tick)
    thread.start()
    assert slow_upload.state.staging.wait(10)
    stopping.close()  # SIGTERM: the bot stops while its upload is still under way
    assert successor.tick().outcome == "in_flight"  # no wait for the lease to run out
    slow_upload.state.stage_gate.set()
    thread.join(10)
    with db.session() as session:
        assert queries.latest_job(session).state == JobState.UPLOADED  # the step it was in is recorded...
    assert slow_upload.state.runs == {}  # ...and it submits nothing after its stop
    assert stopping.tick().outcome == "busy"  # a stopped pipeline takes no more work
