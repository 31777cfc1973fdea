"""Asking the reply model: the persona, the thread so far, the new question, streamed back.

The openai SDK stays inside this module: callers see the product's own errors (ModelNotFound,
ModelUnavailable), whichever OpenAI-compatible endpoint serves the model.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai import OpenAI

log = logging.getLogger("finetune.chat")

MAX_HISTORY_TURNS = 20  # earlier thread turns sent as context; older ones are dropped first


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


class ChatError(Exception):
    """The reply model could not answer; `reason` is plain words, safe to show in a thread."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModelNotFound(ChatError):
    """The endpoint does not serve this model (a retired or deleted fine-tune)."""


class ModelUnavailable(ChatError):
    """A passing failure: rate limit, server error, network, or an empty answer."""


def build_messages(system_prompt: str, history: Sequence[Turn], question: str) -> list[dict[str, Any]]:
    """The exact list sent to the model, and later the head of the training example."""
    turns = [t for t in history if t.content.strip()][-MAX_HISTORY_TURNS:]
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
    messages += [{"role": t.role, "content": t.content} for t in turns]
    messages.append({"role": "user", "content": question})
    return messages


class ChatModel:
    """Chat completions through the openai client it is given; any OpenAI-compatible endpoint works."""

    def __init__(self, client: OpenAI) -> None:
        self._client = client

    def reply(
        self,
        model: str,
        messages: list[dict[str, Any]],
        on_text: Callable[[str], None] | None = None,
    ) -> str:
        """Streams the answer, calling on_text with the text so far; returns the whole, non-empty answer."""
        parts: list[str] = []
        try:
            stream = self._client.chat.completions.create(model=model, messages=cast(Any, messages), stream=True)
            with stream:
                for chunk in stream:
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta.content
                    if delta:
                        parts.append(delta)
                        if on_text is not None:
                            on_text("".join(parts))
        except openai.NotFoundError as exc:
            raise ModelNotFound("the reply model was not found") from exc
        except openai.APIError as exc:
            raise ModelUnavailable(_reason(exc)) from exc
        except Exception as exc:  # a stream that breaks off unreadable (bytes not UTF-8, a dropped connection)
            log.warning("the answer of %s could not be read: %s: %s", model, type(exc).__name__, exc)
            raise ModelUnavailable("the model's answer could not be read") from exc
        answer = "".join(parts).strip()
        if not answer:
            raise ModelUnavailable("the model returned an empty answer")
        return answer


def _reason(exc: openai.APIError) -> str:
    if isinstance(exc, openai.RateLimitError):
        return "the model is rate-limited"
    if isinstance(exc, openai.APIConnectionError):
        return "the model could not be reached"
    if isinstance(exc, openai.APIStatusError):
        return f"the model answered with an error {exc.status_code}"
    return "the model's answer was cut off"


SMOKE_QUESTION = "Review this product: a plain white mug. One sentence."


class ChatSmokeTest:
    """Before the swap: one real chat completion with the new model, in the persona it will answer in."""

    def __init__(self, chat: ChatModel, system_prompt: str) -> None:
        self._chat = chat
        self._system_prompt = system_prompt

    def check(self, model: str) -> None:
        self._chat.reply(model, build_messages(self._system_prompt, [], SMOKE_QUESTION))
