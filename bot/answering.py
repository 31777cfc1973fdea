"""Answering a question in its thread: a claimed reply, a placeholder, the streamed answer, the record kept."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient

from bot.questions import Question, strip_mentions
from bot.thread_history import thread_turns
from bot.views import reply as view
from finetune.chat import ChatError, ChatModel, ModelNotFound, build_messages
from finetune.clock import Clock
from finetune.reply_model import ReplyModel
from storage import queries
from storage.db import Database
from storage.enums import ReplyAuthor

log = logging.getLogger("bot.answering")

UPDATE_EVERY_SECONDS = 1.5  # chat.update is Tier 3 (~50/min per workspace): throttle streamed edits


@dataclass(frozen=True)
class Persona:
    system_prompt: str
    approve_reaction: str  # the emoji the footer asks for


class Answering:
    def __init__(self, db: Database, chat: ChatModel, reply_model: ReplyModel, clock: Clock, persona: Persona) -> None:
        self.db = db
        self.chat = chat
        self.reply_model = reply_model
        self.clock = clock
        self.persona = persona

    def answer(self, client: WebClient, question: Question, bot_user_id: str) -> None:
        text = strip_mentions(question.text)
        if not text:
            client.chat_postMessage(channel=question.channel, thread_ts=question.root, text=view.HINT)
            return
        history = thread_turns(client, self.db, question, bot_user_id)
        model = self.reply_model.current()
        messages = build_messages(self.persona.system_prompt, history, text)
        with self.db.session() as session:
            reply_id = queries.claim_reply(
                session,
                channel=question.channel,
                source_ts=question.ts,
                thread_ts=question.root,
                user_id=question.user,
                team_id=question.team_id,
                model=model,
                messages=messages,
                now=self.clock.now(),
            )
        if reply_id is None:
            log.info("already answering %s/%s; ignoring the duplicate", question.channel, question.ts)
            return
        try:
            self._answer_claimed(client, question, reply_id, model, messages)
        except Exception as exc:
            # Slack unreachable, a network reset, a bug: the claim must not stay 'pending' forever.
            self._failed(reply_id, crash_reason(exc))
            raise

    def _answer_claimed(
        self, client: WebClient, question: Question, reply_id: int, model: str, messages: list[dict]
    ) -> None:
        placeholder = client.chat_postMessage(channel=question.channel, thread_ts=question.root, text=view.THINKING)
        ts = placeholder["ts"]
        with self.db.session() as session:
            queries.reply_posted(session, reply_id, ts)
        try:
            answer, model = self._ask(model, messages, self._streamer(client, question.channel, ts))
        except Exception as exc:
            # The apology says what happened in plain words (a ChatError's reason is written for people); any
            # other error's own text (a codec message, a bug) goes to the log and the reply's record only.
            reason = exc.reason if isinstance(exc, ChatError) else view.UNEXPECTED
            detail = exc.reason if isinstance(exc, ChatError) else crash_reason(exc)
            log.warning("reply %s in %s failed: %s", reply_id, question.channel, detail)
            try:
                client.chat_update(channel=question.channel, ts=ts, text=view.apology(reason))
            finally:
                self._failed(reply_id, detail)  # after the apology is visible, so readers never see it half-done
            return
        client.chat_update(
            channel=question.channel,
            ts=ts,
            text=answer,
            blocks=view.answer_blocks(answer, model, self.persona.approve_reaction),
            metadata=view.reply_metadata(reply_id, model, ReplyAuthor.MODEL),
        )
        with self.db.session() as session:
            queries.finish_reply(session, reply_id, text=answer, model=model, now=self.clock.now())
        log.info("answered %s/%s with %s (reply %s)", question.channel, ts, model, reply_id)

    def _ask(self, model: str, messages: list[dict], on_text: Callable[[str], None]) -> tuple[str, str]:
        """A fine-tuned model the serving end forgot is deployed again; one no longer served at all is
        recorded once, and the base model answers."""
        try:
            return self.chat.reply(model, messages, on_text=on_text), model
        except ModelNotFound:
            base = self.reply_model.base_model
            if model == base:
                raise
            if self.reply_model.restore(model):
                try:
                    return self.chat.reply(model, messages, on_text=on_text), model
                except ModelNotFound:
                    pass
            self.reply_model.unavailable(model)
            return self.chat.reply(base, messages, on_text=on_text), base

    def _failed(self, reply_id: int, reason: str) -> None:
        with self.db.session() as session:
            queries.fail_reply(session, reply_id, reason)

    @staticmethod
    def _streamer(client: WebClient, channel: str, ts: str) -> Callable[[str], None]:
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


def crash_reason(exc: Exception) -> str:
    """What went wrong, for the reply's record and the log (never shown in a channel)."""
    return f"{type(exc).__name__}: {exc}"[:500]
