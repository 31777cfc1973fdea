"""The pipeline hands the clean files to the backend: a DPO job on OpenAI's stand-in, the held-out examples as a
validation file, a converted file where weights would be ignored, and a method the backend cannot train refused."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from openai import OpenAI

from finetune.backend import Method
from finetune.backends.registry import Backends
from finetune.corrections import save_correction
from finetune.pipeline import Pipeline, PipelineConfig
from finetune.votes import Vote, record_vote
from sandbox.openai_stub import OpenAIStub
from storage import queries
from tests.support.factories import BASE, answered_reply
from tests.support.factories import approve_examples as approve
from tests.support.fake_backend import FakeBackend
from tests.support.pipelines import AlwaysAnswers, openai_pipeline


@pytest.fixture
def client(stub) -> Iterator[OpenAI]:
    client = OpenAI(api_key="sk-test-key", base_url=stub.base_url, max_retries=0)
    yield client
    client.close()


def corrected_reviews(db, clock, count: int) -> None:
    """The team improved `count` of the bot's reviews: each (correction, original) is a preference pair."""
    for n in range(count):
        with db.session() as session:
            ts = answered_reply(session, clock, n, model=BASE, text=f"Gadget {n} is fine.",
                                messages=[{"role": "system", "content": "Be upbeat."},
                                          {"role": "user", "content": f"Review this product: gadget {n}"}]).ts
        save_correction(db, clock, queries.EVERYONE, channel="C1", ts=ts, user="U3", text=f"Gadget {n} ROCKS, buy it!")
        clock.advance(1)  # someone other than the corrector approves the correction
        record_vote(db, clock, Vote("C1", ts, "U4", "+1", True, None), queries.EVERYONE)


def created(stub: OpenAIStub) -> dict:
    return stub.requests_to("POST", "/v1/fine_tuning/jobs")[-1].json


def test_with_finetune_method_dpo_the_pipeline_creates_a_dpo_job_on_a_valid_preference_file(db, clock, stub, client):
    corrected_reviews(db, clock, 12)
    pipeline = openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE, min_examples=10, method=Method.DPO))
    result = pipeline.tick()
    assert result.outcome == "submitted", result.message
    body = created(stub)
    assert body["method"]["type"] == "dpo"
    rows = [json.loads(line) for line in stub.file_content(body["training_file"]).decode().splitlines()]
    assert len(rows) == 12 and set(rows[0]) == {"input", "preferred_output", "non_preferred_output"}
    assert rows[0]["preferred_output"] == [{"role": "assistant", "content": "Gadget 0 ROCKS, buy it!"}]
    clock.advance(60)
    [view] = pipeline.poll()
    assert view.state == "succeeded", view.error_message  # the stand-in validated the file as DPO and trained it
    with db.session() as session:
        assert queries.latest_job(session).method == "dpo"


def test_from_the_holdout_minimum_the_held_out_examples_go_with_the_job_as_its_validation_file(db, clock, stub, client):
    approve(db, clock, 60)
    pipeline = openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE, min_examples=10, holdout_min=50))
    assert pipeline.tick().outcome == "submitted"
    body = created(stub)
    training = stub.file_content(body["training_file"]).decode().splitlines()
    validation = stub.file_content(body["validation_file"]).decode().splitlines()
    assert validation and len(training) + len(validation) == 60 and not set(training) & set(validation)
    clock.advance(60)
    [view] = pipeline.poll()
    assert view.state == "succeeded" and view.example_count == len(training)
    with db.session() as session:
        assert queries.example_counts(session).untrained == 0  # held out is used, not waiting to be trained


def test_below_the_holdout_minimum_no_validation_file_is_sent(db, clock, stub, client):
    approve(db, clock, 12)
    pipeline = openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE, min_examples=10, holdout_min=50))
    assert pipeline.tick().outcome == "submitted"
    assert "validation_file" not in created(stub)


def thread_with_two_approved_answers(db, clock) -> None:
    system, history = {"role": "system", "content": "Be upbeat."}, []
    with db.session() as session:
        for n, (question, answer) in enumerate([("Review: a mug", "A mug."), ("Colour?", "Ruby RED!"),
                                                ("Dishwasher safe?", "Absolutely!")]):
            reply = answered_reply(session, clock, n, model=BASE, text=answer, thread_ts="1.0",
                                   messages=[system, *history, {"role": "user", "content": question}])
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            if n:
                queries.add_approval(session, reply, "U2", "+1", clock.now())


def test_the_backend_gets_the_validation_file_and_one_that_ignores_weights_gets_converted_files(db, clock):
    fake = FakeBackend(clock.now, honours_weight=False)
    thread_with_two_approved_answers(db, clock)
    pipeline = Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig(base_model=BASE, min_examples=1), AlwaysAnswers())
    assert pipeline.tick().outcome == "submitted"
    [request] = fake.state.requests
    assert request.validation_file is None and request.method is Method.SFT
    staged = [json.loads(line) for line in fake.state.files[request.training_file].decode().splitlines()]
    assert [row["completion"][0]["content"] for row in staged] == ["Ruby RED!", "Absolutely!"]
    assert all(set(row) == {"prompt", "completion"} for row in staged)
    assert pipeline.training_file().content == fake.state.files[request.training_file]  # /finetune export: the same


def test_the_fake_backend_records_the_validation_file_it_was_given(db, clock):
    fake = FakeBackend(clock.now)
    approve(db, clock, 60)
    pipeline = Pipeline(db, Backends.of(fake.backend), clock,
                        PipelineConfig(base_model=BASE, min_examples=1, holdout_min=50), AlwaysAnswers())
    assert pipeline.tick().outcome == "submitted"
    [request] = fake.state.requests
    assert request.validation_file in fake.state.files and request.validation_file != request.training_file
    assert pipeline.training_file().held_out == len(fake.state.files[request.validation_file].decode().splitlines())


def test_a_method_the_backend_cannot_train_is_refused_with_what_to_change(db, clock):
    fake = FakeBackend(clock.now)  # supervised only
    corrected_reviews(db, clock, 3)
    pipeline = Pipeline(db, Backends.of(fake.backend), clock,
                        PipelineConfig(base_model=BASE, min_examples=1, method=Method.DPO), AlwaysAnswers())
    result = pipeline.tick()
    assert result.outcome == "refused"
    assert result.message == ("The fake backend cannot train with FINETUNE_METHOD=dpo: set FINETUNE_METHOD=supervised, "
                              "or choose a backend that offers it.")
    assert fake.state.requests == [] and fake.state.files == {}
    with db.session() as session:
        assert queries.latest_job(session) is None
