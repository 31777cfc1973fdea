"""Checks a chat example against the training-file rules before it goes into a training file.

The per-example token limit is the backend's (finetune.backend.Capabilities), passed in by the caller, and
the count is exact, with the model's own tokenizer (finetune.tokens): an example over it is left out with
its reason, never cut. The whole file is checked again by finetune.validator before any upload.
"""
from __future__ import annotations

from typing import Any

from finetune.tokens import TokenCounter, counter_for

DEFAULT_COUNTING_MODEL = "gpt-4o"  # o200k_base: what OpenAI's current models count with, when a caller names none

ROLES = frozenset({"system", "user", "assistant", "tool"})


def example_problems(example: Any, max_tokens: int, counter: TokenCounter | None = None) -> list[str]:
    """Why this example would be rejected; an empty list means it is fine. The pipeline passes the job's
    model's counter; without one, tokens are counted with o200k_base."""
    if not isinstance(example, dict):
        return ["the example is not a JSON object"]
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["the example has no messages"]
    problems: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            problems.append(f"message {index} is not an object")
            continue
        role = message.get("role")
        if role not in ROLES:
            problems.append(f"message {index} has an unknown role {role!r}")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            problems.append(f"message {index} ({role}) has no text")
        weight = message.get("weight")
        if weight is not None and (role != "assistant" or weight not in (0, 1)):
            problems.append(f"message {index} has a weight other than 0 or 1 on an assistant message")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "user" not in roles:
        problems.append("the example has no user message")
    if not roles or roles[-1] != "assistant":
        problems.append("the example does not end with the assistant's reply")
    if problems:
        return problems
    counter = counter or counter_for(DEFAULT_COUNTING_MODEL)
    tokens = counter.messages(messages)
    if tokens > max_tokens:
        about = "" if counter.exact else "about "
        problems.append(f"the example is too long ({about}{tokens:,} tokens; the limit is {max_tokens:,})")
    return problems
