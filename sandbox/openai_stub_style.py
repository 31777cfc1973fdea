"""The stand-in fine-tuned model: it learns a style from its training answers and writes new reviews in it.

A real fine-tuned model picks up how the team writes (structure, tone, length, pet words) and applies it
to whatever is asked next; it does not paste another product's review. So the stand-in learns a
`Style` from the training examples and composes each reply from product-agnostic phrases
(sandbox.openai_stub_phrases), rendered in that style:

- the skeleton: the sentences, labelled fields ("Rating:", "Buy it if:"), bullets and line breaks that
  most answers share. A piece that several products' answers share word for word (a catchphrase, a
  "Rating: 4/5." field) is reused; every other piece is written afresh;
- the tone: exclamation marks per position, ALL-CAPS emphasis words, plain or lively phrasing;
- the length: the median number of words of each piece;
- the vocabulary: style words (used in several products' answers) are preferred, and product-specific
  words (used for one product only) are never written.

Everything is a pure function of the examples and the question, so equal inputs give equal replies.
"""
from __future__ import annotations

import hashlib
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sandbox import openai_stub_phrases as bank
from sandbox.openai_stub_jobs import TrainingExample
from sandbox.openai_stub_phrases import Phrase
from sandbox.openai_stub_text import (
    DETERMINERS,
    Subject,
    a_or_an,
    clean,
    extract_product,
    looks_plural,
    names_product,
    pick,
    strip_article,
)

# Words that say nothing about a product, so using them is never copying.
FUNCTION_WORDS = frozenset("""
a an the this that these those it it's its they them their there here you your yours i me my we us our
is are was were be been being am do does did has have had will would can could should may might must
and or but if so as of for to in on at by with from into onto over under up out off about than then
not no all every each just very too also one what which who how when where
""".split())

