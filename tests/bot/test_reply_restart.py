"""kill -9 while a reply streams: after the restart the question is answered in place of its "Thinking…",
by the sweep that takes over replies whose process died, or by Slack's redelivery of the event.

The first bot is a real process (`python -m bot run`) killed with SIGKILL while the OpenAI stand-in holds
its stream part-way; the restart is the real bot again, on the same database, on the test clock.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.answering import REPLY_LEASE
from bot.views import reply as view
from sandbox.clock import ManualClock
from sandbox.stack import LocalStack
from storage import queries
from storage.models import ProcessedEvent, Reply
from tests.support.bot_process import BotProcess

QUESTION = "Review this product: a hiking backpack"
LEASE_RUN_OUT = REPLY_LEASE.total_seconds() + 60  # past the dead process's lease, and past a scheduler poll


def _row(stack, source_ts):
    with stack.services.db.session() as session:
        row = session.query(Reply).filter_by(source_ts=source_ts).one()
        return row.status, row.ts, row.error


def _bot_messages(stack, question):
    return [m for m in stack.slack.thread("C0GENERAL", question["ts"]) if m.get("bot_id")]


def _chat_requests(stack):
    return len(stack.openai.requests_to("POST", "/v1/chat/completions"))


@pytest.fixture
def killed_mid_stream(database_url, tmp_path):
    """A question whose bot process was killed with its answer half-streamed; yields (stack, question)."""
    clock = ManualClock(start=datetime.now(UTC))  # the killed process stamped its lease with the real time
    stack = LocalStack(database_url, clock=clock).start(bot=False)
    try:
        hold = stack.openai.hold_streams(after_pieces=2)
        with BotProcess(stack, tmp_path) as bot:
            question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}> {QUESTION}")
            assert hold.reached.wait(20), bot.output()
            stack.slack.wait_for(lambda: _bot_messages(stack, question), timeout=10)
            bot.kill()
        stack.openai.stream_freely()
        assert [m["text"] for m in _bot_messages(stack, question)] == [view.THINKING]  # what the issue saw
        yield stack, question
    finally:
        stack.stop()


def _assert_answered_in_place(stack, question, placeholder_ts):
    stack.slack.wait_for(lambda: _row(stack, question["ts"])[0] == "answered", timeout=10)
    [message] = _bot_messages(stack, question)
    assert message["ts"] == placeholder_ts and "hiking backpack" in message["text"]
    assert message["metadata"]["event_type"] == view.REPLY_EVENT_TYPE
    status, ts, note = _row(stack, question["ts"])
    assert ts == placeholder_ts and note == queries.RESUMED_NOTE


def test_the_sweep_after_the_restart_answers_the_question_in_place_of_thinking(killed_mid_stream):
    stack, question = killed_mid_stream
    placeholder_ts = _bot_messages(stack, question)[0]["ts"]
    stack.start_bot()
    asked = _chat_requests(stack)
    assert _row(stack, question["ts"])[0] == "pending"  # its lease has not run out yet: maybe a live twin's
    stack.run_schedule(LEASE_RUN_OUT)  # the scheduler's poll sweeps replies whose lease ran out
    _assert_answered_in_place(stack, question, placeholder_ts)
    assert _chat_requests(stack) == asked + 1
    stack.run_schedule(LEASE_RUN_OUT)  # a later sweep finds nothing left to do
    assert _chat_requests(stack) == asked + 1 and len(_bot_messages(stack, question)) == 1


def test_slacks_redelivery_of_an_event_whose_reply_never_finished_is_answered(killed_mid_stream, caplog):
    stack, question = killed_mid_stream
    placeholder_ts = _bot_messages(stack, question)[0]["ts"]
    mention = next(b for b in stack.slack.events if b["event"]["type"] == "app_mention")
    stack.start_bot()
    with stack.services.db.session() as session:
        assert session.get(ProcessedEvent, mention["event_id"]) is not None  # the dead process had taken it
    stack.clock.advance(LEASE_RUN_OUT)  # type: ignore[attr-defined]
    status = stack.slack.send_event(mention["event"], event_id=mention["event_id"], retry_num=1,
                                    retry_reason="http_timeout")
    assert status == 200
    _assert_answered_in_place(stack, question, placeholder_ts)
    # answered now: a further redelivery is dropped as before
    with caplog.at_level(logging.INFO, logger="bot.event_work"):
        stack.slack.send_event(mention["event"], event_id=mention["event_id"], retry_num=2, retry_reason="http_timeout")
        stack.slack.wait_for(lambda: any("ignoring Slack's redelivery" in r.getMessage() for r in caplog.records))
    assert len(_bot_messages(stack, question)) == 1
    assert "hiking backpack" in _bot_messages(stack, question)[0]["text"]


def _left_by_a_dead_process(stack, clock, *, placeholder_recorded: bool, taken_over_before: bool = False):
    """The state a process killed mid-reply leaves: a pending reply under its lease, its "Thinking…" post."""
    stack.slack.set_event_subscriptions(set())  # the question is on Slack; the dead process had its event
    question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}> {QUESTION}")
    stack.slack.set_event_subscriptions(None)
    with stack.services.db.session() as session:
        reply_id = queries.claim_reply(
            session, channel="C0GENERAL", source_ts=question["ts"], thread_ts=question["ts"], user_id="U0ALICE",
            team_id=None, model=stack.services.reply_model.current(), now=clock.now(),
            messages=[{"role": "system", "content": "You review products."}, {"role": "user", "content": QUESTION}])
        assert queries.hold_reply(session, reply_id, "dead-host:4242:0", clock.now(), REPLY_LEASE)
        if taken_over_before:
            queries.note_resumed(session, reply_id)
    posted = stack.services.slack.chat_postMessage(channel="C0GENERAL", thread_ts=question["ts"], text=view.THINKING,
                                                   metadata=view.placeholder_metadata(reply_id))
    if placeholder_recorded:
        with stack.services.db.session() as session:
            queries.reply_posted(session, reply_id, posted["ts"])
    return question, posted["ts"]


def test_a_placeholder_the_dead_process_posted_but_never_recorded_is_found_and_answered_in(stack, clock):
    question, placeholder_ts = _left_by_a_dead_process(stack, clock, placeholder_recorded=False)
    stack.run_schedule(LEASE_RUN_OUT)
    _assert_answered_in_place(stack, question, placeholder_ts)


def test_a_reply_taken_over_once_already_gets_an_apology_not_a_third_try(stack, clock):
    question, placeholder_ts = _left_by_a_dead_process(stack, clock, placeholder_recorded=True, taken_over_before=True)
    asked = _chat_requests(stack)
    stack.run_schedule(LEASE_RUN_OUT)
    stack.slack.wait_for(lambda: _row(stack, question["ts"])[0] == "failed")
    [message] = _bot_messages(stack, question)
    assert message["ts"] == placeholder_ts and message["text"] == view.RESTARTED
    assert _chat_requests(stack) == asked  # a question that may crash the bot is not asked a third time


def test_a_reply_whose_process_is_alive_is_left_to_it(stack, clock):
    question, placeholder_ts = _left_by_a_dead_process(stack, clock, placeholder_recorded=True)
    clock.advance(REPLY_LEASE.total_seconds() - 1)  # the owner's lease has a second left: it may be a live twin
    stack.stop_bot()
    stack.start_bot()  # the restart's sweep leaves it to its owner
    assert _row(stack, question["ts"])[0] == "pending"
    assert [m["text"] for m in _bot_messages(stack, question)] == [view.THINKING]
    stack.run_schedule(LEASE_RUN_OUT)
    _assert_answered_in_place(stack, question, placeholder_ts)


def test_a_redelivered_event_the_dead_process_took_but_never_started_is_answered(stack):
    stack.slack.set_event_subscriptions(set())
    question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}> {QUESTION}")
    stack.slack.set_event_subscriptions(None)
    mention = next(b for b in stack.slack.events if b["event"]["type"] == "app_mention")
    with stack.services.db.session() as session:  # died right after taking the event id, before the claim
        assert queries.claim_event(session, mention["event_id"], stack.clock.now())
    stack.slack.send_event(mention["event"], event_id=mention["event_id"], retry_num=1, retry_reason="http_timeout")
    reply = stack.reply_to("C0GENERAL", question["ts"])
    assert "hiking backpack" in reply["text"]
