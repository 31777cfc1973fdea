"""Before any upload the pipeline runs the validator on the training file; a file that fails is never uploaded,
and the team is told why."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.views.notifications import notification_text
from finetune.backends.registry import Backends
from finetune.pipeline import UPLOAD_REFUSED_CODE, Pipeline, PipelineConfig
from finetune.validator import ProblemKind
from finetune.views import JobNotice
from storage import queries
from storage.enums import JobState, NotificationKind
from tests.support.factories import approve_examples as approve
from tests.support.fake_backend import FakeBackend


@dataclass
class Smoke:
    """The smoke test of a deployed model; these tests never get that far."""

    asked: list[str] = field(default_factory=list)

    def check(self, model: str) -> None:
        self.asked.append(model)


@pytest.fixture
def fake(clock) -> FakeBackend:
    return FakeBackend(clock.now, min_examples=3)


@pytest.fixture
def pipeline(db, clock, fake) -> Pipeline:
    return Pipeline(db, Backends.of(fake.backend), clock, PipelineConfig(base_model="gpt-4.1-mini-2025-04-14",
                                                                         min_examples=3), Smoke())


def test_a_training_file_that_fails_validation_is_not_uploaded_and_the_team_is_told_why(pipeline, db, clock, fake):
    approve(db, clock, 3)
    fake.state.failing_calls = [503]  # the first upload fails in passing: the job waits, prepared
    assert pipeline.tick().outcome == "retrying"
    with db.session() as session:  # meanwhile the stored file is damaged (a hand edit, an old version's bug)
        job = queries.latest_job(session)
        job.dataset.jsonl += '{"messages": [{"role": "user", "content": "no answer"}]}\n'
    pipeline.poll()
    with db.session() as session:
        job = queries.latest_job(session)
        assert job.state == JobState.FAILED and job.error_code == UPLOAD_REFUSED_CODE and job.file_id is None
        assert job.error_message == ("the training file failed validation (1 error(s)): "
                                     "line 4: no assistant message to train on")
        [note] = queries.pending_notifications(session)
        notice = JobNotice.read(note.kind, note.payload)
    assert fake.state.files == {}  # nothing reached the backend
    assert notice.kind == NotificationKind.UPLOAD_REFUSED
    text = notification_text(notice)
    assert f"Job #{notice.job.id} was not uploaded: the training file failed validation" in text
    assert "line 4: no assistant message" in text and "/finetune export" in text


def test_a_valid_file_is_uploaded_as_before(pipeline, db, clock, fake):
    approve(db, clock, 3)
    assert pipeline.tick().outcome == "submitted"
    assert len(fake.state.files) == 1


def test_the_current_training_file_comes_with_the_report_the_upload_step_acts_on(pipeline, db, clock):
    approve(db, clock, 4)
    training = pipeline.training_file()
    report = training.report
    assert report is not None and report.usable and report.examples == training.examples == 4
    assert report.encoding == "o200k_base" and report.exact and report.max_example_tokens == 4096
    assert report.epochs == 25 and report.tokens is not None and report.tokens.total > 0
    assert ProblemKind.DUPLICATE not in report.counts
