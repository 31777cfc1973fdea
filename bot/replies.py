"""Questions answered after the ack: a reply order, done on this process's pool or handed to the reply process.

A listener reads the event into a ReplyOrder (plain values) and hands it over. `Replies` does the work here,
on EventWork's bounded pool. In `finetune-bot run`, the orders go to a reply process instead
(bot.reply_process): the answers' work (reading the thread, streaming the model, writing the database)
then never holds the interpreter that acknowledges Slack's next requests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from slack_sdk import WebClient

from bot.answering import Answering
from bot.event_work import EventWork
from bot.questions import Question
from bot.suggestions import Suggestions
from bot.views import reply as view
from storage import queries
from storage.db import Database


@dataclass(frozen=True)
class ReplyOrder:
    """One question to answer, as the listener read it."""

    event_id: str | None
    question: Question
    bot_user_id: str
    only_in_bot_thread: bool = False  # an unmentioned follow-up: answered only in a thread the bot answers in
    refuse_when_busy: bool = True  # a full pool posts a short "busy" note (not for a follow-up nobody addressed)


class TakesReplies(Protocol):
    def take(self, order: ReplyOrder) -> None: ...


class Replies:
    """Does reply orders on `event_work`: an answer, or a person's better answer, or a refusal when full."""

    def __init__(self, event_work: EventWork, answering: Answering, suggestions: Suggestions, slack: WebClient,
                 db: Database) -> None:
        self.event_work = event_work
        self.answering = answering
        self.suggestions = suggestions
        self.slack = slack
        self.db = db

    def take(self, order: ReplyOrder) -> None:
        question = order.question

        def work() -> None:
            if order.only_in_bot_thread and not self._bot_thread(question):
                return
            respond(self.slack, question, order.bot_user_id, self.answering, self.suggestions)

        self.event_work.submit(order.event_id, work,
                               refuse=(lambda: refuse(self.slack, question)) if order.refuse_when_busy else None,
                               unfinished=lambda: self.answering.unfinished(question))

    def _bot_thread(self, question: Question) -> bool:
        with self.db.session() as session:
            return queries.is_bot_thread(session, question.channel, question.thread_ts or "")


def respond(client: WebClient, question: Question, bot_user_id: str, answering: Answering, suggestions: Suggestions) -> None:
    """A question gets an answer; 'better: …' in a thread is a person's better answer to the last one."""
    if (better := question.suggestion) is not None:
        suggestions.suggest(client, question, better)
    else:
        answering.answer(client, question, bot_user_id)


def refuse(client: WebClient, question: Question) -> None:
    client.chat_postMessage(channel=question.channel, thread_ts=question.root, text=view.BUSY)
