"""What `/finetune status` says about the backend, a job's progress and its deploy, and the base model's end."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

from bot.views.status import status_text
from finetune.backends.registry import Backends
from finetune.pipeline import Pipeline, PipelineConfig
from tests.support.factories import approve_examples as approve
from tests.support.fake_backend import FakeBackend
from tests.support.pipelines import AlwaysAnswers


def text(pipeline: Pipeline, today: date | None = None, **changes) -> str:
    return status_text(replace(pipeline.status(), **changes), None, "0 3 * * *", today)


def test_status_names_the_backend_and_follows_a_job_through_training_and_deploy(db, clock):
    fake = FakeBackend(clock.now, name="local")
    pipeline = Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig("tiny-llama", min_examples=3), AlwaysAnswers())
    assert "Fine-tuning backend: *local*, base model `tiny-llama`" in text(pipeline)
    approve(db, clock, 3)
    pipeline.tick()
    fake.start_runs(step=4, loss=0.8213)
    pipeline.poll()
    running = text(pipeline)
    assert "*running* · on local" in running and "progress: step 4/10 · epoch 1/3 · training loss 0.821" in running
    fake.finish_runs()
    pipeline.poll()
    assert "deploy: loading `served-adapter-run-1` at the fake server" in text(pipeline)
    fake.finish_runs()
    pipeline.poll()
    assert "deploy: `served-adapter-run-1` served at the fake server" in text(pipeline)


def test_status_shows_when_the_base_model_retires(db, clock):
    fake = FakeBackend(clock.now)
    pipeline = Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig("gpt-4.1-mini-2025-04-14"), AlwaysAnswers())
    soon = text(pipeline, date(2026, 12, 2), base_model_retires=date(2027, 1, 14))
    assert "base model `gpt-4.1-mini-2025-04-14` (retires on 2027-01-14)" in soon
    gone = text(pipeline, date(2027, 2, 1), base_model_retires=date(2027, 1, 14))
    assert "(:warning: retired on 2027-01-14)" in gone


def test_openai_knows_its_retirement_dates(clock):
    from openai import OpenAI

    from finetune.backends.openai import build_openai_backend

    official = OpenAI(api_key="sk-test-key")
    assert build_openai_backend(official).capabilities.retires("gpt-4.1-mini-2025-04-14") == date(2027, 1, 14)
    assert build_openai_backend(official).capabilities.retires("some-future-model") is None
    official.close()