_FINE_WORD = re.compile(r"[a-z0-9]+")
_COARSE_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_CAPS_WORD = re.compile(r"(?<![\w'])[A-Z]{3,}(?![\w'])")
_BULLET = re.compile(r"^([-*•]|\d+[.)])\s+")
_LABEL = re.compile(r"^([A-Z][\w'/&;-]*(?: [\w'/&;-]+){0,3}):(?:\s+|$)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_END = re.compile(r"[.!?]+$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SLOT = re.compile(r"⟦P:([^⟧]*)⟧|⟦N⟧")
_ALTERNATION = re.compile(r"\{([^{}|]*)\|([^{}|]*)\}")
_PRODUCT_MARKS = re.compile(r"\{(?:This|this|The|the|a|Topic)\}")
_EMPHASIS = re.compile(r"\*([^*\s][^*]*)\*")
_GLUE = frozenset({"a", "an", "the", "it", "they", "them", "is", "are", "and", "to", "of", "i", "you", "this", "these"})
# Drawback cues any product's review may use; a place in the skeleton that mostly has them is for a flaw.
_NEGATIVE_CUES = frozenset("""
not no lacks lacking fragile flimsy heavy bulky cheap noisy loud slow pricey expensive costly scratches
breaks wobbles wobbly pinches smells leaks leaky fiddly awkward annoying weak poor stiff cramped
""".split())
_SHORT_PIECE = 6  # words: a field or bullet this short is written as terse fragments
_QUESTION_LEAD = frozenset("""
and but so also ok okay hey then what what's how how's is are was were does do did can could will would
should has have had about it its it's they them the a an this that these those any really you think of
tell me
""".split())


def words_of(text: str) -> set[str]:
    """Lower-case words, both split at apostrophes and hyphens and not ("you'll" gives you, ll, you'll)."""
    lowered = text.lower()
    return set(_FINE_WORD.findall(lowered)) | set(_COARSE_WORD.findall(lowered))


def word_count(text: str) -> int:
    return len(text.split())


# ----- reading the taught answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One sentence, labelled field or bullet line of a taught answer, its product and numbers cut out."""

    break_before: bool
    bullet: str
    label: str
    body: str  # the text after bullet and label, with ⟦P:…⟧ for the product and ⟦N⟧ for numbers
    numbers: tuple[str, ...]
    end: str  # "!", ".", "?" or ""
    words: int  # words of the original body


@dataclass(frozen=True)
class TaughtAnswer:
    """A training answer, with the product it was about (its group: answers about one product)."""

    group: str
    product: str
    text: str
    pieces: tuple[Piece, ...]


def product_of(example: TrainingExample) -> str:
    """The product the example's question named, without 'a'/'an'; '' for a question naming none."""
    return strip_article(extract_product(example.user)) if names_product(example.user) else ""


def read_answer(example: TrainingExample) -> TaughtAnswer:
    """Answers are grouped by product, so two answers about one product still count as one product."""
    product = product_of(example)
    group = product.lower() or clean(example.user).lower()
    return TaughtAnswer(group, product, example.assistant, tuple(split_pieces(example.assistant, product)))


def split_pieces(answer: str, product: str) -> list[Piece]:
    """Lines, then sentences (a bullet line stays whole), each with its bullet, label and end mark."""
    pieces: list[Piece] = []
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    for line_index, line in enumerate(lines):
        bullet_match = _BULLET.match(line)
        bullet = f"{bullet_match.group(1)} " if bullet_match else ""
        rest = line[bullet_match.end():] if bullet_match else line
        segments = [rest] if bullet else _SENTENCE_END.split(rest)
        for index, segment in enumerate(segments):
            pieces.append(_piece(segment, bullet, break_before=line_index > 0 and index == 0, product=product))
    return pieces


def _piece(segment: str, bullet: str, *, break_before: bool, product: str) -> Piece:
    label_match = _LABEL.match(segment)
    label = label_match.group(1) if label_match else ""
    body = segment[label_match.end():] if label_match else segment
    end_match = _END.search(body)
    end = end_match.group(0)[-1] if end_match else ""
    body = body[:end_match.start()] if end_match else body
    slotted, numbers = slot_numbers(slot_product(body.strip(), product))
    return Piece(break_before, bullet, label, slotted, numbers, end, word_count(body))


def slot_product(text: str, product: str) -> str:
    """Marks where the answer names its product, keeping the determiner it used ("this", "a")."""
    if len(product) < 3:
        return text
    pattern = re.compile(r"(?<![\w-])(?:(a|an|this|these)\s+)?" + re.escape(product) + r"(?![\w-])", re.IGNORECASE)

    def slot(match: re.Match[str]) -> str:
        determiner = match.group(1) or ("^" if match.start() == 0 and match.group(0)[0].isupper() else "")
        return f"⟦P:{determiner}⟧"
    return pattern.sub(slot, text)


def slot_numbers(text: str) -> tuple[str, tuple[str, ...]]:
    """Numbers are cut out so that "Rating: 4/5." and "Rating: 3/5." count as the same field."""
    return _NUMBER.sub("⟦N⟧", text), tuple(_NUMBER.findall(text))


# ----- the style -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One slot of the taught skeleton; `stock` is text reused as is, None means: write it afresh."""

    break_before: bool
    bullet: str
    label: str
    stock: str | None
    fillings: tuple[tuple[str, ...], ...]  # the numbers seen in a stock piece, one tuple per answer
    end: str
    words: int  # median length of this piece in the taught answers
    negative: bool = False  # most taught answers name a drawback here


@dataclass(frozen=True)
class Style:
    """What the stand-in learned from its training answers."""

    units: tuple[Unit, ...]
    lively: bool  # exclamations or ALL-CAPS words: enthusiastic phrasing
    emphasis: int  # ALL-CAPS words per reply
    lower_start: bool  # "Good: sturdy", "- sturdy" rather than "Good: Sturdy"
    style_words: frozenset[str]  # words of several products' answers: the team's own vocabulary
    banned: frozenset[str]  # words of a single product's answer or name: never reused

    @property
    def register(self) -> str:
        return "lively" if self.lively else "plain"


@lru_cache(maxsize=64)
def learn_style(examples: tuple[TrainingExample, ...]) -> Style | None:
    """The style of the examples' answers; None when no example has an answer to learn from."""
    taught = [read_answer(example) for example in examples if example.assistant.strip()]
    taught = [answer for answer in taught if answer.pieces]
    if not taught:
        return None
    stock = stock_pieces(taught)
    units = skeleton(taught, stock)
    free = [piece for answer in taught for piece in answer.pieces if not _is_stock(piece, stock)]
    exclaimed = sum(piece.end == "!" for piece in free) / len(free) if free else 0.0
    emphasis = round(statistics.median(caps_count(answer) for answer in taught))
    style_words, banned = vocabulary(taught)
    return Style(units=units, lively=exclaimed >= 0.3 or emphasis > 0, emphasis=emphasis,
                 lower_start=_lower_start(free), style_words=style_words, banned=banned)


def stock_pieces(taught: Sequence[TaughtAnswer]) -> frozenset[tuple[str, str]]:
    """(label, body) pairs that answers about at least two different products share word for word."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for answer in taught:
        for piece in answer.pieces:
            groups[(piece.label.lower(), piece.body)].add(answer.group)
    return frozenset(key for key, seen in groups.items() if len(seen) >= 2)


def _is_stock(piece: Piece, stock: frozenset[tuple[str, str]]) -> bool:
    return not piece.body or (piece.label.lower(), piece.body) in stock


def _signature(answer: TaughtAnswer, stock: frozenset[tuple[str, str]]) -> tuple[tuple[object, ...], ...]:
    return tuple((p.break_before, bool(p.bullet), p.label.lower(), p.body if _is_stock(p, stock) else None)
                 for p in answer.pieces)


def skeleton(taught: Sequence[TaughtAnswer], stock: frozenset[tuple[str, str]]) -> tuple[Unit, ...]:
    """The shape most answers share (ties: the length nearest the median, then the first seen)."""
    signatures = [_signature(answer, stock) for answer in taught]
    counts = Counter(signatures)
    median = statistics.median(len(signature) for signature in signatures)
    typical = max(counts, key=lambda s: (counts[s], -abs(len(s) - median), -signatures.index(s)))
    matching = [answer for answer, signature in zip(taught, signatures, strict=True) if signature == typical]
    return tuple(_unit([answer.pieces[i] for answer in matching], is_stock=typical[i][3] is not None)
                 for i in range(len(typical)))


def _unit(pieces: Sequence[Piece], *, is_stock: bool) -> Unit:
    """One skeleton slot from the pieces the typical answers have there: their usual marks, median length."""
    first = pieces[0]
    return Unit(
        break_before=first.break_before,
        bullet=_mode(piece.bullet for piece in pieces),
        label=_mode(piece.label for piece in pieces),
        stock=first.body if is_stock else None,
        fillings=tuple(dict.fromkeys(piece.numbers for piece in pieces)) if is_stock else (),
        end=_mode(piece.end for piece in pieces),
        words=round(statistics.median(piece.words for piece in pieces)),
        negative=sum(bool(words_of(piece.body) & _NEGATIVE_CUES) for piece in pieces) * 2 > len(pieces),
    )


def _mode(values: Iterable[str]) -> str:
    """The most common value; the first seen wins a tie."""
    return Counter(values).most_common(1)[0][0]


def caps_count(answer: TaughtAnswer) -> int:
    """ALL-CAPS emphasis words, not counting acronyms of the product's name ("LED")."""
    own = words_of(answer.product)
    return sum(word.lower() not in own for word in _CAPS_WORD.findall(answer.text))


def _lower_start(free: Sequence[Piece]) -> bool:
    labelled = [piece.body for piece in free if (piece.label or piece.bullet) and piece.body[:1].isalpha()]
    return bool(labelled) and sum(body[0].islower() for body in labelled) * 2 >= len(labelled)


def vocabulary(taught: Sequence[TaughtAnswer]) -> tuple[frozenset[str], frozenset[str]]:
    """Style words (in answers about several products) and banned words (about one product only)."""
    answer_words: dict[str, set[str]] = defaultdict(set)
    name_words: dict[str, set[str]] = defaultdict(set)
    for answer in taught:
        answer_words[answer.group] |= words_of(answer.text)
        name_words[answer.group] |= words_of(answer.product)
    in_answers = Counter(word for words in answer_words.values() for word in words)
    anywhere = Counter(word for group in answer_words for word in answer_words[group] | name_words[group])
    banned = {word for word in anywhere if in_answers[word] == 1 or anywhere[word] == 1} - FUNCTION_WORDS
    style = {word for word, groups in in_answers.items() if groups >= 2} - FUNCTION_WORDS
    return frozenset(style), frozenset(banned)


# ----- writing a reply -------------------------------------------------------------------------------------


@dataclass
class Draft:
    """The reply being written: the product's forms, and what is said already so nothing repeats."""

    style: Style
    product: str  # as asked, without 'a'/'an'; '' when not known
    key: str  # what the deterministic choices hash
    topic: str = ""
    used: set[str] = field(default_factory=set)  # aspects covered
    written: set[str] = field(default_factory=set)  # words written, so the next phrases say something new
    emphasis_left: int = 0

    @property
    def plural(self) -> bool:
        head = self.product.split(" of ", 1)[0]  # "a pair of shoes" is one pair
        return bool(self.product) and looks_plural(head)


def styled_reply(style: Style, subject: Subject) -> str:
    """A review of the subject's product (or an answer to its follow-up question) in the taught style."""
    product = strip_article(subject.product.replace("*", ""))  # a *bold* name would read as emphasis marks
    draft = Draft(style, product, key=f"{subject.product}|{subject.follow_up or ''}",
                  topic=question_topic(subject.follow_up or "", product).replace("*", ""),
                  emphasis_left=style.emphasis)
    plan = reply_plan(style, subject.follow_up is not None)
    must_name = not any(unit.stock and "⟦P:" in unit.stock for unit, _ in plan)
    texts = []
    for unit, intent in plan:
        if unit.stock is not None:
            texts.append(render_stock(unit, draft))
        else:
            texts.append(write_unit(unit, intent, draft, name_product=must_name))
            must_name = False
    return join_units([unit for unit, _ in plan], texts)


def reply_plan(style: Style, follow_up: bool) -> list[tuple[Unit, str]]:
    """Each skeleton unit with what it should say; a follow-up's first sentence answers the question."""
    free = [i for i, unit in enumerate(style.units) if unit.stock is None]
    plan = [(unit, "stock" if unit.stock is not None else unit_intent(unit, i, free))
            for i, unit in enumerate(style.units)]
    if not follow_up:
        return plan
    if free and plan[free[0]][1] == "opener":
        plan[free[0]] = (plan[free[0]][0], "answer")
        return plan
    # nothing of the taught answers is free to answer in (all template): the answer goes first, on its own
    answer = Unit(break_before=False, bullet="", label="", stock=None, fillings=(), end="!" if style.lively else ".",
                  words=8)
    if not plan:
        return [(answer, "answer")]
    on_lines = any(unit.break_before for unit in style.units)
    return [(answer, "answer"), (replace(plan[0][0], break_before=on_lines), plan[0][1]), *plan[1:]]


_FLAW_WORDS = frozenset({"bad", "cons", "con", "minus", "minuses", "downside", "downsides", "dislike", "dislikes",
                         "gripe", "gripes", "weak", "weaknesses", "meh", "worst"})
_VERDICT_WORDS = frozenset({"verdict", "bottom", "summary", "overall", "tl;dr", "tldr", "rating", "score"})


def unit_intent(unit: Unit, index: int, free: Sequence[int]) -> str:
    """What a fresh unit says: its label's meaning, a drawback where the team puts one, else by its place."""
    label = unit.label.lower()
    if label:
        words = set(label.split())
        if words & _FLAW_WORDS:
            return "flaw"
        if label.startswith(("skip", "avoid", "pass", "not for")):
            return "skip"
        if label.startswith(("buy", "get", "for", "best for", "ideal", "perfect for", "great for", "who")):
            return "audience"
        if words & _VERDICT_WORDS:
            return "verdict"
        return "flaw" if unit.negative else "point"
    if unit.negative:
        return "flaw"
    if unit.bullet:
        return "point"
    if index == free[0]:
        return "opener"
    if index == free[-1]:
        return "closer"
    return "point"


def write_unit(unit: Unit, intent: str, draft: Draft, *, name_product: bool) -> str:
    """A fresh piece of the reply: bullet, label, body in the taught register, end mark."""
    if intent in ("point", "flaw"):
        body = write_points(unit, intent, draft, name_product=name_product)
    else:
        body = write_single(unit, intent, draft, name_product=name_product)
    draft.written |= words_of(body)
    body = emphasize(body, draft)
    lower = bool(unit.label or unit.bullet) and draft.style.lower_start and not _starts_with_name(body, draft.product)
    body = _lower_first(body) if lower else _upper_first(body)
    end = unit.end if unit.end != "?" else ("!" if draft.style.lively else ".")
    return _head(unit) + body + end


def write_single(unit: Unit, intent: str, draft: Draft, *, name_product: bool) -> str:
    """An opener, closer, verdict, audience or answer: one phrase of the register's choice for it."""
    register = draft.style.register
    options = {
        "opener": bank.OPENERS[register],
        "closer": bank.CLOSERS[register],
        "verdict": bank.VERDICTS[register],
        "audience": bank.AUDIENCES,
        "skip": bank.SKIPS,
        "answer": (bank.ANSWERS if draft.topic else bank.OPEN_ANSWERS)[register],
    }[intent]
    if name_product:
        options = tuple(p for p in options if _can_name(p.text)) or options
    phrase = choose(options, draft, unit.words)[0]
    draft.used.add(phrase.aspect)
    return fill(phrase, draft, name_product=name_product)


def write_points(unit: Unit, intent: str, draft: Draft, *, name_product: bool) -> str:
    """One to three points joined into one sentence or field, about as long as the taught ones."""
    short = unit.words <= _SHORT_PIECE
    clauses = bank.POINTS[draft.style.register] if intent == "point" else bank.FLAWS
    fragments = bank.SHORT_POINTS if intent == "point" else bank.SHORT_FLAWS
    chosen: list[Phrase] = []
    if name_product:
        chosen.append(choose(tuple(p for p in clauses if _can_name(p.text)), draft)[0])
        draft.used.add(chosen[0].aspect)
    ranked = choose(fragments if short else clauses, draft)
    for phrase in ranked:
        if len(chosen) == 3:
            break
        said = set().union(*(template_words(p.text) for p in chosen)) - _GLUE
        if phrase.aspect in draft.used or template_words(phrase.text) & said:
            continue
        if chosen and not _nearer(chosen, phrase, unit.words, draft):
            continue
        draft.used.add(phrase.aspect)
        chosen.append(phrase)
    texts = [fill(p, draft, name_product=name_product and i == 0) for i, p in enumerate(chosen or ranked[:1])]
    return ", ".join(texts) if short else and_join(texts)


def _nearer(chosen: Sequence[Phrase], extra: Phrase, target: int, draft: Draft) -> bool:
    """Whether one more point brings the piece nearer the taught length."""
    now = sum(word_count(fill(phrase, draft)) for phrase in chosen)
    return abs(now + word_count(fill(extra, draft)) - target) < abs(now - target)


def choose(options: Sequence[Phrase], draft: Draft, target: int | None = None) -> list[Phrase]:
    """Unused options ranked: fewest banned words, some style word, nearest length, then a hash.

    Any style word counts as much as several, so replies about different products vary within the style.
    """
    fresh = [phrase for phrase in options if phrase.aspect not in draft.used] or list(options)

    def rank(phrase: Phrase) -> tuple[int, int, int, int, int]:
        words = template_words(phrase.text)
        length = 0 if target is None else abs(word_count(fill(phrase, draft)) - target)
        return (len(words & draft.style.banned), -min(1, len(words & draft.style.style_words)),
                len((words - _GLUE) & draft.written), length, _hash(f"{draft.key}|{phrase.text}"))
    return sorted(fresh, key=rank)


def template_words(template: str) -> set[str]:
    """The words a template writes itself, both forms of each {singular|plural}, no product marks."""
    both = _ALTERNATION.sub(lambda m: f"{m.group(1)} {m.group(2)}", _PRODUCT_MARKS.sub(" ", template))
    return words_of(both.replace("*", ""))


def _can_name(template: str) -> bool:
    return template.startswith("{it|they}") or bool(re.search(r"\{(?:This|this|The|the|a)\}", template))


def fill(phrase: Phrase, draft: Draft, *, name_product: bool = False) -> str:
    """The phrase about the product asked for: verb forms agree, the product marks become its name."""
    text = phrase.text
    if name_product and text.startswith("{it|they}"):
        text = "{the}" + text[len("{it|they}"):]
    text = _ALTERNATION.sub(lambda m: m.group(2) if draft.plural else m.group(1), text)
    forms = product_forms(draft.product, draft.plural)
    forms["Topic"] = _upper_first(draft.topic)
    return re.sub(r"\{(This|this|The|the|a|Topic)\}", lambda m: forms[m.group(1)], text)


def product_forms(product: str, plural: bool) -> dict[str, str]:
    """How a template refers to the product: 'this speaker', 'the speaker', 'a speaker'."""
    if not product:
        return {"This": "It", "this": "it", "The": "It", "the": "it", "a": "one"}
    has_determiner = product.split(" ", 1)[0].lower() in DETERMINERS
    this = product if has_determiner else f"{'these' if plural else 'this'} {product}"
    the = product if has_determiner else f"the {product}"
    return {"This": _upper_first(this), "this": this, "The": _upper_first(the), "the": the,
            "a": product if has_determiner else a_or_an(product)}


def render_stock(unit: Unit, draft: Draft) -> str:
    """A piece the team writes the same for every product, with this product and a taught number."""
    numbers = iter(pick(unit.fillings, draft.key) if unit.fillings else ())
    forms = product_forms(draft.product, draft.plural)

    def slot(match: re.Match[str]) -> str:
        if match.group(0) == "⟦N⟧":
            return next(numbers, "")
        determiner = match.group(1)
        if determiner.lower() in ("a", "an"):
            named = forms["a"]
        elif determiner.lower() in ("this", "these"):
            named = forms["this"]
        else:
            named = draft.product or "it"
        return _upper_first(named) if determiner[:1].isupper() or determiner == "^" else named
    body = _SLOT.sub(slot, unit.stock or "")
    if not body:
        return f"{unit.bullet}{unit.label}:" if unit.label else unit.bullet.strip()
    return _head(unit) + body + unit.end


def emphasize(text: str, draft: Draft) -> str:
    """Writes the first marked words in ALL CAPS, as many as the taught answers use; unmarks the rest."""
    def mark(match: re.Match[str]) -> str:
        if draft.emphasis_left > 0:
            draft.emphasis_left -= 1
            return match.group(1).upper()
        return match.group(1)
    return _EMPHASIS.sub(mark, text)


def question_topic(question: str, product: str) -> str:
    """What a follow-up asks about: "is the standing desk sturdy?" -> "sturdy"; '' if not a question."""
    if not question.strip().endswith("?"):
        return ""
    own = words_of(product) | {"it", "they", "them"}
    words = [word for word in re.findall(r"[\w'-]+", clean(question)) if word.lower() not in own]
    while words and words[0].lower() in _QUESTION_LEAD:
        words.pop(0)
    while words and words[-1].lower() in ("like", "then", "though"):
        words.pop()
    return " ".join(words) if 0 < len(words) <= 6 else ""


def and_join(parts: Sequence[str]) -> str:
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def join_units(units: Sequence[Unit], texts: Sequence[str]) -> str:
    """Units in order, on new lines where the taught answers broke lines."""
    out = ""
    for unit, text in zip(units, texts, strict=True):
        if not text:
            continue
        out = text if not out else out + ("\n" if unit.break_before else " ") + text
    return out


def _head(unit: Unit) -> str:
    return unit.bullet + (f"{unit.label}: " if unit.label else "")


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _starts_with_name(text: str, product: str) -> bool:
    """A field that opens with the product's own name keeps the case the user wrote it in."""
    return bool(product) and text.startswith(product)


def _lower_first(text: str) -> str:
    """Lower-cases the first letter unless the first word is an acronym ("LED")."""
    first = text.split(" ", 1)[0]
    return text if first.isupper() and len(first) > 1 else text[:1].lower() + text[1:]


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)
