"""Builds every long-lived object once (database, API clients, pipeline, scheduler) and hands them around."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from openai import OpenAI
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.config import Settings
from bot.notifier import Notifier
from bot.replying import Responder
from finetune.chat import ChatModel
from finetune.clock import Clock, SystemClock
from finetune.openai_provider import OpenAIFineTuning
from finetune.pipeline import Pipeline, PipelineConfig
from finetune.provider import FineTuningProvider
from finetune.scheduler import FinetuneScheduler
from storage import queries
from storage.db import Database

log = logging.getLogger("bot.services")

EVENT_IDS_KEPT = timedelta(days=2)  # Slack redelivers within minutes; keep ids well past that
ABANDONED_AFTER = timedelta(minutes=5)  # longer than any reply takes; younger ones may belong to a running twin


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    openai: OpenAI
    slack: WebClient
    pipeline: Pipeline
    notifier: Notifier
    responder: Responder
    scheduler: FinetuneScheduler

    def close(self) -> None:
        self.scheduler.shutdown()
        self.openai.close()
        self.db.dispose()


def build_services(
    settings: Settings, *, clock: Clock | None = None, provider: FineTuningProvider | None = None, migrate: bool = True
) -> Services:
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    with db.session() as session:
        abandoned = queries.fail_abandoned_replies(session, clock.now() - ABANDONED_AFTER)
    if abandoned:
        log.info("marked %s reply(s) left unfinished by an earlier run as failed", abandoned)
    # `status` and `export` run without credentials and never call OpenAI; the SDK insists on some key.
    openai_client = OpenAI(api_key=settings.openai_api_key or "OPENAI_API_KEY-not-set", base_url=settings.openai_base_url)
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
    notifier = Notifier(db, slack, clock, settings.notify_channel)

    def forget_old_event_ids() -> None:
        with db.session() as session:
            queries.forget_events_before(session, clock.now() - EVENT_IDS_KEPT)

    scheduler = FinetuneScheduler(
        pipeline,
        cron=settings.schedule,
        poll_seconds=settings.poll_seconds,
        clock=clock,
        after_run=[notifier.flush, forget_old_event_ids],
    )
    responder = Responder(settings, db, ChatModel(openai_client), pipeline, clock)
    return Services(settings, clock, db, openai_client, slack, pipeline, notifier, responder, scheduler)
