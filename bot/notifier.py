"""Posts the pipeline's announcements (the notifications outbox) to Slack, each one exactly once.

Two guarantees, both kept in the database rather than in this process:
- One poster per note: a note is claimed with a compare-and-set before it is posted, so two bot
  processes on one database never post the same note. A claim whose poster died runs out (CLAIM_TTL).
- No second post after a crash: every post carries Slack message metadata naming its note. A note
  with an earlier attempt (one that may have reached Slack before its answer, or its record, was
  lost) is first looked for in the notify channel's history since that attempt, and marked sent if
  it is there.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.views.notifications import carries_notification, notification_metadata, notification_text
from finetune.clock import Clock
from finetune.lease import process_owner
from finetune.views import JobNotice
from storage import queries
from storage.db import Database
from storage.models import Notification

log = logging.getLogger("bot.notifier")

MAX_ATTEMPTS = 5
CLAIM_TTL = timedelta(minutes=5)  # longer than one post with slack_sdk's own retries
HISTORY_MARGIN = timedelta(minutes=1)  # Slack's clock and ours may differ a little
HISTORY_PAGE = 200
HISTORY_PAGES = 10  # at most this many pages of the channel are read for one note


class Notifier:
    def __init__(self, db: Database, client: WebClient, clock: Clock, notify_channel: str | None) -> None:
        self.db = db
        self.client = client
        self.clock = clock
        self.notify_channel = notify_channel
        self.owner = process_owner()

    def channel(self) -> str | None:
        """FINETUNE_NOTIFY_CHANNEL, else where the most recent approval happened."""
        if self.notify_channel:
            return self.notify_channel
        with self.db.session() as session:
            return queries.last_approved_channel(session)

    def flush(self) -> int:
        """Posts what is pending and nobody else is posting. A failed post is retried by later flushes, a few
        times; a note given up on keeps sent_at empty and its last_error, so it never looks delivered."""
        posted, after, channel = 0, 0, None
        while True:  # in pages, each note at most once per flush
            with self.db.session() as session:
                pending = [n.id for n in queries.pending_notifications(session, MAX_ATTEMPTS, now=self.clock.now(),
                                                                       after=after)]
            if not pending:
                return posted
            channel = channel or self.channel()
            posted += sum(1 for note_id in pending if self._deliver(note_id, channel))
            after = pending[-1]

    def _deliver(self, note_id: int, channel: str | None) -> bool:
        """One attempt at one note, under this poster's claim; True when it is (now known to be) in Slack."""
        with self.db.session() as session:
            note = queries.claim_notification(session, note_id, self.owner, self.clock.now(), CLAIM_TTL,
                                              channel=channel, max_attempts=MAX_ATTEMPTS)
        if note is None:
            return False  # sent meanwhile, or another poster has it
        notice = JobNotice.read(note.kind, note.payload)
        where = note.channel or channel
        error = ts = None
        if where is None:
            error = "no notify channel: set FINETUNE_NOTIFY_CHANNEL"
        else:
            try:
                ts = self._posted_before(where, note) if note.attempts > 1 else None
                if ts is not None:
                    log.info("notification %s (%s) was posted already (found in %s); not posting it again",
                             note_id, notice.kind, where)
                else:
                    answer = self.client.chat_postMessage(channel=where, text=notification_text(notice),
                                                          metadata=notification_metadata(note.id, note.created_at))
                    ts = answer.get("ts")
            except SlackApiError as exc:
                error = str(exc.response.get("error"))
            except Exception as exc:  # network trouble: this note waits for the next flush, the rest go on
                error = type(exc).__name__
        with self.db.session() as session:
            recorded = queries.finish_notification_attempt(session, note_id, self.owner, self.clock.now(),
                                                           error=error, slack_ts=ts)
        if not recorded:
            log.warning("notification %s (%s): this poster's claim ran out before the attempt was recorded; "
                        "the next poster looks for it in Slack first", note_id, notice.kind)
        if error:
            log.warning("notification %s (%s) not posted: %s", note_id, notice.kind, error)
            return False
        log.info("posted notification %s (%s) in %s", note_id, notice.kind, where)
        return True

    def _posted_before(self, channel: str, note: Notification) -> str | None:
        """The ts of this note's message if an earlier attempt reached Slack: the channel's history since
        that attempt (and a margin for clock skew), read with its message metadata."""
        first = note.first_attempt_at or note.created_at
        oldest = _slack_ts(first - HISTORY_MARGIN)
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            page = self.client.conversations_history(channel=channel, oldest=oldest, include_all_metadata=True,
                                                     limit=HISTORY_PAGE, cursor=cursor)
            for message in page.get("messages") or []:
                if carries_notification(message, note.id, note.created_at):
                    return str(message.get("ts"))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                return None
        log.warning("notification %s: not found in the last %s messages of %s; posting it", note.id,
                    HISTORY_PAGE * HISTORY_PAGES, channel)
        return None


def _slack_ts(when: datetime) -> str:
    return f"{when.timestamp():.6f}"
