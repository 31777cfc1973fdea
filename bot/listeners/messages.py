"""Questions to the bot: @mentions in channels, direct messages, and follow-ups in its threads.

Each listener only reads the event and hands the work to EventWork: the reply (and any database
read) happens after Slack has its acknowledgement.
"""
from __future__ import annotations

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.answering import Answering
from bot.event_work import EventWork
from bot.questions import Question
from bot.suggestions import Suggestions
from bot.views import reply as view
from storage import queries
from storage.db import Database


def on_mention(
    event: dict, body: dict, client: WebClient, context: BoltContext,
    event_work: EventWork, answering: Answering, suggestions: Suggestions,
) -> None:
    question = Question.of(event, body.get("team_id"))
    event_work.submit(
        body.get("event_id"),
        lambda: respond(client, question, context.bot_user_id or "", answering, suggestions),
        refuse=lambda: refuse(client, question),
        unfinished=lambda: answering.unfinished(question),
    )


def on_message(
    event: dict, body: dict, client: WebClient, context: BoltContext,
    event_work: EventWork, answering: Answering, suggestions: Suggestions, db: Database,
) -> None:
    """DMs are always for the bot; in channels, only unmentioned follow-ups in the bot's own threads."""
    if event.get("subtype") or event.get("bot_id") or not event.get("user"):
        return
    bot_user_id = context.bot_user_id or ""
    direct = event.get("channel_type") == "im"
    if not direct and (f"<@{bot_user_id}>" in event.get("text", "") or not event.get("thread_ts")):
        return  # app_mention answers a mention; a new top-level message in a channel is not for the bot
    question = Question.of(event, body.get("team_id"))

    def work() -> None:
        if direct or _bot_thread(db, question):
            respond(client, question, bot_user_id, answering, suggestions)

    event_work.submit(body.get("event_id"), work, refuse=lambda: refuse(client, question) if direct else None,
                      unfinished=lambda: answering.unfinished(question))


def respond(client: WebClient, question: Question, bot_user_id: str, answering: Answering, suggestions: Suggestions) -> None:
    """A question gets an answer; 'better: …' in a thread is a person's better answer to the last one."""
    if (better := question.suggestion) is not None:
        suggestions.suggest(client, question, better)
    else:
        answering.answer(client, question, bot_user_id)


def refuse(client: WebClient, question: Question) -> None:
    client.chat_postMessage(channel=question.channel, thread_ts=question.root, text=view.BUSY)


def _bot_thread(db: Database, question: Question) -> bool:
    with db.session() as session:
        return queries.is_bot_thread(session, question.channel, question.thread_ts or "")


def register(app: App) -> None:
    app.event("app_mention")(on_mention)
    app.event("message")(on_message)
