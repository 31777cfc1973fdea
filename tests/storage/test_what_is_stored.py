"""What the store keeps: never a NUL byte or a lone surrogate (PostgreSQL text holds neither), and error
texts with the bot's secrets masked, whoever writes them."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from finetune.redaction import Redactor
from storage import queries
from storage.db import Database
from storage.enums import NotificationKind, ReplyStatus
from storage.models import Notification, Reply
from tests.support.factories import answered_reply

SECRET = "Sekret-Signing-9c1d"


@pytest.fixture
def masked_db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, mask=Redactor((SECRET,)))
    database.migrate()
    yield database
    database.dispose()


def test_strings_and_json_documents_are_stored_without_nul_or_lone_surrogates(masked_db, clock):
    with masked_db.session() as session:
        reply = answered_reply(session, clock, 1, messages=[{"role": "user", "content": "a tea\x00pot \ud800"}],
                               text="Nice\x00 pot")
        reply_id = reply.id
    with masked_db.session() as session:
        stored = session.get(Reply, reply_id)
        assert stored.reply_text == "Nice pot"
        assert stored.messages == [{"role": "user", "content": "a teapot \ufffd"}]
        # a lookup by a value carrying a NUL finds the row stored without it, as the store saw it
        assert queries.find_reply(session, "C1", "200.000001\x00") is not None


def test_error_texts_are_stored_with_the_secrets_masked(masked_db, clock):
    with masked_db.session() as session:
        reply_id = queries.claim_reply(session, channel="C1", source_ts="1.000001", thread_ts="1.000001", user_id="U1",
                                       team_id="T1", model="m", messages=[], now=clock.now())
        assert queries.fail_reply(session, reply_id, f"ProviderError: bad key {SECRET}")
        note = queries.enqueue_notification(session, NotificationKind.JOB_FAILED,
                                            {"job": {"error_message": f"quoted {SECRET}"}}, clock.now())
        assert queries.claim_notification(session, note.id, "me", clock.now(), timedelta(minutes=1), channel="C1")
        assert queries.finish_notification_attempt(session, note.id, "me", clock.now(), error=f"slack said {SECRET}")
        note_id = note.id
    with masked_db.session() as session:
        failed = session.get(Reply, reply_id)
        assert failed.status == ReplyStatus.FAILED and failed.error == "ProviderError: bad key [redacted]"
        note = session.get(Notification, note_id)
        assert note.payload == {"job": {"error_message": "quoted [redacted]"}}
        assert note.last_error == "slack said [redacted]"
