"""Should a job start now? The rules alone, on plain facts: no database, no clock, no provider."""
from __future__ import annotations

from finetune.decision import Backlog, Candidate, InFlight, LastJob, Rules, before_building, paused_reason, verdict
from finetune.views import Outcome
from storage.enums import JobState, Trigger

RULES = Rules(min_new=10, provider_minimum=10)


def candidate(valid: int = 12, new: int = 12, skipped: int = 0, sha256: str = "abc") -> Candidate:
    return Candidate(valid=valid, new=new, skipped=skipped, sha256=sha256)


def test_a_job_in_flight_blocks_every_trigger():
    backlog = Backlog(in_flight=InFlight(job_id=4, label="running"), untrained=50)
    for trigger in Trigger:
        result = before_building(backlog, trigger, RULES)
        assert result is not None and result.outcome == Outcome.IN_FLIGHT
        assert result.message == "Job 4 is still running." and result.job_id == 4


def test_the_schedule_waits_for_enough_new_examples_before_building_anything():
    no = before_building(Backlog(in_flight=None, untrained=9), Trigger.SCHEDULE, RULES)
    assert no is not None and no.outcome == Outcome.NOT_ENOUGH and "9 new approved example(s); 10 needed" in no.message
    assert before_building(Backlog(in_flight=None, untrained=10), Trigger.SCHEDULE, RULES) is None
    assert before_building(Backlog(in_flight=None, untrained=1), Trigger.MANUAL, RULES) is None  # a person may start early


def test_invalid_examples_do_not_count_towards_the_threshold():
    no = verdict(candidate(valid=9, new=9, skipped=3), None, Trigger.SCHEDULE, RULES)
    assert no is not None and no.outcome == Outcome.NOT_ENOUGH
    assert "9 new approved example(s)" in no.message and "3 approved example(s) skipped as invalid" in no.message


def test_a_manual_run_needs_something_new_and_the_providers_minimum():
    nothing = verdict(candidate(valid=20, new=0), None, Trigger.MANUAL, RULES)
    assert nothing is not None and "nothing to train on" in nothing.message
    few = verdict(candidate(valid=4, new=4, skipped=1), None, Trigger.MANUAL, RULES)
    assert few is not None and few.outcome == Outcome.NOT_ENOUGH and "needs at least 10" in few.message
    assert verdict(candidate(valid=10, new=1), None, Trigger.MANUAL, RULES) is None


def test_a_refusal_pauses_the_schedule_but_not_a_person():
    refused = LastJob(id=7, state=JobState.REFUSED, dataset_sha256="old", error_message="not allowed")
    paused = verdict(candidate(), refused, Trigger.SCHEDULE, RULES)
    assert paused is not None and paused.outcome == Outcome.PAUSED and paused.job_id == 7
    assert paused.message == paused_reason(refused) and "not allowed" in paused.message
    assert verdict(candidate(), refused, Trigger.MANUAL, RULES) is None
    assert paused_reason(LastJob(id=8, state=JobState.SUCCEEDED, dataset_sha256="x", error_message=None)) is None
    assert paused_reason(None) is None


def test_the_schedule_does_not_resubmit_a_failed_jobs_exact_examples():
    failed = LastJob(id=3, state=JobState.FAILED, dataset_sha256="same", error_message="boom")
    unchanged = verdict(candidate(sha256="same"), failed, Trigger.SCHEDULE, RULES)
    assert unchanged is not None and unchanged.outcome == Outcome.UNCHANGED
    assert verdict(candidate(sha256="different"), failed, Trigger.SCHEDULE, RULES) is None
    assert verdict(candidate(sha256="same"), failed, Trigger.MANUAL, RULES) is None  # a person may try again


def test_enough_new_valid_examples_start_a_job():
    assert verdict(candidate(valid=30, new=10), None, Trigger.SCHEDULE, RULES) is None
