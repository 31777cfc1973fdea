"""The composition root: builds every long-lived object once and hands them around. It only builds.

Start-up chores (migrations, replies a dead process left) are bot.startup's, run by `finetune-bot run`
only; `status` and `export` build what they need and never change the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx2 as httpx  # the HTTP client the openai SDK itself is built on: no extra dependency
from openai import OpenAI
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.answering import Answering, Persona, resume_replies
from bot.config import Settings
from bot.event_work import EventWork
from bot.notifier import Notifier
from bot.outbound import SafeWebClient
from bot.replies import Replies, TakesReplies
from bot.suggestions import Suggestions
from bot.workspace import InstalledTeam, is_admin_or_owner
from finetune.backend import Backend
from finetune.backends.openai import build_openai_backend
from finetune.backends.registry import BackendNotConfigured, Backends
from finetune.chat import ChatModel, ChatSmokeTest
from finetune.clock import Clock, SystemClock
from finetune.data_redaction import Redactor
from finetune.pipeline import Pipeline, PipelineConfig
from finetune.redaction import Redactor as SecretMask
from finetune.reply_model import ReplyModel
from finetune.scheduler import FinetuneScheduler
from finetune.stewards import Stewards
from storage.db import Database
from storage.queries import Curation

# The openai client's own retries on 408/409/429/5xx and connection errors, set here rather than left to
# the SDK's default; job creation turns them off for its one call (finetune.backends.openai).
OPENAI_RETRIES = 2
BACKEND_HTTP_TIMEOUT = 30.0  # seconds, for the Together and vLLM HTTP clients
# users.info is asked while a slash command waits for its ack (3 s): one try, bounded, never a Retry-After sleep
ADMIN_LOOKUP_TIMEOUT = 2


class BackendFactory:
    """Builds a backend by name from the settings, each with its own clients; closes them at the end."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self._closers: list[Any] = []

    def __call__(self, name: str) -> Backend:
        s = self.settings
        if name == "openai":
            if not s.openai_api_key and s.backend != "openai":
                raise BackendNotConfigured("a job was started on the openai backend: set OPENAI_API_KEY to finish it")
            client = OpenAI(api_key=s.openai_api_key or "OPENAI_API_KEY-not-set", base_url=s.openai_base_url,
                            max_retries=OPENAI_RETRIES)
            self._closers.append(client)
            return build_openai_backend(client)
        if name == "together":
            if not s.together_api_key and s.backend != "together":
                raise BackendNotConfigured("a job was started on the together backend: set TOGETHER_API_KEY to finish it")
            from finetune.backends.together import build_together_backend

            http = httpx.Client(timeout=BACKEND_HTTP_TIMEOUT)
            self._closers.append(http)
            return build_together_backend(http, api_key=s.together_api_key or "", base_url=s.together_base_url,
                                          base_model=s.base_model)
        if name == "local":
            from finetune.backends.local import build_local_backend
            from finetune.local_training import LocalHyperparameters

            http = httpx.Client(timeout=BACKEND_HTTP_TIMEOUT)
            self._closers.append(http)
            return build_local_backend(
                self.db, self.clock, http, vllm_base_url=s.vllm_base_url, adapters_dir=s.local_adapters_dir,
                params=local_hyperparameters(s, LocalHyperparameters),
            )
        raise BackendNotConfigured(f"there is no fine-tuning backend called {name!r}")

    def close(self) -> None:
        for closer in self._closers:
            closer.close()


def tokenizer_dir(settings: Settings) -> str | None:
    """Where the tokenizer that counts training tokens lives: the local base model's directory; None for
    OpenAI models (their encodings ship with bpe-openai)."""
    return settings.local_base_model if settings.backend == "local" else None


def curation_of(settings: Settings) -> Curation:
    return Curation(curators=settings.curator_user_ids, required=settings.approvals_required,
                    self_approval=settings.allow_self_approval)


def pipeline_config(settings: Settings) -> PipelineConfig:
    return PipelineConfig(base_model=settings.base_model, min_examples=settings.min_examples, suffix=settings.suffix,
                          method=settings.method, curation=curation_of(settings), holdout_min=settings.holdout_min,
                          redactor=Redactor(settings.redact_patterns),
                          hyperparameters=job_hyperparameters(settings),
                          model_dir=tokenizer_dir(settings), prices=settings.prices)


