"""The job pipeline on its own: no Slack, the real openai client against the OpenAI stand-in, real databases."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from finetune.backends.openai import build_openai_backend
from finetune.pipeline import Pipeline, PipelineConfig
from finetune.reply_model import ReplyModel
from finetune.states import IllegalTransition, JobState, check_transition
from storage import queries
from tests.support.factories import BASE
from tests.support.factories import approve_examples as approve
from tests.support.pipelines import openai_pipeline

CLIENT_RETRIES = 2  # the openai client's own retries, set explicitly: no assertion leans on the SDK's default


@pytest.fixture
def pipeline(db, clock, stub) -> Iterator[Pipeline]:
    client = OpenAI(api_key="sk-test-key", base_url=stub.base_url, max_retries=CLIENT_RETRIES)
    yield openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE, min_examples=10, suffix="team"))
    client.close()


def reply_model(db, clock) -> ReplyModel:
    return ReplyModel(db, clock, BASE)


def states(db) -> list[str]:
    with db.session() as session:
        return [job.state for job in queries.jobs_in_states(session, list(JobState))]


def test_nothing_starts_below_the_threshold(pipeline, db, clock, stub):
    approve(db, clock, 9)
    result = pipeline.tick()
    assert result.outcome == "not_enough" and "9 new approved example(s); 10 needed" in result.message
    assert stub.requests_to("POST", "/v1/files") == []


def test_a_job_walks_from_upload_to_a_swapped_model(pipeline, db, clock, stub):
    approve(db, clock, 10)
    result = pipeline.tick()
    assert result.outcome == "submitted"
    assert states(db) == ["submitted"]
    assert pipeline.tick().outcome == "in_flight"
    clock.advance(12)
    [view] = pipeline.poll()
    assert view.provider_status == "running" and view.state == "submitted"
    clock.advance(30)
    [view] = pipeline.poll()
    assert view.state == "succeeded" and view.fine_tuned_model.startswith(f"ft:{BASE}:sandbox-org:team:")
    assert reply_model(db, clock).current() == view.fine_tuned_model
    status = pipeline.status()
    assert status.counts == queries.ExampleCounts(approved=10, untrained=0)
    assert status.active.since == clock.now()
    with db.session() as session:
        kinds = [n.kind for n in queries.pending_notifications(session)]
    assert kinds == ["job_submitted", "job_succeeded"]


def test_new_examples_after_a_success_train_again_on_everything_approved(pipeline, db, clock, stub):
    approve(db, clock, 10)
    pipeline.tick()
    clock.advance(60)
    pipeline.poll()
    approve(db, clock, 10, start=10)
    assert pipeline.tick().outcome == "submitted"
    second = stub.requests_to("POST", "/v1/fine_tuning/jobs")[-1].json
    assert stub.file_content(second["training_file"]).decode().count("\n") == 20
    assert second["model"] == BASE  # each job starts from the base model, with all approved examples


def test_a_failed_job_is_not_resubmitted_on_the_same_examples_by_the_schedule(pipeline, db, clock, stub):
    stub.fail_next_job(code="server_error", message="Something broke")
    approve(db, clock, 10)
    pipeline.tick()
    clock.advance(60)
    [view] = pipeline.poll()
    assert view.state == "failed" and view.error_message == "Something broke"
    assert pipeline.tick().outcome == "unchanged"
    approve(db, clock, 1, start=10)  # one more approval changes the set: the schedule may try again
    assert pipeline.tick().outcome == "submitted"
    assert stub.file_content(stub.jobs()[-1]["training_file"]).decode().count("\n") == 11


def test_transient_errors_are_retried_a_few_times_then_the_job_is_given_up(pipeline, db, clock, stub):
    stub.fail_next("files.create", 503, count=100, retry_after=0.01)
    approve(db, clock, 10)
    assert pipeline.tick().outcome == "retrying"
    for _ in range(3):
        pipeline.poll()
    [view] = pipeline.poll()
    assert view.state == "failed" and "upload failed 5 times" in view.error_message
    assert len(stub.requests_to("POST", "/v1/files")) == 5 * (CLIENT_RETRIES + 1)  # the client's retries per attempt


def test_a_refusal_pauses_the_schedule_but_a_manual_run_tries_again(pipeline, db, clock, stub):
    stub.refuse_fine_tuning("Fine-tuning is not available for this organization.")
    approve(db, clock, 10)
    assert pipeline.tick().outcome == "refused"
    assert pipeline.tick().outcome == "paused"
    assert "Fine-tuning is not available" in pipeline.status().paused_reason
    stub.allow_fine_tuning()
    assert pipeline.tick(trigger="manual").outcome == "submitted"
    assert pipeline.status().paused_reason is None


def test_cancel_before_and_after_submission(pipeline, db, clock, stub):
    assert pipeline.cancel().outcome == "idle"
    stub.fail_next("files.create", 500, count=3, retry_after=0.01)
    approve(db, clock, 10)
    pipeline.tick()
    assert pipeline.cancel().outcome == "cancelled" and states(db) == ["cancelled"]
    assert pipeline.tick(trigger="manual").outcome == "submitted"
    assert pipeline.cancel().outcome == "cancelled"
    assert states(db) == ["cancelled", "cancelled"]
    assert stub.jobs()[0]["status"] == "cancelled"


def test_the_state_machine_refuses_illegal_moves():
    assert check_transition("preparing", JobState.UPLOADED) is JobState.UPLOADED
    with pytest.raises(IllegalTransition):
        check_transition("succeeded", JobState.FAILED)
    with pytest.raises(IllegalTransition):
        check_transition("preparing", JobState.SUCCEEDED)


def test_openai_itself_announces_its_last_day_for_new_jobs_and_other_endpoints_do_not(stub):
    from datetime import date

    from bot.views.status import deadline_line

    official = OpenAI(api_key="sk-test-key")
    compatible = OpenAI(api_key="sk-test-key", base_url=stub.base_url)
    assert build_openai_backend(official).capabilities.accepts_jobs_until == date(2027, 1, 6)
    assert build_openai_backend(compatible).capabilities.accepts_jobs_until is None
    assert "until 2027-01-06 (42 days left)" in deadline_line(date(2027, 1, 6), date(2026, 11, 25))
    assert "stopped taking new fine-tuning jobs" in deadline_line(date(2027, 1, 6), date(2027, 1, 7))
    official.close()
    compatible.close()


def test_a_job_created_but_never_recorded_is_found_not_created_again(pipeline, db, clock, stub):
    approve(db, clock, 10)
    assert pipeline.tick().outcome == "submitted"
    with db.session() as session:  # as if the process died before the 'submitted' commit
        job = queries.latest_job(session)
        job.state, job.provider_job_id, job.provider_status, job.attempts = "uploaded", None, None, 0
    [view] = pipeline.poll()
    assert view.state == "submitted" and view.provider_job_id == stub.jobs()[0]["id"]
    assert len(stub.jobs()) == 1 and len(stub.requests_to("POST", "/v1/fine_tuning/jobs")) == 1


def test_cancelling_after_a_lost_create_cancels_the_job_at_the_provider(pipeline, db, clock, stub):
    stub.fail_next("jobs.create", 500, apply_first=True)
    approve(db, clock, 10)
    assert pipeline.tick().outcome == "retrying"
    assert pipeline.cancel().outcome == "cancelled"
    assert [job["status"] for job in stub.jobs()] == ["cancelled"]
    assert states(db) == ["cancelled"]


def test_invalid_approved_examples_never_count_as_new_material(db, clock, stub):
    client = OpenAI(api_key="sk-test-key", base_url=stub.base_url)
    eager = openai_pipeline(db, clock, client, PipelineConfig(base_model=BASE, min_examples=1))
    approve(db, clock, 10)
    eager.tick()
    clock.advance(60)
    eager.poll()
    with db.session() as session:  # an approved reply whose answer is empty cannot be trained on
        reply_id = queries.claim_reply(session, channel="C1", source_ts="9.1", thread_ts="9.1", user_id="U1",
                                       team_id=None, model=BASE, messages=[{"role": "user", "content": "q"}],
                                       now=clock.now())
        queries.finish_reply(session, reply_id, text="", model=BASE, now=clock.now(), ts="9.2")
        queries.add_approval(session, queries.get_reply(session, reply_id), "U2", "+1", clock.now())
    for _ in range(3):
        result = eager.tick()
        assert result.outcome == "not_enough" and "1 approved example(s) skipped as invalid" in result.message
    assert len(stub.jobs()) == 1
    client.close()


def test_a_refused_read_of_a_running_job_does_not_end_it(pipeline, db, clock, stub):
    approve(db, clock, 10)
    pipeline.tick()
    stub.fail_next("jobs.retrieve", 401, message="Incorrect API key provided.")
    clock.advance(60)
    [view] = pipeline.poll()
    assert view.state == "submitted"
    [view] = pipeline.poll()
    assert view.state == "succeeded"


def test_provider_messages_are_stored_without_keys(pipeline, db, clock, stub):
    stub.refuse_fine_tuning("Key sk-live-abcdefghijklmnop may not create fine-tuning jobs; key sk-test-key neither.")
    approve(db, clock, 10)
    pipeline.tick()
    message = pipeline.status().last_job.error_message
    assert "sk-live" not in message and "sk-test-key" not in message and message.count("[redacted]") == 2


def test_two_processes_on_one_database_start_one_job(db, clock, stub):
    import threading

    clients = [OpenAI(api_key="sk-test-key", base_url=stub.base_url) for _ in range(2)]
    first, second = (openai_pipeline(db, clock, c, PipelineConfig(base_model=BASE)) for c in clients)
    approve(db, clock, 10)
    results = []
    threads = [threading.Thread(target=lambda p=p: results.append(p.tick())) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.outcome for r in results) in (["busy", "submitted"], ["in_flight", "submitted"])
    assert len(stub.jobs()) == 1
    for client in clients:
        client.close()


def test_a_lease_left_by_a_dead_process_expires(db, clock, stub, pipeline):
    from datetime import timedelta

    with db.session() as session:
        assert queries.take_lease(session, "finetune-pipeline", "dead-process", clock.now(), timedelta(minutes=15))
    approve(db, clock, 10)
    busy = pipeline.tick()
    assert busy.outcome == "busy" and "Another bot process" in busy.message
    assert pipeline.poll() == []
    clock.advance(16 * 60)
    assert pipeline.tick().outcome == "submitted"
