"""Training files the pipeline no longer needs do not stay at the provider with the team's data: once a job
has ended (succeeded, failed, cancelled, refused, or given up before its run was created) its file is deleted.
The real openai client against the OpenAI stand-in; the in-memory backend for a refusal to delete."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from finetune.backends.registry import Backends
from finetune.pipeline import Pipeline, PipelineConfig
from storage import queries
from tests.support.factories import BASE
from tests.support.factories import approve_examples as approve
from tests.support.fake_backend import FakeBackend
from tests.support.pipelines import openai_pipeline

CLIENT_RETRIES = 2


@pytest.fixture
def client(stub) -> Iterator[OpenAI]:
    made = OpenAI(api_key="sk-test-key", base_url=stub.base_url, max_retries=CLIENT_RETRIES)
    yield made
    made.close()


@pytest.fixture
def pipeline(db, clock, client) -> Pipeline:
    return openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE, min_examples=10))


def training_files(stub) -> set[str]:
    return {file_id for file_id, obj in stub.files.items() if obj["purpose"] == "fine-tune"}


def latest(db):
    with db.session() as session:
        return queries.latest_job(session)


def deletes(stub) -> list[str]:
    return [r.path for r in stub.requests if r.method == "DELETE"]


def test_a_succeeded_jobs_training_file_is_deleted_once_and_the_model_keeps_answering(pipeline, db, clock, stub,
                                                                                     client):
    approve(db, clock, 10)
    assert pipeline.tick().outcome == "submitted"
    file_id = latest(db).file_id
    assert training_files(stub) == {file_id}  # in flight: the provider still needs it
    clock.advance(60)
    [view] = pipeline.poll()
    assert view.state == "succeeded" and training_files(stub) == set()
    assert latest(db).file_deleted_at == clock.now() and deletes(stub) == [f"/v1/files/{file_id}"]
    pipeline.poll()
    assert deletes(stub) == [f"/v1/files/{file_id}"]  # deleted once, not on every poll
    answer = client.chat.completions.create(model=view.fine_tuned_model, messages=[{"role": "user", "content": "a lamp"}])
    assert answer.choices[0].message.content  # the fine-tuned model needs no training file to answer


def test_a_file_whose_run_was_never_created_is_deleted_when_the_job_is_given_up(pipeline, db, clock, stub):
    stub.fail_next("jobs.create", 503, count=100, retry_after=0.01)
    approve(db, clock, 10)
    assert pipeline.tick().outcome == "retrying"
    assert len(training_files(stub)) == 1  # uploaded; the job creation keeps failing
    for _ in range(3):
        pipeline.poll()
    [view] = pipeline.poll()
    assert view.state == "failed" and "job creation failed 5 times" in view.error_message
    assert training_files(stub) == set() and latest(db).file_deleted_at is not None


def test_a_refused_or_cancelled_jobs_file_is_deleted(pipeline, db, clock, stub):
    stub.refuse_fine_tuning("Fine-tuning is not available for this organization.")
    approve(db, clock, 10)
    assert pipeline.tick().outcome == "refused"
    assert training_files(stub) == set()  # within the same run
    stub.allow_fine_tuning()
    assert pipeline.tick(trigger="manual").outcome == "submitted"
    assert pipeline.cancel().outcome == "cancelled"
    pipeline.poll()
    assert latest(db).state == "cancelled" and training_files(stub) == set()


def test_a_delete_that_fails_for_now_is_tried_again_on_the_next_poll(pipeline, db, clock, stub):
    approve(db, clock, 10)
    pipeline.tick()
    stub.fail_next("files.delete", 500, count=CLIENT_RETRIES + 1, retry_after=0.01)
    clock.advance(60)
    [view] = pipeline.poll()
    assert view.state == "succeeded" and len(training_files(stub)) == 1 and latest(db).file_deleted_at is None
    pipeline.poll()
    assert training_files(stub) == set() and latest(db).file_deleted_at is not None


def test_a_backend_that_refuses_to_delete_a_file_is_asked_once_and_the_job_still_ends_well(db, clock, caplog):
    class Smoke:
        def check(self, model: str) -> None:
            """The in-memory backend's models answer."""

    fake = FakeBackend(clock.now)
    fake.state.instant_deploys = True
    fake.state.refusing_deletes = True
    pipeline = Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig("fake-base", min_examples=3), Smoke())
    approve(db, clock, 3)
    pipeline.tick()
    fake.finish_runs()
    [view] = pipeline.poll()
    pipeline.poll()
    assert view.state == "succeeded" and fake.state.delete_calls == [latest(db).file_id]  # warned once, not each poll
    assert "refused to delete training file" in caplog.text and latest(db).file_deleted_at is None
