"""Posts the pipeline's announcements (the notifications outbox) to Slack, each one once."""
from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.views.notifications import notification_text
from finetune.clock import Clock
from finetune.views import JobNotice
from storage import queries
from storage.db import Database

log = logging.getLogger("bot.notifier")

MAX_ATTEMPTS = 5


class Notifier:
    def __init__(self, db: Database, client: WebClient, clock: Clock, notify_channel: str | None) -> None:
        self.db = db
        self.client = client
        self.clock = clock
        self.notify_channel = notify_channel
        self._lock = threading.Lock()

    def channel(self) -> str | None:
        """FINETUNE_NOTIFY_CHANNEL, else where the most recent approval happened."""
        if self.notify_channel:
            return self.notify_channel
        with self.db.session() as session:
            return queries.last_approved_channel(session)

    def flush(self) -> int:
        """Posts what is pending. A failed post is retried by later flushes, a few times; a note given up on
        keeps sent_at empty and its last_error, so it never looks delivered."""
        posted = 0
        with self._lock:
            with self.db.session() as session:
                pending = [(n.id, JobNotice.read(n.kind, n.payload)) for n in queries.pending_notifications(session, MAX_ATTEMPTS)]
            channel = self.channel() if pending else None
            for note_id, notice in pending:
                error = None
                if channel is None:
                    error = "no notify channel: set FINETUNE_NOTIFY_CHANNEL"
                else:
                    try:
                        self.client.chat_postMessage(channel=channel, text=notification_text(notice))
                    except SlackApiError as exc:
                        error = str(exc.response.get("error"))
                    except Exception as exc:  # network trouble: this note waits for the next flush, the rest go on
                        error = type(exc).__name__
                with self.db.session() as session:
                    queries.record_notification_attempt(session, note_id, error, self.clock.now())
                if error:
                    log.warning("notification %s (%s) not posted: %s", note_id, notice.kind, error)
                else:
                    posted += 1
                    log.info("posted notification %s (%s) in %s", note_id, notice.kind, channel)
        return posted
