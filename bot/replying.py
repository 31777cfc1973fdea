"""Answering a question in its thread: context from the thread, a streamed reply, the record kept."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import openai
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import formatting
from bot.config import Settings
from finetune.chat import ChatModel, Turn, build_messages
from finetune.clock import Clock
from finetune.pipeline import Pipeline
from storage import queries
from storage.db import Database
from storage.models import Reply

log = logging.getLogger("bot.replying")

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SUGGESTION = re.compile(r"^better(?: answer)?\s*[:\-\u2013]\s*(?P<text>.+)$", re.IGNORECASE | re.DOTALL)
UPDATE_EVERY_SECONDS = 1.5  # chat.update is Tier 3 (~50/min per workspace): throttle streamed edits


def strip_mentions(text: str) -> str:
    """Drops <@U…> mentions; keeps the person's line breaks (they matter in a suggested answer)."""
    return re.sub(r"[ \t]+", " ", MENTION.sub(" ", text or "")).strip()


def suggested_text(text: str) -> str | None:
    """The answer in 'better: …', or None when the message is not a suggestion."""
    match = SUGGESTION.match(strip_mentions(text))
    return match.group("text").strip() if match else None


@dataclass(frozen=True)
class Question:
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: str | None
    team_id: str | None


class Responder:
    def __init__(self, settings: Settings, db: Database, chat: ChatModel, pipeline: Pipeline, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.chat = chat
        self.pipeline = pipeline
        self.clock = clock

    def handle(self, client: WebClient, question: Question, bot_user_id: str) -> None:
        """A question gets an answer; 'better: …' in a thread is a person's better answer to the last one."""
        suggestion = suggested_text(question.text) if question.thread_ts else None
        if suggestion:
            self.suggest(client, question, suggestion)
        else:
            self.answer(client, question, bot_user_id)

    def suggest(self, client: WebClient, question: Question, text: str) -> None:
        """Posts a person's better answer as a reply of the bot's own, so approving it works like any reply."""
        with self.db.session() as session:
            original = queries.model_answer_before(session, question.channel, question.thread_ts, question.ts)
            reply = original and queries.start_reply(
                session,
                channel=question.channel,
                source_ts=question.ts,
                thread_ts=question.thread_ts,
                user_id=question.user,
                team_id=question.team_id,
                model=original.model,
                messages=original.messages,
                now=self.clock.now(),
                author=question.user,
            )
            reply_id = reply.id if reply else None
            original_model = original.model if original else ""
        if original is None:
            client.chat_postMessage(channel=question.channel, thread_ts=question.thread_ts, text=formatting.NOTHING_TO_IMPROVE)
            return
        if reply_id is None:
            return  # already posted: a redelivery of the same suggestion
        try:
            posted = client.chat_postMessage(
                channel=question.channel,
                thread_ts=question.thread_ts,
                text=text,
                blocks=formatting.suggestion_blocks(text, question.user, self.settings.approve_reactions[0]),
                metadata=formatting.reply_metadata(reply_id, original_model, question.user),
            )
        except Exception as exc:
            self._failed(reply_id, _crash(exc))
            raise
        with self.db.session() as session:
            row = session.get(Reply, reply_id)
            row.ts, row.reply_text, row.status, row.answered_at = posted["ts"], text, "answered", self.clock.now()
        log.info("suggestion from %s posted as %s/%s (reply %s)", question.user, question.channel, posted["ts"], reply_id)

    def answer(self, client: WebClient, question: Question, bot_user_id: str) -> None:
        root = question.thread_ts or question.ts
        text = strip_mentions(question.text)
        if not text:
            client.chat_postMessage(channel=question.channel, thread_ts=root, text=formatting.HINT)
            return
        history = self._history(client, question, bot_user_id) if question.thread_ts else []
        model = self.pipeline.active_model()
        messages = build_messages(self.settings.system_prompt, history, text)
        with self.db.session() as session:
            reply = queries.start_reply(
                session,
                channel=question.channel,
                source_ts=question.ts,
                thread_ts=root,
                user_id=question.user,
                team_id=question.team_id,
                model=model,
                messages=messages,
                now=self.clock.now(),
            )
            if reply is None:
                log.info("already answering %s/%s; ignoring the duplicate", question.channel, question.ts)
                return
            reply_id = reply.id
        try:
            self._answer_claimed(client, question, root, reply_id, model, messages)
        except Exception as exc:
            # Slack unreachable, a network reset, a bug: the claim must not stay 'pending' forever.
            self._failed(reply_id, _crash(exc))
            raise

    def _answer_claimed(
        self, client: WebClient, question: Question, root: str, reply_id: int, model: str, messages: list[dict]
    ) -> None:
        placeholder = client.chat_postMessage(channel=question.channel, thread_ts=root, text=formatting.THINKING)
        ts = placeholder["ts"]
        with self.db.session() as session:
            session.get(Reply, reply_id).ts = ts
        try:
            answer, model = self._ask(model, messages, self._streamer(client, question.channel, ts))
            if not answer:
                raise ValueError("the model returned an empty answer")
        except (openai.APIError, ValueError) as exc:
            reason = _reason(exc)
            log.warning("reply %s in %s failed: %s", reply_id, question.channel, reason)
            try:
                client.chat_update(channel=question.channel, ts=ts, text=formatting.apology(reason))
            finally:
                self._failed(reply_id, reason)  # after the apology is visible, so readers never see it half-done
            return
        client.chat_update(
            channel=question.channel,
            ts=ts,
            text=answer,
            blocks=formatting.reply_blocks(answer, model, self.settings.approve_reactions[0]),
            metadata=formatting.reply_metadata(reply_id, model, "model"),
        )
        with self.db.session() as session:
            row = session.get(Reply, reply_id)
            row.reply_text, row.status, row.answered_at, row.model = answer, "answered", self.clock.now(), model
        log.info("answered %s/%s with %s (reply %s)", question.channel, ts, model, reply_id)

    def _ask(self, model: str, messages: list[dict], on_text) -> tuple[str, str]:
        """A fine-tuned model the provider no longer serves falls back to the base model, not to apologies."""
        try:
            return self.chat.reply(model, messages, on_text=on_text), model
        except openai.NotFoundError:
            base = self.settings.base_model
            if model == base:
                raise
            log.warning("reply model %s was not found; answering with the base model %s", model, base)
            return self.chat.reply(base, messages, on_text=on_text), base

    def _failed(self, reply_id: int, reason: str) -> None:
        with self.db.session() as session:
            row = session.get(Reply, reply_id)
            row.status, row.error = "failed", reason

    def _history(self, client: WebClient, question: Question, bot_user_id: str) -> list[Turn]:
        """Earlier turns of the thread: people's messages, and the bot's real answers (not its hints)."""
        turns: list[Turn] = []
        try:
            pages = client.conversations_replies(channel=question.channel, ts=question.thread_ts, limit=200)
            messages = [m for page in pages for m in page.get("messages", [])]
        except SlackApiError as exc:
            log.warning("could not read thread %s/%s: %s", question.channel, question.thread_ts, exc.response.get("error"))
            return turns
        with self.db.session() as session:
            for message in messages:
                if float(message.get("ts", "0")) >= float(question.ts):
                    continue
                if message.get("user") == bot_user_id or message.get("bot_id"):
                    reply = queries.find_reply(session, question.channel, message.get("ts", ""))
                    if reply is not None and reply.status == "answered" and reply.reply_text:
                        turns.append(Turn("assistant", reply.reply_text))
                elif suggested_text(message.get("text", "")) is None and (text := strip_mentions(message.get("text", ""))):
                    turns.append(Turn("user", text))  # a 'better: …' line is not part of the conversation
        return turns

    @staticmethod
    def _streamer(client: WebClient, channel: str, ts: str):
        last = [time.monotonic()]

        def on_text(so_far: str) -> None:
            now = time.monotonic()
            if now - last[0] < UPDATE_EVERY_SECONDS:
                return
            last[0] = now
            try:
                client.chat_update(channel=channel, ts=ts, text=so_far + " ▍")
            except Exception as exc:  # a lost progress update is harmless; the final update carries the answer
                log.info("skipped a streaming update: %s", type(exc).__name__)

        return on_text


def _crash(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _reason(exc: Exception) -> str:
    if isinstance(exc, openai.RateLimitError):
        return "the model is rate-limited"
    if isinstance(exc, openai.APIConnectionError):
        return "the model could not be reached"
    if isinstance(exc, openai.NotFoundError):
        return "the reply model was not found"
    if isinstance(exc, openai.APIStatusError):
        return f"the model answered with an error {exc.status_code}"
    return str(exc)
