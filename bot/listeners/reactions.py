"""Reactions on the bot's replies: an approving emoji votes for the example, a reject emoji (-1) against it."""
from __future__ import annotations

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.config import Settings
from bot.curation_notes import links_flag, not_a_curator
from bot.event_work import EventWork
from bot.views import reply as view
from finetune.clock import Clock
from finetune.votes import Vote, VoteResult, record_vote
from storage.db import Database
from storage.queries import Curation


def base_name(reaction: str) -> str:
    """'+1::skin-tone-3' counts as '+1'."""
    return reaction.split("::", 1)[0]


def vote_of(
    event: dict, bot_user_id: str | None, approving: tuple[str, ...], rejecting: tuple[str, ...] = ()
) -> Vote | None:
    """The vote a reaction event casts or takes back; None when it is no approving or reject emoji on a message."""
    item = event.get("item") or {}
    reaction = base_name(event.get("reaction", ""))
    if item.get("type") != "message" or reaction not in approving + rejecting:
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
        positive=reaction in approving,
    )


def on_reaction(
    event: dict, body: dict, context: BoltContext, client: WebClient, settings: Settings, event_work: EventWork,
    db: Database, clock: Clock, curation: Curation,
) -> None:
    vote = vote_of(event, context.bot_user_id, settings.approve_reactions, settings.reject_reactions)
    if vote is None:
        return

    def work() -> None:
        result = record_vote(db, clock, vote, curation)
        lines = []
        if result in (VoteResult.NOT_A_CURATOR, VoteResult.OWN_ANSWER) and vote.approve:  # say why, once per reaction added
            lines.append(view.vote_note(result, vote.positive, not_a_curator(curation)))
        lines.append(links_flag(db, vote, result))
        if text := "\n".join(line for line in lines if line):
            client.chat_postEphemeral(channel=vote.channel, user=vote.user, text=text)

    event_work.submit(body.get("event_id"), work)


def register(app: App) -> None:
    app.event("reaction_added")(on_reaction)
    app.event("reaction_removed")(on_reaction)
