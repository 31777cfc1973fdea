"""The composition root: builds every long-lived object once and hands them around. It only builds.

Start-up chores (migrations, replies a dead process left) are bot.startup's, run by `finetune-bot run`
only; `status` and `export` build what they need and never change the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openai import OpenAI
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.answering import Answering, Persona
from bot.config import Settings
from bot.event_work import EventWork
from bot.notifier import Notifier
from bot.suggestions import Suggestions
from finetune.chat import ChatModel
from finetune.clock import Clock, SystemClock
from finetune.openai_provider import OpenAIFineTuning
from finetune.pipeline import Pipeline, PipelineConfig
from finetune.provider import FineTuningProvider
from finetune.reply_model import ReplyModel
from finetune.scheduler import FinetuneScheduler
from storage.db import Database

# The openai client's own retries on 408/409/429/5xx and connection errors, set here rather than left to
# the SDK's default; job creation turns them off for its one call (finetune.openai_provider).
OPENAI_RETRIES = 2


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    openai: OpenAI
    slack: WebClient
    pipeline: Pipeline
    reply_model: ReplyModel
    notifier: Notifier
    answering: Answering
    suggestions: Suggestions
    event_work: EventWork
    scheduler: FinetuneScheduler

    def listener_context(self) -> dict[str, Any]:
        """What listeners may ask for by argument name (Bolt injects context keys)."""
        return {
            "settings": self.settings,
            "clock": self.clock,
            "db": self.db,
            "pipeline": self.pipeline,
            "notifier": self.notifier,
            "scheduler": self.scheduler,
            "answering": self.answering,
            "suggestions": self.suggestions,
            "event_work": self.event_work,
        }

    def close(self) -> None:
        self.scheduler.shutdown()
        self.event_work.drain()
        self.openai.close()
        self.db.dispose()


def build_services(settings: Settings, *, clock: Clock | None = None, provider: FineTuningProvider | None = None) -> Services:
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    # `status` runs without credentials and never calls OpenAI; the SDK insists on some key.
    openai_client = OpenAI(
        api_key=settings.openai_api_key or "OPENAI_API_KEY-not-set",
        base_url=settings.openai_base_url,
        max_retries=OPENAI_RETRIES,
    )
    slack = WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    pipeline = Pipeline(
        db,
        provider or OpenAIFineTuning(openai_client),
        clock,
        PipelineConfig(base_model=settings.base_model, min_examples=settings.min_examples, suffix=settings.suffix),
    )
    reply_model = ReplyModel(db, clock, settings.base_model)
    notifier = Notifier(db, slack, clock, settings.notify_channel)
    event_work = EventWork(db, clock)
    scheduler = FinetuneScheduler(
        pipeline,
        cron=settings.schedule,
        poll_seconds=settings.poll_seconds,
        clock=clock,
        after_run=[notifier.flush, event_work.forget_old_event_ids],
    )
    approve_reaction = settings.approve_reactions[0]
    answering = Answering(
        db, ChatModel(openai_client), reply_model, clock, Persona(settings.system_prompt, approve_reaction)
    )
    suggestions = Suggestions(db, clock, approve_reaction)
    return Services(
        settings, clock, db, openai_client, slack, pipeline, reply_model, notifier, answering, suggestions,
        event_work, scheduler,
    )
