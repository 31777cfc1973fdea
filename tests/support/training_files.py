"""Training files as people write them, for the validator's tests: chat and DPO rows, and OpenAI's own example."""
from __future__ import annotations

import json
from typing import Any

# the cookbook's example conversation; the OpenAI API counted its prompt tokens
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user",
     "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
]
def chat(question: str, answer: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "You review products."}, {"role": "user", "content": question},
                         {"role": "assistant", "content": answer, **extra}]}


def dpo(question: str, good: str, bad: str) -> dict[str, Any]:
    return {"input": {"messages": [{"role": "user", "content": question}], "tools": [], "parallel_tool_calls": True},
            "preferred_output": [{"role": "assistant", "content": good}],
            "non_preferred_output": [{"role": "assistant", "content": bad}]}


def jsonl(*rows: Any) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def good_rows(n: int = 12) -> list[dict[str, Any]]:
    return [chat(f"Review this product: gadget {i}", f"Gadget {i} is great!") for i in range(n)]
