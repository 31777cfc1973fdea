"""Questions to the bot: @mentions in channels, direct messages, and follow-ups in its threads."""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from bot.replying import Question
from bot.services import Services
from storage.models import Reply

log = logging.getLogger("bot.messages")


def _question(event: dict, team_id: str | None) -> Question:
    return Question(
        channel=event["channel"],
        user=event.get("user", ""),
        text=event.get("text", ""),
        ts=event["ts"],
        thread_ts=event.get("thread_ts"),
        team_id=event.get("team") or team_id,
    )


def _bot_thread(services: Services, channel: str, thread_ts: str) -> bool:
    with services.db.session() as session:
        return session.query(Reply.id).filter(Reply.channel == channel, Reply.thread_ts == thread_ts).first() is not None


def register(app: App, services: Services) -> None:
    @app.event("app_mention")
    def on_mention(event: dict, client: WebClient, context, body: dict) -> None:
        services.responder.handle(client, _question(event, body.get("team_id")), context.bot_user_id)

    @app.event("message")
    def on_message(event: dict, client: WebClient, context, body: dict) -> None:
        """DMs are always for the bot; in channels, only unmentioned follow-ups in the bot's own threads."""
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        bot_user_id = context.bot_user_id
        if event.get("channel_type") != "im":
            if f"<@{bot_user_id}>" in event.get("text", ""):
                return  # app_mention answers it
            thread_ts = event.get("thread_ts")
            if not thread_ts or not _bot_thread(services, event["channel"], thread_ts):
                return
        services.responder.handle(client, _question(event, body.get("team_id")), bot_user_id)
