"""Product-agnostic phrases the stand-in fine-tuned model writes its reviews from.

None of them names a product or a feature only some products have, so a review composed of them fits
whatever was asked about; the taught style then decides which of them are used and how they are rendered.

Template marks:
  {This} {this}  the product as "this speaker" / "these earbuds"   ("It" / "it" when none is known)
  {The} {the}    the product as "the speaker"                     ("it" when none is known)
  {a}            the product as "a speaker" / "earbuds"           ("one" when none is known)
  {Topic}        what a follow-up question asks about
  {is|are}       singular | plural, agreeing with the product
  *word*         a word the taught style may write in ALL CAPS
A sentence that must name the product may have its leading "{it|they}" replaced by "{the}".
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phrase:
    """One thing a review can say; a reply says each aspect at most once."""

    aspect: str
    text: str


def _phrases(aspect: str, *texts: str) -> tuple[Phrase, ...]:
    return tuple(Phrase(aspect, text) for text in texts)


OPENERS = {
    "lively": _phrases(
        "praise",
        "{This} {is|are} a total *dream*",
        "{This} {is|are} pure *magic*",
        "{This} {is|are} an absolute *delight*",
        "Wow, {this} {is|are} *amazing*",
        "{This} {is|are} the *best* thing I bought all year",
        "I am *obsessed* with {this}",
        "{This} {is|are} my new *obsession*",
        "{This} won me over *instantly*",
        "{This} {is|are} a *triumph* from start to finish",
    ),
    "plain": (
        *_phrases("praise", "{This} {does|do} {its|their} job quietly and well", "{This} {is|are} a sensible buy",
                  "{This} {earns|earn} a clear recommendation"),
        *_phrases("build", "{This} {is|are} a dependable, well-made choice"),
        *_phrases("value", "{This} {is|are} good value and easy to live with"),
    ),
}

POINTS = {
    "lively": (
        *_phrases("build", "{it|they} {feels|feel} sturdy and premium", "the quality is *superb*",
                  "every detail feels *premium*"),
        *_phrases("ease", "{it|they} {is|are} a breeze to use", "setup takes *seconds*"),
        *_phrases("looks", "the design is gorgeous", "{it|they} {looks|look} *stunning*"),
        *_phrases("value", "{it|they} {is|are} worth every penny", "the price is a *steal*"),
        *_phrases("daily", "{it|they} {makes|make} every day a little *better*",
                  "{it|they} just {works|work} every day"),
        *_phrases("trust", "{it|they} never {disappoints|disappoint}"),
    ),
    "plain": (
        *_phrases("build", "{it|they} {feels|feel} sturdy and well made", "the build is solid without being heavy"),
        *_phrases("ease", "setup is quick", "{it|they} {is|are} easy to live with"),
        *_phrases("looks", "the design is tidy and understated"),
        *_phrases("value", "the price is fair for what you get"),
        *_phrases("daily", "{it|they} {holds|hold} up well to daily use"),
        *_phrases("trust", "{it|they} {does|do} the job without fuss"),
    ),
}

# Terse fragments, for styles whose fields or bullets are a few words long.
SHORT_POINTS = (
    *_phrases("build", "sturdy build", "well made"),
    *_phrases("ease", "quick setup", "easy to live with"),
    *_phrases("looks", "tidy design"),
    *_phrases("value", "fair price"),
    *_phrases("daily", "holds up to daily use"),
    *_phrases("trust", "no fuss"),
)

FLAWS = (
    *_phrases("price", "{it|they} {costs|cost} a little more than basic models"),
    *_phrases("learning", "{it|they} {takes|take} a day to get used to"),
    *_phrases("size", "{it|they} {is|are} bulkier than expected"),
    *_phrases("extras", "the extras in the box are minimal"),
)

SHORT_FLAWS = (
    *_phrases("price", "pricier than basic models"),
    *_phrases("learning", "a short learning curve"),
    *_phrases("size", "bulkier than expected"),
    *_phrases("extras", "few extras in the box"),
)

AUDIENCES = _phrases(
    "audience",
    "you want {a} that simply works",
    "you value quality over gimmicks",
    "you want something dependable for daily use",
)

SKIPS = _phrases(
    "skip",
    "you need nothing beyond the bare basics",
    "every penny counts right now",
    "you already own one that works",
)

VERDICTS = {
    "lively": _phrases("verdict", "an instant *classic*", "{it|they} {is|are} a must-have", "*buy* {it|them} now"),
    "plain": _phrases("verdict", "a dependable pick", "worth it for most people", "{it|they} {is|are} a safe choice"),
}

CLOSERS = {
    "lively": _phrases(
        "closer",
        "Every day just got *better*",
        "You will *love* {it|them}",
        "Never going back",
        "Ten out of ten",
        "Treat yourself",
        "Best purchase of the year",
        "Pure *happiness*",
    ),
    "plain": _phrases(
        "closer",
        "Recommended",
        "A safe choice for most people",
        "Worth a look if you need one",
    ),
}

# The first sentence of an answer to a follow-up question, with and without a topic to echo.
ANSWERS = {
    "lively": _phrases("answer", "{Topic}? {This} absolutely *{nails|nail}* it",
                       "{Topic}? Oh, {this} *{delivers|deliver}*"),
    "plain": _phrases("answer", "{Topic}? {This} {does|do} well on that front",
                      "{Topic}? {This} {handles|handle} that well"),
}
OPEN_ANSWERS = {
    "lively": _phrases("answer", "*Great* question about {this}"),
    "plain": _phrases("answer", "Good question about {this}"),
}
