"""Approving reactions on the bot's replies: each one adds a person's vote for that example."""
from __future__ import annotations

import logging

from slack_bolt import App

from bot.services import Services
from storage import queries

log = logging.getLogger("bot.reactions")


def base_name(reaction: str) -> str:
    """'+1::skin-tone-3' counts as '+1'."""
    return reaction.split("::", 1)[0]


def register(app: App, services: Services) -> None:
    approving = set(services.settings.approve_reactions)

    def target(event: dict, context):
        item = event.get("item") or {}
        if item.get("type") != "message" or base_name(event.get("reaction", "")) not in approving:
            return None
        if event.get("user") in (None, context.bot_user_id):
            return None
        return item.get("channel"), item.get("ts")

    def record(event: dict, context, *, added: bool) -> None:
        where = target(event, context)
        if where is None:
            return
        user, reaction, event_ts = event["user"], base_name(event["reaction"]), event.get("event_ts")
        now = services.clock.now()
        with services.db.session() as session:
            reply = queries.find_reply(session, *where)
            if reply is None:
                return
            if added and queries.add_approval(session, reply, user, reaction, now, event_ts):
                log.info("reply %s approved by %s with :%s:", reply.id, user, reaction)
            elif not added and queries.remove_approval(session, reply, user, reaction, now, event_ts):
                left = queries.approval_count(session, reply)
                log.info("reply %s lost an approval from %s; %s left", reply.id, user, left)

    @app.event("reaction_added")
    def on_reaction_added(event: dict, context) -> None:
        record(event, context, added=True)

    @app.event("reaction_removed")
    def on_reaction_removed(event: dict, context) -> None:
        record(event, context, added=False)