def local_hyperparameters(settings: Settings, kind: Any) -> Any:
    """LOCAL_* settings as the local trainer's hyperparameters (kind: finetune.local_training.LocalHyperparameters)."""
    return kind(epochs=settings.local_epochs, learning_rate=settings.local_learning_rate,
                lora_rank=settings.local_lora_rank, lora_alpha=settings.local_lora_alpha,
                max_length=settings.local_max_length)


def job_hyperparameters(settings: Settings) -> dict[str, Any]:
    """What each new job records and asks its backend to train with: the LOCAL_* values on the local backend
    (the others keep their own defaults)."""
    if settings.backend != "local":
        return {}
    from finetune.local_training import LocalHyperparameters

    return dict(local_hyperparameters(settings, LocalHyperparameters).as_dict())


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    openai: OpenAI  # the chat endpoint's client (CHAT_BASE_URL, else the backend's serving end)
    backends: Backends
    slack: SafeWebClient
    pipeline: Pipeline
    reply_model: ReplyModel
    notifier: Notifier
    answering: Answering
    suggestions: Suggestions
    event_work: EventWork
    scheduler: FinetuneScheduler
    backend_factory: BackendFactory | None = None
    installed_team: InstalledTeam | None = None  # set by build_services; the team auth.test names
    stewards: Stewards | None = None  # set by build_services; who may run, cancel and export
    replies: TakesReplies | None = None  # set by build_services (this process's pool), or the reply process

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
            "replies": self.replies,
            "curation": self.pipeline.config.curation,
            "installed_team": self.installed_team,
            "stewards": self.stewards,
            "slack": self.slack,  # the safe client (bot.outbound), which replaces Bolt's per-request one
        }

    def close(self) -> None:
        self.scheduler.shutdown()
        self.pipeline.close()  # gives the pipeline lease back now: the next process need not wait for it
        self.event_work.drain()
        self.openai.close()
        if self.backend_factory is not None:
            self.backend_factory.close()
        self.db.dispose()


def build_services(settings: Settings, *, clock: Clock | None = None, backends: Backends | None = None) -> Services:
    clock = clock or SystemClock()
    db = Database(settings.database_url, mask=SecretMask(tuple(settings.secrets())))
    chat_url, chat_key = settings.chat_endpoint
    # `status` runs without credentials and never calls the model; the SDK insists on some key.
    openai_client = OpenAI(api_key=chat_key or "CHAT_API_KEY-not-set", base_url=chat_url, max_retries=OPENAI_RETRIES)
    factory = None
    if backends is None:
        factory = BackendFactory(settings, db, clock)
        backends = Backends(settings.backend, factory)
    chat = ChatModel(openai_client)
    slack = SafeWebClient(
        secrets=settings.secrets(),
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    pipeline = Pipeline(
        db,
        backends,
        clock,
        pipeline_config(settings),
        ChatSmokeTest(chat, settings.system_prompt),
    )
    reply_model = ReplyModel(db, clock, settings.base_model, restore=pipeline.restore)
    notifier = Notifier(db, slack, clock, settings.notify_channel)
    event_work = EventWork(db, clock)
    approve_reaction = settings.approve_reactions[0]
    answering = Answering(
        db, chat, reply_model, clock, Persona(settings.system_prompt, approve_reaction)
    )
    scheduler = FinetuneScheduler(
        pipeline,
        cron=settings.schedule,
        poll_seconds=settings.poll_seconds,
        clock=clock,
        after_run=[notifier.flush, event_work.forget_old_event_ids, partial(resume_replies, answering, slack, event_work)],
    )
    suggestions = Suggestions(db, clock, approve_reaction)
    lookup = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=ADMIN_LOOKUP_TIMEOUT,
                       retry_handlers=[])
    stewards = Stewards(settings.finetune_admins, clock, lambda user: is_admin_or_owner(lookup, user))
    return Services(
        settings, clock, db, openai_client, backends, slack, pipeline, reply_model, notifier, answering, suggestions,
        event_work, scheduler, factory, installed_team=InstalledTeam(slack), stewards=stewards,
        replies=Replies(event_work, answering, suggestions, slack, db),
    )
