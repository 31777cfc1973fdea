"""Approved replies become chat-format training lines; broken ones are set aside with a reason."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from finetune.backends.openai import OPENAI_MAX_EXAMPLE_TOKENS as MAX_EXAMPLE_TOKENS
from finetune.dataset import build_dataset, to_example
from finetune.tokens import counter_for
from finetune.validation import example_problems

COUNTER = counter_for("gpt-4.1-mini-2025-04-14")

SYSTEM = {"role": "system", "content": "You are a friendly and enthusiastic product reviewer."}


@dataclass
class R:
    id: int
    messages: list[dict[str, Any]]
    answer: str
    thread: str = "C1/1.0"


def test_an_example_is_the_conversation_plus_the_approved_answer_in_the_seed_format():
    messages = [SYSTEM, {"role": "user", "content": "Review this product: a new ergonomic office chair."}]
    example = to_example(messages, "Oh my goodness, this chair is a DREAM!")
    assert example == {"messages": [SYSTEM, messages[1], {"role": "assistant", "content": "Oh my goodness, this chair is a DREAM!"}]}
    assert example_problems(example, MAX_EXAMPLE_TOKENS, COUNTER) == []


def test_follow_ups_keep_the_earlier_turns_in_order():
    messages = [SYSTEM, {"role": "user", "content": "Review: a lamp"}, {"role": "assistant", "content": "Bright!"},
                {"role": "user", "content": "And the price?"}]
    line = json.loads(build_dataset([R(1, messages, "Worth every cent!")], max_example_tokens=MAX_EXAMPLE_TOKENS, counter=COUNTER).lines[0])
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant", "user", "assistant"]


def test_invalid_examples_are_skipped_with_their_reasons_and_the_rest_kept():
    good = R(1, [SYSTEM, {"role": "user", "content": "q"}], "a")
    empty_answer = R(2, [SYSTEM, {"role": "user", "content": "q"}], "   ")
    no_user = R(3, [SYSTEM], "a")
    built = build_dataset([good, empty_answer, no_user], max_example_tokens=MAX_EXAMPLE_TOKENS, counter=COUNTER)
    assert built.reply_ids == [1]
    assert [s["reply_id"] for s in built.skipped] == [2, 3]
    assert "has no text" in built.skipped[0]["problems"][0]
    assert "no user message" in built.skipped[1]["problems"][0]
    assert built.jsonl.count("\n") == 1 and len(built.sha256) == 64


def test_validation_names_each_problem():
    assert example_problems({"messages": []}, MAX_EXAMPLE_TOKENS, COUNTER) == ["the example has no messages"]
    problems = example_problems({"messages": [{"role": "robot", "content": "x"}, {"role": "user", "content": ""}]},
                                MAX_EXAMPLE_TOKENS, COUNTER)
    assert "message 0 has an unknown role 'robot'" in problems
    assert "message 1 (user) has no text" in problems
    assert "the example does not end with the assistant's reply" in problems
    # " hello" is one o200k_base token: 3 + 1 (user) + n and 3 + 1 (assistant) + 1 ("a"), plus 3 to prime the reply
    def asking(n: int) -> dict[str, Any]:
        return to_example([{"role": "user", "content": " hello" * n}], "a")

    fits = MAX_EXAMPLE_TOKENS - 12
    assert example_problems(asking(fits), MAX_EXAMPLE_TOKENS, COUNTER) == []
    assert example_problems(asking(fits + 1), MAX_EXAMPLE_TOKENS, COUNTER) == [
        f"the example is too long ({MAX_EXAMPLE_TOKENS + 1:,} tokens; the limit is {MAX_EXAMPLE_TOKENS:,})"]


def test_a_nul_byte_or_lone_surrogate_stored_before_the_store_refused_them_never_reaches_the_file():
    old = R(1, [SYSTEM, {"role": "user", "content": "Review: a tea\x00pot"}], "Lovely \ud800pot\x00.")
    built = build_dataset([old], max_example_tokens=MAX_EXAMPLE_TOKENS)
    assert "\x00" not in built.jsonl and "\\u0000" not in built.jsonl and "teapot" in built.jsonl
    assert "Lovely \ufffdpot." in built.jsonl and len(built.sha256) == 64
