"""The schedule: a cron line starts jobs, an interval polls them; both driven here by a test clock."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from openai import OpenAI

from finetune.cron import parse_cron
from finetune.pipeline import PipelineConfig
from finetune.scheduler import TICK_JOB, FinetuneScheduler
from sandbox.openai_stub import OpenAIStub
from sandbox.schedule import ManualSchedule
from storage.db import Database
from storage.enums import Trigger
from tests.support.factories import approve_examples as approve
from tests.support.pipelines import openai_pipeline

BASE = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def scheduled(tmp_path, clock):
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    db.migrate()
    approve(db, clock, 10)
    hooks: list[str] = []
    with OpenAIStub(clock).start() as stub:
        client = OpenAI(api_key="sk-test-key", base_url=stub.base_url)
        pipeline = openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE))
        scheduler = FinetuneScheduler(pipeline, cron="30 2 * * *", poll_seconds=60, clock=clock,
                                      after_run=[lambda: hooks.append("after")])
        yield ManualSchedule(scheduler, clock), stub, hooks, db
        client.close()
    db.dispose()


def created(stub) -> int:
    return len(stub.requests_to("POST", "/v1/fine_tuning/jobs"))


def polled(stub) -> int:
    return len([r for r in stub.requests_to("GET", "/v1/fine_tuning/jobs/") if r.path.count("/") == 4])


def test_the_nightly_tick_fires_at_its_cron_time_in_utc(scheduled, clock):
    scheduler, stub, hooks, _ = scheduled
    assert scheduler.scheduler.next_tick_at() == datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
    assert scheduler.next_run_at(TICK_JOB) == datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
    clock.set(datetime(2026, 11, 26, 2, 29, tzinfo=UTC))
    assert scheduler.run_pending() == ["finetune-poll"]  # hours of missed polls coalesce into one
    assert created(stub) == 0
    clock.set(datetime(2026, 11, 26, 2, 30, tzinfo=UTC))
    assert "finetune-tick" in scheduler.run_pending()
    assert created(stub) == 1
    assert scheduler.next_run_at(TICK_JOB) == datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
    assert hooks == ["after"] * 3


def test_polls_follow_the_interval(scheduled, clock):
    scheduler, stub, _, _ = scheduled
    scheduler.scheduler.pipeline.tick(trigger=Trigger.MANUAL)
    assert scheduler.run_pending() == ["finetune-poll"] and polled(stub) == 1  # at start-up: resume what is in flight
    clock.advance(30)
    assert scheduler.run_pending() == [] and polled(stub) == 1
    clock.advance(30)
    assert scheduler.run_pending() == ["finetune-poll"] and polled(stub) == 2
    assert stub.jobs()[0]["status"] == "succeeded"
    clock.advance(60)
    assert scheduler.run_pending() == ["finetune-poll"] and polled(stub) == 2  # nothing left in flight to ask about


def test_a_failing_run_is_logged_and_the_schedule_goes_on(scheduled, clock, caplog):
    scheduler, _, hooks, db = scheduled
    assert scheduler.run_pending() == ["finetune-poll"]
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE fine_tune_jobs")
    clock.advance(60)
    assert scheduler.run_pending() == ["finetune-poll"]
    assert any("scheduled poll failed" in r.getMessage() for r in caplog.records)
    clock.advance(60)
    assert scheduler.run_pending() == ["finetune-poll"]
    assert hooks == ["after"] * 3


def test_in_production_the_wall_clock_scheduler_knows_its_next_run(scheduled, clock):
    pipeline = scheduled[0].scheduler.pipeline
    live = FinetuneScheduler(pipeline, cron="0 3 * * *", poll_seconds=60, clock=clock)
    live.start()
    try:
        assert live.next_tick_at().hour == 3
        assert not hasattr(live, "run_pending")  # production carries no test mode: the sandbox drives it from outside
    finally:
        live.shutdown()


def test_a_bad_cron_line_is_reported():
    with pytest.raises(ValueError):
        parse_cron("every night")
