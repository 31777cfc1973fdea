"""Answering a question in its thread: a claimed reply, a placeholder, the streamed answer, the record kept.

Every Slack call here goes through SlackRetry (waits bounded by its deadline, on the event-work pool), and a
reply ends on its answer, an apology, or one line saying the bot gave up: never on "Thinking…". A reply's
work is leased, so one a dead process left pending is taken over (by the start-up sweep, the scheduler's
periodic sweep, or Slack's redelivery of its event) and answered again.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from slack_sdk import WebClient

if TYPE_CHECKING:
    from bot.event_work import EventWork

from bot.questions import Question, strip_mentions
from bot.slack_retry import SlackGaveUp, SlackRetry, bare_client
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
REPLY_LEASE = timedelta(seconds=30)  # a reply's work is leased this long, renewed while it streams and waits
RENEW_EVERY = timedelta(seconds=10)
ABANDONED_AFTER = timedelta(minutes=5)  # a pending reply with no lease at all (claimed before leases) is this old


@dataclass(frozen=True)
class Persona:
    system_prompt: str
    approve_reaction: str  # the emoji the footer asks for


class LeaseLost(Exception):
    """Another process took this reply's work over (our lease ran out): stop without touching it."""


class Answering:
    def __init__(
        self, db: Database, chat: ChatModel, reply_model: ReplyModel, clock: Clock, persona: Persona,
        retry: SlackRetry | None = None,
    ) -> None:
        self.db = db
        self.chat = chat
        self.reply_model = reply_model
        self.clock = clock
        self.persona = persona
        self.retry = retry or SlackRetry(clock)
        self.owner = process_owner()
        self._working: set[int] = set()  # replies this process works on now: never its own sweep's to take
        self._lock = threading.Lock()

    def answer(self, client: WebClient, question: Question, bot_user_id: str) -> None:
        slack = bare_client(client)
        text = strip_mentions(question.text)
        if not text:
            self.retry.call("posting the hint", lambda: slack.chat_postMessage(
                channel=question.channel, thread_ts=question.root, text=view.HINT))
            return
        history = thread_turns(slack, self.db, question, bot_user_id, self.retry)
        model = self.reply_model.current()
        messages = build_messages(self.persona.system_prompt, history, text)
        now = self.clock.now()
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
                now=now,
            )
            if reply_id is not None:
                queries.hold_reply(session, reply_id, self.owner, now, REPLY_LEASE)
        if reply_id is None:
            # Slack's redelivery of a question whose first answer a dead process left unfinished: finish it.
            if (job := self._take_over_source(question)) is not None:
                self._resume(slack, job)
            else:
                log.info("already answering %s/%s; ignoring the duplicate", question.channel, question.ts)
            return
        self._work(slack, _Job(reply_id, question.channel, question.root, model, messages, None))

    def unfinished(self, question: Question) -> bool:
        """Whether Slack's redelivery of this question's event should be worked again: it was never
        claimed (the process died first), or its reply is pending with nobody working on it."""
        if not strip_mentions(question.text):
            return False
        with self.db.session() as session:
            reply = queries.reply_for_source(session, question.channel, question.ts)
            if reply is None:
                return True
            now = self.clock.now()
            return reply.author == ReplyAuthor.MODEL and reply.id not in self._working_now() and queries.is_abandoned(
                session, reply, now, now - ABANDONED_AFTER)

    def resume_abandoned(self, client: WebClient, submit: Callable[[Callable[[], None]], bool]) -> int:
        """Takes over every reply a dead process left pending and hands each to `submit` (the event-work pool):
        answered again, once; a reply already taken over once gets an apology instead (no crash loop)."""
        slack = bare_client(client)
        now = self.clock.now()
        with self.db.session() as session:
            candidates = [r.id for r in queries.abandoned_replies(session, now, now - ABANDONED_AFTER)]
        taken = 0
        for reply_id in candidates:
            if reply_id in self._working_now() or (job := self._take_over(reply_id)) is None:
                continue
            if submit(partial(self._resume, slack, job)):
                taken += 1
            else:
                with self.db.session() as session:
                    queries.release_reply(session, job.reply_id, self.owner, self.clock.now())
        if taken:
            log.info("took over %s reply(s) a stopped bot process left unfinished", taken)
        return taken

    # --- taking over ---------------------------------------------------------------------------------

    def _take_over_source(self, question: Question) -> _Job | None:
        with self.db.session() as session:
            reply = queries.reply_for_source(session, question.channel, question.ts)
            now = self.clock.now()
            if reply is None or reply.id in self._working_now() or not queries.is_abandoned(
                    session, reply, now, now - ABANDONED_AFTER):
                return None
            reply_id = reply.id
        return self._take_over(reply_id)

    def _take_over(self, reply_id: int) -> _Job | None:
        with self.db.session() as session:
            reply = queries.take_over_reply(session, reply_id, self.owner, self.clock.now(), REPLY_LEASE)
            if reply is None:
                return None
            first = reply.error != queries.RESUMED_NOTE
            return _Job(reply.id, reply.channel, reply.thread_ts, reply.model, list(reply.messages), reply.ts,
                        author=reply.author, again=not first, resumed=True)

    def _resume(self, slack: WebClient, job: _Job) -> None:
        if job.author != ReplyAuthor.MODEL:  # a person's suggestion: whether it was posted cannot be told
            log.info("suggestion %s in %s was left unposted by a stopped bot process", job.reply_id, job.channel)
            self._failed(job.reply_id, "the bot stopped before this suggestion was posted")
            return
        if job.again:
            log.info("reply %s in %s was left unfinished twice: apologising", job.reply_id, job.channel)
            with self._working_on(job.reply_id):
                ts = job.ts or self._find_placeholder(slack, job)
                if ts is not None:
                    self._show_final(slack, job, ts, view.RESTARTED)
                self._failed(job.reply_id, "the bot stopped twice while answering")
            return
        log.info("reply %s in %s was left unfinished by a stopped bot process: answering it again", job.reply_id,
                 job.channel)
        with self.db.session() as session:
            queries.note_resumed(session, job.reply_id)
        self._work(slack, job)

    # --- the work ------------------------------------------------------------------------------------

    def _work(self, slack: WebClient, job: _Job) -> None:
        ts = job.ts
        with self._working_on(job.reply_id):
            try:
                if ts is None and job.resumed:  # the dead process may have posted it without recording it
                    ts = self._find_placeholder(slack, job)
                if ts is None:
                    ts = self._post_placeholder(slack, job)
                self._answer_in(slack, job, ts)
            except LeaseLost:
                log.info("reply %s was taken over by another bot process; leaving it to that one", job.reply_id)
            except SlackGaveUp as exc:
                log.warning("reply %s in %s: %s; check Slack's status page and the app's rate limits",
                            job.reply_id, job.channel, exc)
                if ts is not None:
                    self._show_final(slack, job, ts, view.GAVE_UP)
                self._failed(job.reply_id, str(exc))
            except Exception as exc:
                # Slack refusing for good, a network reset, a bug: the claim must not stay 'pending' forever,
                # and the thread must not stay on "Thinking…".
                self._failed(job.reply_id, crash_reason(exc))
                if ts is not None:
                    self._show_final(slack, job, ts, view.apology("something went wrong on my side"))
                raise

    def _answer_in(self, slack: WebClient, job: _Job, ts: str) -> None:
        try:
            answer, model = self._ask(job.model, job.messages, self._streamer(slack, job, ts))
        except ChatError as exc:
            log.warning("reply %s in %s failed: %s", job.reply_id, job.channel, exc.reason)
            try:
                self._update(slack, job, ts, text=view.apology(exc.reason))
            finally:
                self._failed(job.reply_id, exc.reason)  # after the apology is visible, so readers never see it half-done
            return
        self._renew(job.reply_id)  # still ours: another process taking over now would not be overwritten
        self._update(
            slack, job, ts,
            text=answer,
            blocks=view.answer_blocks(answer, model, self.persona.approve_reaction),
            metadata=view.reply_metadata(job.reply_id, model, ReplyAuthor.MODEL),
        )
        with self.db.session() as session:
            queries.finish_reply(session, job.reply_id, text=answer, model=model, now=self.clock.now(), owner=self.owner)
        log.info("answered %s/%s with %s (reply %s)", job.channel, ts, model, job.reply_id)

    def _post_placeholder(self, slack: WebClient, job: _Job) -> str:
        def post() -> str:
            posted = slack.chat_postMessage(channel=job.channel, thread_ts=job.thread_ts, text=view.THINKING,
                                            metadata=view.placeholder_metadata(job.reply_id))
            return str(posted["ts"])

        ts = self.retry.call("posting the placeholder", post, already_done=lambda: self._find_placeholder(slack, job),
                             before_wait=lambda seconds: self._renew(job.reply_id, seconds))
        with self.db.session() as session:
            queries.reply_posted(session, job.reply_id, ts)
        return ts

    def _find_placeholder(self, slack: WebClient, job: _Job) -> str | None:
        """The placeholder Slack may have posted although its answer was lost (a 500, a dead process)."""
        try:
            pages = slack.conversations_replies(channel=job.channel, ts=job.thread_ts, include_all_metadata=True,
                                                limit=200)
            messages = [m for page in pages for m in page.get("messages", [])]
        except Exception as exc:
            log.info("could not look for reply %s's placeholder: %s", job.reply_id, type(exc).__name__)
            return None
        found = next((m["ts"] for m in messages if view.placeholder_of(m) == job.reply_id), None)
        if found is not None:
            with self.db.session() as session:
                queries.reply_posted(session, job.reply_id, found)
        return found

    def _update(self, slack: WebClient, job: _Job, ts: str, **content: object) -> None:
        self.retry.call("updating the reply", lambda: slack.chat_update(channel=job.channel, ts=ts, **content),
                        before_wait=lambda seconds: self._renew(job.reply_id, seconds))

    def _show_final(self, slack: WebClient, job: _Job, ts: str, text: str) -> None:
        """The one line a reply ends on when it cannot end with an answer; best effort, never raises."""
        try:
            self.retry.call("updating the reply", lambda: slack.chat_update(channel=job.channel, ts=ts, text=text))
        except Exception as exc:
            log.warning("reply %s in %s: could not update its placeholder either (%s)", job.reply_id, job.channel,
                        exc if isinstance(exc, SlackGaveUp) else type(exc).__name__)

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
            queries.fail_reply(session, reply_id, reason, owner=self.owner)

    def _renew(self, reply_id: int, seconds: float = 0) -> None:
        """Keeps this reply's lease for `seconds` more than REPLY_LEASE; LeaseLost when another process has it."""
        with self.db.session() as session:
            held = queries.hold_reply(session, reply_id, self.owner, self.clock.now(),
                                      REPLY_LEASE + timedelta(seconds=seconds))
        if not held:
            raise LeaseLost(reply_id)

    @contextmanager
    def _working_on(self, reply_id: int) -> Iterator[None]:
        with self._lock:
            self._working.add(reply_id)
        try:
            yield
        finally:
            with self._lock:
                self._working.discard(reply_id)

    def _working_now(self) -> set[int]:
        with self._lock:
            return set(self._working)

    def _streamer(self, slack: WebClient, job: _Job, ts: str) -> Callable[[str], None]:
        last = [time.monotonic()]
        renewed = [self.clock.now()]

        def on_text(so_far: str) -> None:
            if self.clock.now() - renewed[0] >= RENEW_EVERY:
                self._renew(job.reply_id)
                renewed[0] = self.clock.now()
            now = time.monotonic()
            if now - last[0] < UPDATE_EVERY_SECONDS:
                return
            last[0] = now
            try:
                slack.chat_update(channel=job.channel, ts=ts, text=so_far + " ▍")
            except Exception as exc:  # a lost progress update is harmless (never retried); the final update carries the answer
                log.info("skipped a streaming update: %s", type(exc).__name__)

        return on_text


@dataclass(frozen=True)
class _Job:
    """One reply's work, as claimed or as taken over from the database."""

    reply_id: int
    channel: str
    thread_ts: str
    model: str
    messages: list[dict]
    ts: str | None  # the placeholder, once known
    author: ReplyAuthor = ReplyAuthor.MODEL
    again: bool = False  # taken over before: apologise rather than answer a third time
    resumed: bool = False  # taken over from a process that stopped


def resume_replies(answering: Answering, slack: WebClient, event_work: EventWork) -> int:
    """Replies a dead process left pending, taken over and answered again on the event-work pool."""
    return answering.resume_abandoned(slack, lambda work: event_work.submit(None, work))


def process_owner() -> str:
    """This process, as a lease owner: unique across hosts and restarts."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def crash_reason(exc: Exception) -> str:
    """What went wrong, for the reply's record and the log (never shown in a channel)."""
    return f"{type(exc).__name__}: {exc}"[:500]
