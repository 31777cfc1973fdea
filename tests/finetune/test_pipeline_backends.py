"""The pipeline on any backend, through the in-memory one: train, deploy, smoke-test, swap; and each way it can stall."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from finetune.backend import BackendUnavailable
from finetune.backends.registry import Backends
from finetune.chat import ModelUnavailable
from finetune.pipeline import Pipeline, PipelineConfig
from finetune.reply_model import ReplyModel
from finetune.views import JobNotice
from storage import queries
from storage.enums import JobState, NotificationKind
from tests.support.factories import approve_examples as approve
from tests.support.fake_backend import FakeBackend

BASE = "fake-base"


@dataclass
class Smoke:
    """Stands in for the chat endpoint the smoke test asks: records each model, fails while told to."""

    asked: list[str] = field(default_factory=list)
    failing: int = 0

    def check(self, model: str) -> None:
        self.asked.append(model)
        if self.failing:
            self.failing -= 1
            raise ModelUnavailable("the model answered with an error 503")


@pytest.fixture
def fake(clock) -> FakeBackend:
    return FakeBackend(clock.now)


@pytest.fixture
def smoke() -> Smoke:
    return Smoke()


@pytest.fixture
def pipeline(db, clock, fake, smoke) -> Pipeline:
    return Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig(base_model=BASE, min_examples=3), smoke)


def job(db):
    with db.session() as session:
        return queries.latest_job(session)


def notes(db) -> list[NotificationKind]:
    with db.session() as session:
        return [n.kind for n in queries.pending_notifications(session)]


def test_a_trained_run_is_deployed_smoke_tested_and_only_then_swapped_in(pipeline, db, clock, fake, smoke):
    approve(db, clock, 3)
    assert pipeline.tick().outcome == "submitted"
    fake.start_runs(step=4, loss=1.25)
    [view] = pipeline.poll()
    assert view.state == JobState.SUBMITTED and view.progress == "step 4/10 · epoch 1/3 · training loss 1.250"
    fake.finish_runs()
    [view] = pipeline.poll()  # trained; the deploy is under way
    assert view.state == JobState.DEPLOYING and view.artifact == "adapter-run-1"
    assert ReplyModel(db, clock, BASE).current() == BASE and smoke.asked == []
    fake.finish_runs()  # the deploy is ready
    [view] = pipeline.poll()
    assert view.state == JobState.SUCCEEDED and view.fine_tuned_model == "served-adapter-run-1"
    assert view.served_where == "the fake server" and smoke.asked == ["served-adapter-run-1"]
    assert ReplyModel(db, clock, BASE).current() == "served-adapter-run-1"
    assert notes(db) == [NotificationKind.JOB_SUBMITTED, NotificationKind.JOB_SUCCEEDED]


def test_a_failed_smoke_test_keeps_the_current_model_is_told_once_and_retried(pipeline, db, clock, fake, smoke):
    smoke.failing = 3
    fake.state.instant_deploys = True
    approve(db, clock, 3)
    pipeline.tick()
    fake.finish_runs()
    for _ in range(3):
        [view] = pipeline.poll()
        assert view.state == JobState.DEPLOYING
        assert ReplyModel(db, clock, BASE).current() == BASE
    assert "smoke test" in view.error_message and view.attempts == 3
    assert notes(db).count(NotificationKind.DEPLOY_FAILED) == 1
    [view] = pipeline.poll()
    assert view.state == JobState.SUCCEEDED and ReplyModel(db, clock, BASE).current() == view.fine_tuned_model


def test_a_deploy_that_keeps_failing_ends_the_job_and_keeps_the_model(db, clock, fake, smoke):
    pipeline = Pipeline(db, Backends.of(fake.backend), clock,
                        PipelineConfig(base_model=BASE, min_examples=3, max_deploy_attempts=3), smoke)
    fake.state.deploy_errors = [BackendUnavailable("vLLM could not be reached")] * 5
    approve(db, clock, 3)
    pipeline.tick()
    fake.finish_runs()
    states = [pipeline.poll()[0].state for _ in range(3)]
    assert states == [JobState.TRAINED, JobState.TRAINED, JobState.FAILED]
    assert job(db).state == JobState.FAILED and "the deploy failed 3 times" in job(db).error_message
    assert ReplyModel(db, clock, BASE).current() == BASE
    assert notes(db).count(NotificationKind.DEPLOY_FAILED) == 1 and notes(db)[-1] == NotificationKind.JOB_FAILED


def test_an_adapter_the_server_refuses_ends_the_job_with_the_reason_and_keeps_the_model(pipeline, db, clock, fake):
    from finetune.backend import BackendRefused

    fake.state.deploy_errors = [BackendRefused("LoRA rank 64 is greater than max_lora_rank 16.", status=400)]
    approve(db, clock, 3)
    pipeline.tick()
    fake.finish_runs()
    [view] = pipeline.poll()
    assert view.state == JobState.FAILED and view.error_message == (
        "the deploy was refused: LoRA rank 64 is greater than max_lora_rank 16.")
    assert ReplyModel(db, clock, BASE).current() == BASE and notes(db)[-1] == NotificationKind.JOB_FAILED


def test_a_job_resumes_on_the_backend_it_started_on_whatever_the_setting_says_now(db, clock, smoke):
    first, second = FakeBackend(clock.now, name="first"), FakeBackend(clock.now, name="second")
    before = Pipeline(db, Backends.of(first.backend, second.backend), clock, PipelineConfig(BASE, min_examples=3), smoke)
    approve(db, clock, 3)
    before.tick()
    clock.advance(16 * 60)  # the old process is gone and its lease with it
    after = Pipeline(db, Backends.of(second.backend, first.backend), clock, PipelineConfig(BASE, min_examples=3), smoke)
    first.finish_runs()
    after.poll()
    first.finish_runs()
    [view] = after.poll()
    assert view.state == JobState.SUCCEEDED and view.backend == "first" and second.state.runs == {}
    assert after.status().backend == "second"  # new jobs go to the configured one


def test_cancelling_a_trained_job_never_swaps_it_in_and_unloads_it(pipeline, db, clock, fake):
    approve(db, clock, 3)
    pipeline.tick()
    fake.finish_runs()
    [view] = pipeline.poll()
    assert view.state == JobState.DEPLOYING
    assert pipeline.cancel().outcome == "cancelled"
    assert job(db).state == JobState.CANCELLED and fake.state.undeployed == ["served-adapter-run-1"]
    assert ReplyModel(db, clock, BASE).current() == BASE


def test_the_previous_model_stays_loaded_for_rollback_and_older_ones_are_unloaded(pipeline, db, clock, fake):
    for round_ in range(3):
        approve(db, clock, 3, start=round_ * 3)
        pipeline.tick()
        fake.finish_runs()
        pipeline.poll()
        fake.finish_runs()
        pipeline.poll()
    assert ReplyModel(db, clock, BASE).current() == "served-adapter-run-3"
    assert fake.state.undeployed == ["served-adapter-run-1"]


def test_a_refusal_carries_what_to_do_to_the_notification(pipeline, db, clock, fake):
    fake.state.refusing = True
    approve(db, clock, 3)
    assert pipeline.tick().outcome == "refused"
    with db.session() as session:
        [note] = queries.pending_notifications(session)
        notice = JobNotice.read(note.kind, note.payload)
    assert notice.kind == NotificationKind.JOB_REFUSED and notice.job.advice == "Try another backend."


def test_the_backends_minimum_is_the_floor_of_a_manual_run(db, clock, smoke):
    strict = FakeBackend(clock.now, min_examples=5)
    pipeline = Pipeline(db, Backends.of(strict.backend), clock, PipelineConfig(BASE, min_examples=1), smoke)
    approve(db, clock, 3)
    result = pipeline.tick(trigger="manual")
    assert result.outcome == "not_enough" and "at least 5" in result.message


@pytest.mark.parametrize("forgets", [False, True])
def test_a_forgetful_serving_end_gets_its_model_back_and_a_lasting_one_is_not_asked(db, clock, smoke, forgets):
    fake = FakeBackend(clock.now, serving_forgets=forgets)
    pipeline = Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig(BASE, min_examples=3), smoke)
    approve(db, clock, 3)
    fake.state.instant_deploys = True
    pipeline.tick()
    fake.finish_runs()
    pipeline.poll()
    assert job(db).state == JobState.SUCCEEDED
    fake.state.deployed.clear()  # the server restarted: what it had loaded is gone
    if not forgets:  # deploys that last: "not found" means retired, and deploying again would not help
        assert pipeline.restore("served-adapter-run-1") is False and fake.state.deployed == set()
        return
    assert pipeline.restore("served-adapter-run-1") is True and "served-adapter-run-1" in fake.state.deployed
    assert pipeline.restore("a-model-no-job-made") is False
