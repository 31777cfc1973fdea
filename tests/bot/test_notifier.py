"""Each job notification reaches the channel exactly once: across a lost answer, a kill -9 between Slack's yes and
our record of it, and two bot processes on one database. The real Notifier and slack_sdk over HTTP against the
Slack stand-in, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from slack_sdk import WebClient

from bot.notifier import CLAIM_TTL, Notifier
from finetune.views import JobNotice, JobView
from sandbox.slack_stub import SlackStub
from storage import queries
from storage.enums import JobState, NotificationKind, Trigger
from storage.models import Notification
from tests.support.factories import BASE
from tests.support.processes import BotProcess

CHANNEL = "C0GENERAL"


@pytest.fixture
def slack(clock) -> Iterator[SlackStub]:
    with SlackStub(clock) as running:
        yield running


@pytest.fixture
def client(slack) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def notifier(db, client, clock) -> Notifier:
    return Notifier(db, client, clock, CHANNEL)


def enqueue(db, clock, count: int = 1) -> list[int]:
    """`count` success notes, as the pipeline writes them."""
    ids = []
    with db.session() as session:
        for n in range(1, count + 1):
            job = JobView(id=n, state=JobState.SUCCEEDED, trigger=Trigger.SCHEDULE, provider="openai", base_model=BASE,
                          example_count=10, provider_job_id=f"ftjob-{n}", provider_status="succeeded",
                          fine_tuned_model=f"ft:{BASE}:org::{n}", error_code=None, error_message=None, attempts=0,
                          created_at=clock.now(), submitted_at=clock.now(), finished_at=clock.now(), served_where="OpenAI")
            notice = JobNotice(NotificationKind.JOB_SUCCEEDED, job)
            ids.append(queries.enqueue_notification(session, notice.kind, notice.payload(), clock.now()).id)
    return ids


def posted_ids(slack) -> list[int]:
    """Which notes the channel shows, in posting order, read from what people see ("`ft:…::N` is now answering")."""
    return [int(match.group(1)) for m in slack.messages(CHANNEL) if (match := re.search(r"::(\d+)` is now", m["text"]))]


def sent(db) -> dict[int, str | None]:
    with db.session() as session:
        return {n.id: n.slack_ts for n in session.query(Notification).filter(Notification.sent_at.is_not(None))}


def test_each_post_carries_its_note_in_message_metadata(db, clock, slack, client):
    [note_id] = enqueue(db, clock)
    assert notifier(db, client, clock).flush() == 1
    [message] = slack.messages(CHANNEL)
    assert message["metadata"] == {"event_type": "finetune_bot_notification",
                                   "event_payload": {"notification_id": note_id,
                                                     "created_at": int(clock.now().timestamp())}}
    assert "is now answering" in message["text"] and sent(db) == {note_id: message["ts"]}
    assert "metadata" not in client.conversations_history(channel=CHANNEL)["messages"][0]  # only when asked for


def test_a_post_slack_took_whose_answer_was_lost_is_found_in_the_channel_and_not_posted_again(db, clock, slack, client):
    [note_id] = enqueue(db, clock)
    first_attempt = clock.now()
    slack.fail_next("chat.postMessage", "internal_error", status=500, after=True)
    poster = notifier(db, client, clock)
    assert poster.flush() == 0  # Slack posted it, but the bot heard a 500
    clock.advance(60)
    assert poster.flush() == 1
    assert posted_ids(slack) == [note_id] and len(slack.calls_to("chat.postMessage")) == 1
    [lookup] = slack.calls_to("conversations.history")
    assert lookup.args["channel"] == CHANNEL and lookup.args["include_all_metadata"] in (True, "1", "true")
    assert float(lookup.args["oldest"]) == (first_attempt - timedelta(minutes=1)).timestamp()  # since the first try
    assert sent(db) == {note_id: slack.messages(CHANNEL)[0]["ts"]}


def test_kill_9_between_slacks_yes_and_our_record_of_it_still_posts_the_note_once(db, database_url, clock, slack, client):
    [note_id] = enqueue(db, clock)
    answer = slack.hold_next("chat.postMessage")  # Slack posts it; the bot is killed before it hears back
    crashed = BotProcess("notify", database_url, slack.api_url, slack.bot_token, CHANNEL, clock.now().isoformat())
    crashed.go()
    slack.wait_for(lambda: posted_ids(slack) == [note_id], timeout=20)
    crashed.kill9()
    answer.set()
    restarted = notifier(db, client, clock)
    assert restarted.flush() == 0  # the dead poster's claim still stands: nobody posts it meanwhile
    clock.advance(CLAIM_TTL.total_seconds() + 1)  # its claim runs out
    assert restarted.flush() == 1  # found in the channel: recorded sent, not posted again
    assert posted_ids(slack) == [note_id] and len(slack.calls_to("chat.postMessage")) == 1
    assert restarted.flush() == 0 and sent(db) == {note_id: slack.messages(CHANNEL)[0]["ts"]}


def test_two_posters_on_one_database_post_each_note_once(db, clock, slack, client):
    ids = enqueue(db, clock, 24)
    slow = slack.hold_next("chat.postMessage")  # the first poster is slow to hear back about its first note
    first, second = notifier(db, client, clock), notifier(db, client, clock)
    counts: list[int] = []
    thread = threading.Thread(target=lambda: counts.append(first.flush()))
    thread.start()
    slack.wait_for(lambda: posted_ids(slack) == [ids[0]])
    counts.append(second.flush())  # meanwhile the other bot process flushes the same outbox
    slow.set()
    thread.join(20)
    assert sorted(counts) == [1, 23]
    assert Counter(posted_ids(slack)) == Counter(ids) and len(slack.messages(CHANNEL)) == 24
    assert sorted(sent(db)) == ids


def test_two_bot_processes_flushing_the_same_outbox_at_once_post_each_note_once(db, database_url, clock, slack):
    ids = enqueue(db, clock, 24)
    processes = [BotProcess("notify", database_url, slack.api_url, slack.bot_token, CHANNEL, clock.now().isoformat())
                 for _ in range(2)]
    for process in processes:
        process.go()
    said = [process.said() for process in processes]
    for process in processes:
        assert process.finish()[0] == 0
    assert sum(int(line.split()[-1]) for line in said) == 24, said
    assert Counter(posted_ids(slack)) == Counter(ids) and len(slack.messages(CHANNEL)) == 24
