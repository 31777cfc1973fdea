"""Questions to the bot: @mentions in channels, direct messages, and follow-ups in its threads.

Each listener only reads the event into a reply order and hands it over (bot.replies): the reply, and any
database read, happen after Slack has its acknowledgement, here or in the reply process.
"""
from __future__ import annotations

from slack_bolt import App, BoltContext

from bot.questions import Question
from bot.replies import ReplyOrder, TakesReplies


def on_mention(event: dict, body: dict, context: BoltContext, replies: TakesReplies) -> None:
    question = Question.read(event, body.get("team_id"))
    if question is None:
        return
    replies.take(ReplyOrder(body.get("event_id"), question, context.bot_user_id or ""))


def on_message(event: dict, body: dict, context: BoltContext, replies: TakesReplies) -> None:
    """DMs are always for the bot; in channels, only unmentioned follow-ups in the bot's own threads."""
    if event.get("subtype") or event.get("bot_id") or not event.get("user"):
        return
    bot_user_id = context.bot_user_id or ""
    direct = event.get("channel_type") == "im"
    if not direct and (f"<@{bot_user_id}>" in event.get("text", "") or not event.get("thread_ts")):
        return  # app_mention answers a mention; a new top-level message in a channel is not for the bot
    question = Question.read(event, body.get("team_id"))
    if question is None:
        return
    replies.take(ReplyOrder(body.get("event_id"), question, bot_user_id,
                            only_in_bot_thread=not direct, refuse_when_busy=direct))


def register(app: App) -> None:
    app.event("app_mention")(on_mention)
    app.event("message")(on_message)
