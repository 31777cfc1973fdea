"""A person's better answer ('better: …' in a thread), posted by the bot so approving it works like any reply."""
from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.answering import crash_reason
from bot.questions import Question
from bot.views import reply as view
from finetune.clock import Clock
from finetune.votes import links_in
from storage import queries
from storage.db import Database

log = logging.getLogger("bot.suggestions")


class Suggestions:
    def __init__(self, db: Database, clock: Clock, approve_reaction: str) -> None:
        self.db = db
        self.clock = clock
        self.approve_reaction = approve_reaction

    def suggest(self, client: WebClient, question: Question, text: str) -> None:
        """Posts `text` as the bot's reply to the conversation of its last answer before the suggestion."""
        assert question.thread_ts is not None, "suggestions live in threads"
        with self.db.session() as session:
            original = queries.model_answer_before(session, question.channel, question.thread_ts, question.ts)
            reply_id = original and queries.claim_reply(
                session,
                channel=question.channel,
                source_ts=question.ts,
                thread_ts=question.thread_ts,
                user_id=question.user,
                team_id=question.team_id,
                model=original.model,
                messages=original.messages,
                now=self.clock.now(),
                suggested_by=question.user,
            )
            original_model = original.model if original else ""
            if original is not None and reply_id is not None:  # the same records the Improve modal feeds
                queries.add_correction(session, original, question.user, text, "better", self.clock.now())
        if original is None:
            client.chat_postMessage(channel=question.channel, thread_ts=question.thread_ts, text=view.NOTHING_TO_IMPROVE)
            return
        if reply_id is None:
            return  # already posted: a redelivery of the same suggestion
        try:
            posted = client.chat_postMessage(
                channel=question.channel,
                thread_ts=question.thread_ts,
                text=text,
                blocks=view.suggestion_blocks(text, question.user, self.approve_reaction, links_in(text)),
                metadata=view.reply_metadata(reply_id, original_model, question.user),
            )
        except Exception as exc:
            with self.db.session() as session:
                queries.fail_reply(session, reply_id, crash_reason(exc))
            raise
        with self.db.session() as session:
            queries.finish_reply(session, reply_id, text=text, model=original_model, now=self.clock.now(), ts=posted["ts"])
        log.info("suggestion from %s posted as %s/%s (reply %s)", question.user, question.channel, posted["ts"], reply_id)
