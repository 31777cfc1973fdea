"""Asking the reply model: the persona, the thread so far, the new question, streamed back."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openai import OpenAI

MAX_HISTORY_TURNS = 20  # earlier thread turns sent as context; older ones are dropped first


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


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
        """Streams the answer, calling on_text with the text so far; returns the whole answer."""
        stream = self._client.chat.completions.create(model=model, messages=messages, stream=True)
        parts: list[str] = []
        with stream:
            for chunk in stream:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta.content
                if delta:
                    parts.append(delta)
                    if on_text is not None:
                        on_text("".join(parts))
        return "".join(parts).strip()
