"""A pipeline on the OpenAI backend against the OpenAI stand-in: what most pipeline tests start from."""
from __future__ import annotations

from openai import OpenAI

from finetune.backends.openai import build_openai_backend
from finetune.backends.registry import Backends
from finetune.chat import ChatModel, ChatSmokeTest
from finetune.pipeline import Pipeline, PipelineConfig
from storage.db import Database

PERSONA = "You are a friendly and enthusiastic product reviewer."


def openai_pipeline(db: Database, clock, client: OpenAI, config: PipelineConfig) -> Pipeline:
    """The real OpenAI backend over `client`; the smoke test asks the same endpoint."""
    return Pipeline(db, Backends.of(build_openai_backend(client)), clock, config, ChatSmokeTest(ChatModel(client), PERSONA))


class AlwaysAnswers:
    """A smoke test every deployed model passes: for pipelines on the in-memory backend, whose models answer."""

    def check(self, model: str) -> None:
        return None
