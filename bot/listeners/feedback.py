"""Slack's native feedback buttons under each reply: positive approves, negative marks the reply bad.

A click is acknowledged at once; the vote is recorded on the event pool, and the person who clicked
is told what it did (only them). Clicking the same button again changes nothing.
"""
from __future__ import annotations

import logging

from slack_bolt import Ack, App, Respond

from bot.curation_notes import links_flag, not_a_curator
from bot.event_work import EventWork
from bot.views import reply as view
from finetune.clock import Clock
from finetune.votes import Vote, VoteResult, record_vote
from storage.db import Database
from storage.queries import Curation

log = logging.getLogger("bot.feedback")


def vote_of_click(body: dict, action: dict) -> Vote | None:
    """The vote one click casts; None when the payload lacks what a vote needs."""
    user = (body.get("user") or {}).get("id")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")
    value = action.get("value")
    if not (user and channel and ts) or value not in (view.POSITIVE, view.NEGATIVE):
        return None
    return Vote.button(channel, ts, user, positive=value == view.POSITIVE, action_ts=action.get("action_ts"))


def on_feedback(
    ack: Ack, body: dict, action: dict, respond: Respond,
    db: Database, clock: Clock, curation: Curation, event_work: EventWork,
) -> None:
    ack()
    vote = vote_of_click(body, action)
    if vote is None:
        log.info("a feedback click without a user, message or known value; ignored")
        return

    def work() -> None:
        result = record_vote(db, clock, vote, curation)
        why = not_a_curator(curation) if result is VoteResult.NOT_A_CURATOR else None
        lines = [view.vote_note(result, vote.positive, why), links_flag(db, vote, result)]
        respond(text="\n".join(line for line in lines if line), response_type="ephemeral", replace_original=False)

    event_work.submit(None, work)


def register(app: App) -> None:
    app.action(view.FEEDBACK_ACTION)(on_feedback)
