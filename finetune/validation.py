"""Checks a chat example against the training-file rules before anything is uploaded.

The per-example token limit is the backend's (finetune.backend.Capabilities), passed in by the caller.

Token counts are estimated from characters (about 4 per token for English; 3 here, to err long) so
nothing has to download a tokenizer vocabulary at run time.
"""
from __future__ import annotations

import math
from typing import Any

ROLES = frozenset({"system", "user", "assistant", "tool"})
CHARS_PER_TOKEN_LOW = 3


def estimate_tokens(example: dict[str, Any]) -> int:
    chars = sum(len(str(message.get("content") or "")) + 8 for message in example.get("messages", []))
    return math.ceil(chars / CHARS_PER_TOKEN_LOW)


def example_problems(example: Any, max_tokens: int) -> list[str]:
    """Why this example would be rejected; an empty list means it is fine."""
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
    tokens = estimate_tokens(example)
    if tokens > max_tokens:
        problems.append(f"the example is too long (about {tokens} tokens; the limit is {max_tokens})")
    return problems
