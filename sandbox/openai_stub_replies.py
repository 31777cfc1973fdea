"""Deterministic chat replies for the OpenAI stub.

Base models answer with a plain, neutral product review; a fine-tuned model answers the same question
in the style its training answers taught (sandbox.openai_stub_style): their structure, tone, length
and vocabulary, never another product's specifics. The difference makes the effect of fine-tuning
visible in tests and in the offline sandbox, and equal inputs always give equal replies.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sandbox.openai_stub_jobs import TrainingExample
from sandbox.openai_stub_style import learn_style, styled_reply
from sandbox.openai_stub_text import (
    Subject,
    a_or_an,
    clean,
    extract_product,
    message_text,
    names_product,
    strip_article,
    subject_of,
    with_article,
)
from sandbox.openai_stub_text import (
    pick as _pick,
)
from sandbox.openai_stub_text import (
    shorten as _shorten,
)

# The text helpers are re-exported: callers have always imported them from here.
__all__ = ["Subject", "base_reply", "finetuned_reply", "subject_of", "extract_product", "names_product", "message_text",
           "clean", "with_article", "strip_article", "a_or_an", "estimate_tokens", "stream_pieces"]

_PROS = (
    "it does what it promises and is easy to get started with",
    "it covers the basics well and feels reasonably well made",
    "it is straightforward to use and performs consistently in everyday use",
)
_CONS = (
    "it is not the cheapest option in its category, and a few features feel basic",
    "long-term durability is hard to judge, and some alternatives offer more for the price",
    "it does not stand out from its competitors, and the extras are limited",
)


def base_reply(messages: Sequence[dict[str, Any]]) -> str:
    """A plain, neutral review: what an un-tuned model says."""
    subject = subject_of(messages)
    if subject.follow_up is not None:
        return _neutral_follow_up(subject)
    product = with_article(subject.product)
    return (f"Here is a balanced review of {product}. "
            f"Pros: {_pick(_PROS, subject.product)}. "
            f"Cons: {_pick(_CONS, subject.product)}. "
            "Verdict: a reasonable choice if its strengths match your needs; compare a few alternatives before "
            "buying.")


def _neutral_follow_up(subject: Subject) -> str:
    question = _shorten(subject.follow_up or "", 80)
    if subject.product:
        opening = f'On your follow-up about {with_article(subject.product)} ("{question}"): '
    else:
        opening = f'Following up on what we discussed earlier ("{subject.context}"), on "{question}": '
    return (opening + "the answer depends on how you plan to use it. Most buyers find it adequate in this "
            "respect, though it is not a standout. Overall, the earlier balanced assessment still applies.")


def finetuned_reply(messages: Sequence[dict[str, Any]], examples: Sequence[TrainingExample]) -> str:
    """Answers the question asked, about the product asked, in the style its training answers taught."""
    style = learn_style(tuple(examples)) if examples else None
    if style is None:
        return base_reply(messages)
    return styled_reply(style, subject_of(messages))


def estimate_tokens(text: str) -> int:
    """Roughly four characters per token, like OpenAI's rule of thumb."""
    return (len(text) + 3) // 4


def stream_pieces(text: str, words_per_piece: int = 4) -> list[str]:
    """Splits a reply into the content deltas of a stream, keeping every character."""
    tokens = re.findall(r"\s*\S+", text)
    pieces = ["".join(tokens[i:i + words_per_piece]) for i in range(0, len(tokens), words_per_piece)]
    trailing = text[len("".join(pieces)):]
    if trailing and pieces:
        pieces[-1] += trailing
    return pieces or [text]
