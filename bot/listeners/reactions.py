"""Approving reactions on the bot's replies: each one is a person's vote for that example."""
from __future__ import annotations

from slack_bolt import App, BoltContext

from bot.config import Settings
from bot.event_work import EventWork
from finetune.clock import Clock
from finetune.votes import Vote, record_vote
from storage.db import Database


def base_name(reaction: str) -> str:
    """'+1::skin-tone-3' counts as '+1'."""
    return reaction.split("::", 1)[0]


def vote_of(event: dict, bot_user_id: str | None, approving: tuple[str, ...]) -> Vote | None:
    """The vote a reaction event casts or takes back; None when it is not an approving emoji on a message."""
    item = event.get("item") or {}
    reaction = base_name(event.get("reaction", ""))
    if item.get("type") != "message" or reaction not in approving:
        return None
    if event.get("user") in (None, bot_user_id) or not item.get("channel") or not item.get("ts"):
        return None
    return Vote(
        channel=item["channel"],
        ts=item["ts"],
        user=event["user"],
        signal=reaction,
        approve=event.get("type") == "reaction_added",
        event_ts=event.get("event_ts"),
    )


def on_reaction(
    event: dict, body: dict, context: BoltContext, settings: Settings, event_work: EventWork, db: Database, clock: Clock,
) -> None:
    vote = vote_of(event, context.bot_user_id, settings.approve_reactions)
    if vote is not None:
        event_work.submit(body.get("event_id"), lambda: record_vote(db, clock, vote))


def register(app: App) -> None:
    app.event("reaction_added")(on_reaction)
    app.event("reaction_removed")(on_reaction)
