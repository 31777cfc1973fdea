"""Deterministic chat replies for the OpenAI stub.

Base models answer with a plain, neutral product review; a fine-tuned model answers with the reply
of its most similar training example, adapted to the product now asked about. The difference makes
the effect of fine-tuning visible in tests and in the offline sandbox, and equal inputs always give
equal replies.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from sandbox.openai_stub_jobs import TrainingExample
from sandbox.openai_stub_text import (
    Subject,
    a_or_an,
    clean,
    extract_product,
    message_text,
    names_product,
    pick as _pick,
    shorten as _shorten,
    strip_article,
    subject_of,
    with_article,
)

# The text helpers are re-exported: callers have always imported them from here.
__all__ = ["Subject", "base_reply", "finetuned_reply", "closest_example", "adapt_reply", "subject_of", "extract_product",
           "names_product", "message_text", "clean", "with_article", "strip_article", "a_or_an", "estimate_tokens",
           "stream_pieces"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

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


def _words(text: str) -> set[str]:
    return set(_WORD.findall(clean(text).lower()))


def closest_example(prompt: str, examples: Sequence[TrainingExample]) -> TrainingExample:
    """The training example whose user message shares the most words with `prompt` (first wins ties)."""
    words = _words(prompt)
    best, best_score = examples[0], -1
    for example in examples:
        score = len(words & _words(example.user))
        if score > best_score:
            best, best_score = example, score
    return best


def finetuned_reply(messages: Sequence[dict[str, Any]], examples: Sequence[TrainingExample]) -> str:
    """Answers in the style of the model's own training data, about the product asked now."""
    if not examples:
        return base_reply(messages)
    users = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    example = closest_example(users[-1] if users else "", examples)
    return adapt_reply(example.assistant, extract_product(example.user), subject_of(messages).product)


def adapt_reply(reply: str, old_product: str, new_product: str) -> str:
    """Swaps the training example's product for the new one; names the new one up front if it can't."""
    old, new = strip_article(old_product), strip_article(new_product)
    if not new:
        return reply
    if old:
        pattern = re.compile(r"(?<!\w)(?:(a|an)\s+)?" + re.escape(old) + r"(?!\w)", re.IGNORECASE)
        if pattern.search(reply):
            return pattern.sub(lambda match: _replacement(match, reply, new), reply)
    first_sentence = _SENTENCE_END.split(reply.strip(), 1)[0]
    if new.lower() in first_sentence.lower():
        return reply
    return f"{_capitalized(new)} — {reply}"


def _replacement(match: re.Match[str], reply: str, new: str) -> str:
    article = match.group(1)
    phrase = a_or_an(new) if article else new
    if _starts_sentence(reply, match.start()) or (article and article[0].isupper()):
        return _capitalized(phrase)
    return phrase


def _starts_sentence(text: str, index: int) -> bool:
    before = text[:index].rstrip()
    return not before or before[-1] in ".!?\n"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


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
