"""A person's vote on one of the bot's replies: what an approving emoji (and later a button) records.

Slack-free: the reactions listener, and later the feedback buttons, turn their payloads into a Vote.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from finetune.clock import Clock
from storage import queries
from storage.db import Database

log = logging.getLogger("finetune.votes")


@dataclass(frozen=True)
class Vote:
    channel: str
    ts: str  # the bot's reply being voted on
    user: str
    signal: str  # what was used: an emoji name such as "+1"
    approve: bool  # True: the vote is cast; False: it is taken back
    event_ts: str | None = None  # Slack's order of events, so a late 'added' cannot undo a 'removed'


class VoteResult(StrEnum):
    COUNTED = "counted"  # the vote now counts
    WITHDRAWN = "withdrawn"  # the vote no longer counts
    UNCHANGED = "unchanged"  # a repeat, or an older event than one already applied
    NOT_A_REPLY = "not_a_reply"  # the message is not one of the bot's replies


def record_vote(db: Database, clock: Clock, vote: Vote) -> VoteResult:
    now = clock.now()
    with db.session() as session:
        reply = queries.find_reply(session, vote.channel, vote.ts)
        if reply is None:
            return VoteResult.NOT_A_REPLY
        if vote.approve:
            if queries.add_approval(session, reply, vote.user, vote.signal, now, vote.event_ts):
                log.info("reply %s approved by %s with :%s:", reply.id, vote.user, vote.signal)
                return VoteResult.COUNTED
        elif queries.remove_approval(session, reply, vote.user, vote.signal, now, vote.event_ts):
            left = queries.approval_count(session, reply)
            log.info("reply %s lost an approval from %s; %s left", reply.id, vote.user, left)
            return VoteResult.WITHDRAWN
    return VoteResult.UNCHANGED
