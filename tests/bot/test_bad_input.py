"""Bad input gets a clear answer and loses nothing."""
from __future__ import annotations

import time

from bot.services import OPENAI_RETRIES
from sandbox.slack_driver import EventsDriver
from storage import queries
from storage.models import ProcessedEvent, Reply
from tests.support.products import PRODUCTS
from tests.support.slack import approved_count, wait_for_approved

NIGHT = 18 * 3600


def _ten_approved(stack):
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)


def _bot_posts(stack, channel="C0GENERAL"):
    return [m["text"] for m in stack.slack.messages(channel) if m.get("bot_id") and "thread_ts" not in m]


def test_a_request_with_a_bad_or_stale_signature_is_refused_and_writes_nothing(stack):
    driver = EventsDriver(stack.server.url, stack.slack.signing_secret)
    body = stack.slack.event_body(
        {"type": "app_mention", "user": "U0ALICE", "text": f"<@{stack.slack.bot_user_id}> hi", "ts": "1.000001",
         "channel": "C0GENERAL", "event_ts": "1.000001"},
        event_id="EvForged",
    )
    forged = driver.post_event(body, signature="v0=" + "0" * 64)
    stale = driver.post_event(body, timestamp=int(time.time()) - 600)
    assert forged[0] == 401 and stale[0] == 401
    assert stack.slack.calls_to("chat.postMessage") == []
    with stack.services.db.session() as session:
        assert session.query(ProcessedEvent).count() == 0
        assert session.query(Reply).count() == 0


def test_an_empty_mention_gets_a_one_line_hint(stack):
    question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}>")
    hint = stack.slack.wait_for(lambda: [m for m in stack.slack.thread("C0GENERAL", question["ts"]) if m.get("bot_id")])
    assert "Review this product:" in hint[0]["text"] and "\n" not in hint[0]["text"]
    assert stack.openai.requests_to("POST", "/v1/chat/completions") == []


def test_an_openai_error_while_replying_becomes_an_apology_and_the_bot_keeps_going(stack):
    stack.openai.fail_next("chat.completions", 500, count=OPENAI_RETRIES + 1)  # the client's own retries included
    sorry = stack.ask("Review this product: a yoga mat")
    assert sorry["text"].startswith(":sweat: Sorry") and "error 500" in sorry["text"]
    again = stack.ask("Review this product: a yoga mat")
    assert "yoga mat" in again["text"]
    with stack.services.db.session() as session:
        assert [r.status for r in session.query(Reply).order_by(Reply.id)] == ["failed", "answered"]


def test_a_refused_job_is_recorded_shown_and_posted_once_without_a_retry_storm(stack):
    stack.openai.refuse_fine_tuning("This organization is not allowed to create fine-tuning jobs.")
    _ten_approved(stack)
    stack.run_schedule(NIGHT)
    for _ in range(5):
        stack.run_schedule(60)
    stack.run_schedule(24 * 3600)  # the next night does not knock again either
    assert len(stack.openai.requests_to("POST", "/v1/fine_tuning/jobs")) == 1
    refused = [t for t in _bot_posts(stack) if "refused" in t]
    assert len(refused) == 1 and "not allowed to create fine-tuning jobs" in refused[0]
    # OpenAI's `training_not_available`: the post says what to change, and where to read how
    assert "FINETUNE_BACKEND=local" in refused[0] and "FINETUNE_BACKEND=together" in refused[0]
    assert "“Fine-tuning backends” in the README" in refused[0]
    status = stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")["ack"]["text"]
    assert "refused" in status and "not allowed to create fine-tuning jobs" in status
    with stack.services.db.session() as session:
        assert queries.example_counts(session) == queries.ExampleCounts(approved=10, untrained=10)

    stack.openai.allow_fine_tuning()
    stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "run")
    stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals if "submitted" in e["text"]])
    assert len(stack.openai.requests_to("POST", "/v1/fine_tuning/jobs")) == 2
    stack.run_schedule(60)
    assert stack.services.reply_model.current().startswith("ft:")


def test_a_training_file_the_provider_rejects_is_recorded_with_its_message(stack):
    stack.openai.fail_next("jobs.create", 400, message="Invalid file format for fine-tuning.", code="invalid_training_file")
    _ten_approved(stack)
    stack.run_schedule(NIGHT)
    with stack.services.db.session() as session:
        job = queries.latest_job(session)
        assert job.state == "refused" and job.error_message == "Invalid file format for fine-tuning."
    assert len([t for t in _bot_posts(stack) if "Invalid file format" in t]) == 1


def test_a_lost_answer_to_job_creation_does_not_create_a_second_job(stack):
    stack.openai.fail_next("jobs.create", 500, apply_first=True)
    _ten_approved(stack)
    stack.run_schedule(NIGHT)
    assert len(stack.openai.jobs()) == 1
    stack.run_schedule(60)  # the poller finds the job the lost answer was about
    stack.run_schedule(60)
    assert len(stack.openai.jobs()) == 1
    assert len(stack.openai.requests_to("POST", "/v1/fine_tuning/jobs")) == 1
    assert stack.services.reply_model.current() == stack.openai.jobs()[0]["fine_tuned_model"]


def test_a_rate_limited_upload_is_retried_by_the_poller(stack):
    stack.openai.fail_next("files.create", 429, count=OPENAI_RETRIES + 1, retry_after=0)
    _ten_approved(stack)
    stack.run_schedule(NIGHT)
    with stack.services.db.session() as session:
        job = queries.latest_job(session)
        assert job.state == "preparing" and job.attempts == 1
    stack.run_schedule(60)
    stack.run_schedule(60)
    assert stack.services.reply_model.current().startswith("ft:")
    # 429 on the first attempt and each of the client's retries, then the poller's attempt goes through
    assert len(stack.openai.requests_to("POST", "/v1/files")) == OPENAI_RETRIES + 2
    assert approved_count(stack) == 10


def test_a_slack_failure_while_replying_leaves_no_pending_claim(stack):
    stack.slack.fail_next("chat.update", "cant_update_message")  # one that will not pass (tests/bot/test_reply_faults.py)
    question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}> Review this product: a tent")

    def status():
        with stack.services.db.session() as session:
            row = session.query(Reply).filter_by(source_ts=question["ts"]).one_or_none()
            return row and row.status != "pending" and (row.status, row.error)

    state, error = stack.slack.wait_for(status)
    assert state == "failed" and "cant_update_message" in error


def test_a_notification_slack_refuses_is_retried_then_given_up_without_looking_sent(stack):
    _ten_approved(stack)
    stack.slack.fail_next("chat.postMessage", "not_in_channel", count=5)
    stack.run_schedule(NIGHT)  # job_submitted: attempt 1 fails
    for _ in range(5):
        stack.services.notifier.flush()
    with stack.services.db.session() as session:
        from storage.models import Notification

        notes = {n.kind: n for n in session.query(Notification).all()}
        assert notes["job_submitted"].sent_at is None and notes["job_submitted"].last_error == "not_in_channel"
        assert notes["job_submitted"].attempts == 5
    stack.run_schedule(60)
    assert any("is now answering" in t for t in _bot_posts(stack))
    assert not any("started on" in t for t in _bot_posts(stack))
