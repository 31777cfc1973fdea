"""A person's corrected answer to a reply: the Improve modal and `better: …` both end here.

The correction becomes the example's assistant turn (the reply's own text stays beside it as the
original), and it counts as the corrector's approval of the corrected answer.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from finetune.clock import Clock
from storage import queries
from storage.db import Database
from storage.enums import ReplyStatus
from storage.queries import Curation

log = logging.getLogger("finetune.corrections")

IMPROVE_SIGNAL = "improve"  # the approval a saved correction casts


class CorrectionResult(StrEnum):
    SAVED = "saved"
    NOT_A_REPLY = "not_a_reply"
    NOT_A_CURATOR = "not_a_curator"
    UNCHANGED = "unchanged"  # the text is what the reply already says


@dataclass(frozen=True)
class Saved:
    result: CorrectionResult
    thread_ts: str | None = None


def text_to_improve(db: Database, channel: str, ts: str) -> str | None:
    """The answer as it stands (its latest correction, else the reply); None when it is no answer of the bot's."""
    with db.session() as session:
        reply = queries.find_reply(session, channel, ts)
        if reply is None or reply.status != ReplyStatus.ANSWERED or not reply.reply_text:
            return None
        latest = queries.latest_correction(session, reply.id)
        return latest.text if latest else reply.reply_text


def save_correction(db: Database, clock: Clock, curation: Curation, *, channel: str, ts: str, user: str, text: str,
                    source: str = IMPROVE_SIGNAL) -> Saved:
    if not curation.counts(user):
        return Saved(CorrectionResult.NOT_A_CURATOR)
    now = clock.now()
    with db.session() as session:
        reply = queries.find_reply(session, channel, ts)
        if reply is None or reply.status != ReplyStatus.ANSWERED:
            return Saved(CorrectionResult.NOT_A_REPLY)
        latest = queries.latest_correction(session, reply.id)
        if text == (latest.text if latest else reply.reply_text):
            return Saved(CorrectionResult.UNCHANGED, reply.thread_ts)
        queries.add_correction(session, reply, user, text, source, now)
        queries.add_approval(session, reply, user, IMPROVE_SIGNAL, now, positive=True, recast_before=now)
        log.info("reply %s corrected by %s (%s characters, from %s)", reply.id, user, len(text), source)
        return Saved(CorrectionResult.SAVED, reply.thread_ts)
