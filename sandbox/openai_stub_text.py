"""Reading chat messages for the OpenAI stub: which product a conversation is about, and English glue.

Both the base model's replies and the fine-tuned model's styled replies build on these helpers, so they
live apart from either.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

_MARKER = re.compile(r"review\s+this\s+product\s*:", re.IGNORECASE)
_MENTION = re.compile(r"<[@!#][^>]*>")
DETERMINERS = ("a", "an", "the", "this", "that", "these", "those", "my", "our", "your", "their", "his", "her")

T = TypeVar("T")


@dataclass(frozen=True)
class Subject:
    """What the last user message is about: a product, possibly as a follow-up question."""

    product: str
    follow_up: str | None = None  # the follow-up question, when the message names no product
    context: str | None = None  # what earlier turns were about, when there is no product to refer to


def message_text(content: object) -> str:
    """Text of a message's content, whether a plain string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content
                        if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def clean(text: str) -> str:
    """Drops Slack mentions (<@U123>, <!here>) and squeezes whitespace."""
    return " ".join(_MENTION.sub(" ", text).split())


def extract_product(text: str) -> str:
    """The product named after 'Review this product:', else the whole message, without a trailing period."""
    cleaned = clean(text)
    match = _MARKER.search(cleaned)
    product = cleaned[match.end():] if match else cleaned
    return product.strip().rstrip(".").strip()


def names_product(text: str) -> bool:
    return bool(_MARKER.search(text))


def subject_of(messages: Sequence[dict[str, Any]]) -> Subject:
    """Works out the product for the last user message, looking back when it is a follow-up."""
    users = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    if not users:
        return Subject(product="")
    last, earlier = users[-1], users[:-1]
    if names_product(last) or not earlier:
        return Subject(product=extract_product(last))
    named = [extract_product(text) for text in earlier if names_product(text)]
    question = clean(last)
    if named:
        return Subject(product=named[-1], follow_up=question)
    return Subject(product="", follow_up=question, context=shorten(clean(earlier[-1]), 60))


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def strip_article(phrase: str) -> str:
    first, _, rest = phrase.partition(" ")
    return rest if rest and first.lower() in ("a", "an") else phrase


def indefinite_article(phrase: str) -> str:
    first = phrase.split(" ", 1)[0]
    if first.isupper():  # acronyms are spelled out: "an LED lamp", "a USB-C hub"
        return "an" if first[:1] in "AEFHILMNORSX" else "a"
    word = first.lower()
    if word.startswith(("uni", "use", "usu", "eu", "one")):
        return "a"
    if word.startswith(("hour", "honest", "honor")) or word[:1] in "aeiou":
        return "an"
    return "a"


def looks_plural(phrase: str) -> bool:
    """'wireless earbuds' takes no 'a'; a rough English heuristic is enough for canned replies."""
    last = phrase.rsplit(" ", 1)[-1].lower()
    return last.endswith("s") and not last.endswith(("ss", "us", "is"))


def a_or_an(phrase: str) -> str:
    """'speaker' -> 'a speaker', 'earbuds' -> 'earbuds' (plural: no indefinite article)."""
    return phrase if looks_plural(phrase) else f"{indefinite_article(phrase)} {phrase}"


def with_article(phrase: str) -> str:
    """'portable speaker' -> 'a portable speaker'; names that already carry a determiner are kept."""
    if not phrase:
        return "the product you mentioned"
    if phrase.split(" ", 1)[0].lower() in DETERMINERS:
        return phrase
    return a_or_an(phrase)


def pick(options: Sequence[T], key: str) -> T:
    """A deterministic choice, so equal inputs give equal replies."""
    return options[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)]
