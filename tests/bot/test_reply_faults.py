"""A passing Slack error never loses a question: the reply path retries, honours Retry-After, and when it
gives up the thread says so in one line; it never stays on "Thinking…".

The bot runs for real over HTTP against the Slack stand-in, which fails on demand as Slack does (HTTP 429
with Retry-After and {"ok": false, "error": "ratelimited"}; HTTP 500). The retry waits pass on the test
clock (ManualClock.sleep moves it on), so nothing here sleeps.
"""
from __future__ import annotations

import logging
import threading

from bot.slack_retry import RETRY_DEADLINE
from bot.views import reply as view
from storage.models import Reply

QUESTION = "Review this product: a camping tent"


def _ask(stack, text=QUESTION):
    return stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}> {text}")


def _bot_messages(stack, question):
    return [m for m in stack.slack.thread("C0GENERAL", question["ts"]) if m.get("bot_id")]


def _reply_row(stack, question):
    with stack.services.db.session() as session:
        row = session.query(Reply).filter_by(source_ts=question["ts"]).one_or_none()
        return row and (row.status, row.error, row.ts)


def _settled(stack, question):
    return stack.slack.wait_for(lambda: (row := _reply_row(stack, question)) and row[0] != "pending" and row)


def _statuses(stack, method):
    return [call.status for call in stack.slack.calls_to(method)]


def test_one_slack_500_on_the_placeholder_is_retried_and_the_question_answered(stack, clock):
    stack.slack.fail_next("chat.postMessage", "internal_error", status=500)
    reply = stack.reply_to("C0GENERAL", _ask(stack)["ts"])
    assert "camping tent" in reply["text"]
    assert _statuses(stack, "chat.postMessage") == [500, 200]
    assert clock.slept == [1.0]  # backoff after a 500 carries no Retry-After


def test_three_429s_in_a_row_on_the_placeholder_wait_as_long_as_slack_asks_then_answer(stack, clock):
    stack.slack.fail_next("chat.postMessage", retry_after=7, count=3)
    question = _ask(stack)
    reply = stack.reply_to("C0GENERAL", question["ts"])
    assert "camping tent" in reply["text"]
    assert _statuses(stack, "chat.postMessage") == [429, 429, 429, 200]
    assert clock.slept == [7.0, 7.0, 7.0]
    assert len(_bot_messages(stack, question)) == 1


def test_three_429s_on_the_final_update_still_leave_the_answer_in_the_thread(stack, clock):
    stack.slack.fail_next("chat.update", retry_after=3, count=3)
    question = _ask(stack)
    assert _settled(stack, question)[0] == "answered"
    [message] = _bot_messages(stack, question)
    assert "camping tent" in message["text"] and message["text"] != view.THINKING
    assert _statuses(stack, "chat.update")[-4:] == [429, 429, 429, 200]
    assert clock.slept == [3.0, 3.0, 3.0]


def test_a_placeholder_slack_posted_before_its_answer_was_lost_is_used_not_posted_twice(stack):
    stack.slack.fail_next("chat.postMessage", "internal_error", status=500, after=True)
    question = _ask(stack)
    assert _settled(stack, question)[0] == "answered"
    [message] = _bot_messages(stack, question)
    assert "camping tent" in message["text"]
    assert _statuses(stack, "chat.postMessage") == [500]  # found in the thread, not posted again


def test_when_slack_keeps_refusing_the_final_update_the_placeholder_says_the_bot_gave_up(stack, clock, caplog):
    # Slack asks for 50 s each time: after two waits the third would pass the 2-minute deadline.
    stack.slack.fail_next("chat.update", retry_after=50, count=3)
    question = _ask(stack)
    with caplog.at_level(logging.INFO):
        status, error, ts = _settled(stack, question)
        stack.slack.wait_for(lambda: _bot_messages(stack, question)[0]["text"] == view.GAVE_UP)
    assert clock.slept == [50.0, 50.0] and 2 * 50 < RETRY_DEADLINE.total_seconds() < 3 * 50
    assert status == "failed" and "gave up after 3 attempt(s)" in error and "429 ratelimited" in error
    assert "\n" not in view.GAVE_UP
    gave_up = [r for r in caplog.records if r.name == "bot.answering" and "gave up" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].exc_info is None and "\n" not in gave_up[0].getMessage()


def test_when_slack_never_takes_the_placeholder_the_reply_is_failed_not_left_pending(stack, clock):
    stack.slack.fail_next("chat.postMessage", retry_after=100, count=2)
    question = _ask(stack)
    status, error, ts = _settled(stack, question)
    assert status == "failed" and ts is None and "posting the placeholder" in error
    assert clock.slept == [100.0] and _bot_messages(stack, question) == []
    again = stack.ask("Review this product: a camping stove")  # the next question goes through
    assert "camping stove" in again["text"]


def test_a_slack_error_that_will_not_pass_is_not_retried_and_the_thread_gets_an_apology(stack, clock):
    stack.slack.fail_next("chat.update", "cant_update_message")
    question = _ask(stack)
    status, error, ts = _settled(stack, question)
    assert status == "failed" and "cant_update_message" in error
    stack.slack.wait_for(lambda: _bot_messages(stack, question)[0]["text"].startswith(":sweat: Sorry"))
    assert clock.slept == []


def test_waiting_for_slack_holds_an_event_worker_never_the_threads_that_acknowledge(stack):
    """While a reply waits out a 60 s Retry-After, slash commands are still acknowledged at once."""
    waiting, go_on = threading.Event(), threading.Event()
    waited_in: list[str] = []

    def sleep(seconds):
        waited_in.append(threading.current_thread().name)
        waiting.set()
        go_on.wait(10)

    stack.services.answering.retry.sleep = sleep
    stack.slack.fail_next("chat.postMessage", retry_after=60)
    question = _ask(stack)
    assert waiting.wait(10)
    answer = stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")
    assert answer["status"] == 200 and answer["ack"]
    go_on.set()
    assert "camping tent" in stack.reply_to("C0GENERAL", question["ts"])["text"]
    assert len(waited_in) == 1 and waited_in[0].startswith("event-work")
