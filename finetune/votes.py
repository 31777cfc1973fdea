"""A person's vote on one of the bot's replies: what an emoji, a feedback button or a correction records.

Slack-free: the reactions and feedback-button listeners turn their payloads into a Vote; who counts and
how many approvals make an example is the Curation (CURATOR_USER_IDS, APPROVALS_REQUIRED,
ALLOW_SELF_APPROVAL). Who wrote an answer is decided here too: the person whose words the example
would teach (the latest correction's author, else the suggester of a `better: …`), or nobody when
the model wrote it. That person's approval does not count alone.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum

from finetune.clock import Clock
from storage import queries
from storage.db import Database
from storage.models import Correction, Reply
from storage.queries import EVERYONE, Curation

log = logging.getLogger("finetune.votes")

POSITIVE_BUTTON = "button:positive"
NEGATIVE_BUTTON = "button:negative"
BUTTONS = (POSITIVE_BUTTON, NEGATIVE_BUTTON)


@dataclass(frozen=True)
class Vote:
    channel: str
    ts: str  # the bot's reply being voted on
    user: str
    signal: str  # what was used: an emoji name such as "+1", or one of BUTTONS
    approve: bool  # True: the vote is cast; False: it is taken back
    event_ts: str | None = None  # Slack's order of events, so a late 'added' cannot undo a 'removed'
    positive: bool = True  # False: a vote against the reply (a reject emoji, the negative button)

    @classmethod
    def button(cls, channel: str, ts: str, user: str, *, positive: bool, action_ts: str | None) -> Vote:
        """A feedback-button click: it casts one side; the other side of the same person is taken back."""
        return cls(channel, ts, user, POSITIVE_BUTTON if positive else NEGATIVE_BUTTON, True, action_ts, positive)


@dataclass(frozen=True)
class Answer:
    """The text a reply's example would teach, and the person who wrote it (None: the model did)."""

    text: str
    author: str | None

    @property
    def links(self) -> tuple[str, ...]:
        return links_in(self.text) if self.author else ()  # a person's link is what an approver should check


# Slack sends links as <https://…> or <https://…|label>; text typed elsewhere may carry them bare.
_LINK = re.compile(r"<((?:https?|ftp)://[^>|\s]+)(?:\|[^>]*)?>|\b((?:https?://|www\.)[^\s<>|]+)", re.IGNORECASE)


def links_in(text: str) -> tuple[str, ...]:
    """The links in a text, each once, in order."""
    found = (m.group(1) or m.group(2).rstrip(".,;:!?)") for m in _LINK.finditer(text))
    return tuple(dict.fromkeys(found))


def author_of(reply: Reply, latest: Correction | None) -> str | None:
    """Whose words the example teaches: the latest correction's author, else a suggestion's; None for the model's own."""
    return latest.user_id if latest is not None else reply.suggested_by


def answer_of(db: Database, channel: str, ts: str) -> Answer | None:
    """The answer a reply's example would teach now; None when the message is no reply of the bot's."""
    with db.session() as session:
        reply = queries.find_reply(session, channel, ts)
        if reply is None:
            return None
        latest = queries.latest_correction(session, reply.id)
        return Answer(latest.text if latest else reply.reply_text or "", author_of(reply, latest))


class VoteResult(StrEnum):
    COUNTED = "counted"  # the vote now counts
    OWN_ANSWER = "own_answer"  # recorded, but its author's approval needs someone else's beside it
    WITHDRAWN = "withdrawn"  # the vote no longer counts
    UNCHANGED = "unchanged"  # a repeat, or an older event than one already applied
    NOT_A_REPLY = "not_a_reply"  # the message is not one of the bot's replies
    NOT_A_CURATOR = "not_a_curator"  # the person is not among CURATOR_USER_IDS: the vote is not recorded


def record_vote(db: Database, clock: Clock, vote: Vote, curation: Curation = EVERYONE) -> VoteResult:
    if not curation.counts(vote.user):
        return VoteResult.NOT_A_CURATOR
    now = clock.now()
    with db.session() as session:
        reply = queries.find_reply(session, vote.channel, vote.ts)
        if reply is None:
            return VoteResult.NOT_A_REPLY
        if vote.signal in BUTTONS and vote.approve:  # one side at a time, as Slack shows the buttons
            other = NEGATIVE_BUTTON if vote.positive else POSITIVE_BUTTON
            queries.remove_approval(session, reply, vote.user, other, now, vote.event_ts, positive=not vote.positive)
        if vote.approve:
            latest = queries.latest_correction(session, reply.id)
            if queries.add_approval(session, reply, vote.user, vote.signal, now, vote.event_ts, positive=vote.positive,
                                    recast_before=latest.created_at if latest else None):
                log.info("reply %s %s by %s with %s", reply.id, "approved" if vote.positive else "marked bad",
                         vote.user, vote.signal)
                own = author_of(reply, latest) == vote.user
                if vote.positive and own and not curation.self_approval:
                    return VoteResult.OWN_ANSWER
                return VoteResult.COUNTED
        elif queries.remove_approval(session, reply, vote.user, vote.signal, now, vote.event_ts, positive=vote.positive):
            left = queries.approval_count(session, reply)
            log.info("reply %s lost a vote from %s; %s approval(s) left", reply.id, vote.user, left)
            return VoteResult.WITHDRAWN
    return VoteResult.UNCHANGED
