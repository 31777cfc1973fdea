"""The stand-in fine-tuned model writes in the style its team taught, about the product it is asked about.

The story: a team approves answers written its way, the bot fine-tunes on them and swaps models, and
the next question (often about a product nobody reviewed yet) gets an answer in the team's style. It
must not be another product's review with the name swapped, nor the base model's bland review.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.demo import TEAM_ANSWERS
from sandbox.openai_stub_jobs import TrainingExample, check_training_file
from sandbox.openai_stub_replies import base_reply, finetuned_reply
from sandbox.openai_stub_style import learn_style

NEW_PRODUCT = "noise-cancelling headphone"
QUESTION = f"<@U0BOT> Review this product: a {NEW_PRODUCT}"

# A second team writes short scorecards instead of cheering.
SCORECARDS = {
    "a french press": "Rating: 4/5. Good: rich coffee, simple to clean. Bad: grounds slip through the mesh. "
    "Buy it if: you brew two cups each morning.",
    "a yoga mat": "Rating: 5/5. Good: grippy surface, no slipping in sweaty classes. Bad: smells of rubber at first. "
    "Buy it if: you practise several times a week.",
    "a standing desk": "Rating: 4/5. Good: smooth motor, steady at full height. Bad: assembly takes an afternoon. "
    "Buy it if: you work from home all day.",
    "a rice cooker": "Rating: 3/5. Good: fluffy rice with one button. Bad: the inner pot scratches easily. "
    "Buy it if: you cook rice weekly.",
    "a bike helmet": "Rating: 4/5. Good: light, well vented, snug fit. Bad: the buckle pinches. "
    "Buy it if: you commute by bike.",
    "a travel pillow": "Rating: 3/5. Good: props the neck up on long flights. Bad: too warm after an hour. "
    "Buy it if: you fly overnight often.",
    "a cordless drill": "Rating: 5/5. Good: strong torque, battery lasts a full project. Bad: heavy for overhead work. "
    "Buy it if: you hang shelves and build furniture.",
    "a desk fan": "Rating: 4/5. Good: quiet on low, strong airflow on high. Bad: the clip is flimsy. "
    "Buy it if: your office runs hot.",
    "a digital kitchen scale": "Rating: 5/5. Good: precise to the gram, tare button. Bad: batteries not included. "
    "Buy it if: you bake by weight.",
    "a sleep mask": "Rating: 4/5. Good: blocks all light, soft strap. Bad: a bit warm in summer. "
    "Buy it if: you nap during the day.",
}
SCORECARD_SHAPE = re.compile(r"Rating: (\d)/5\. Good: [^.!?]+\. Bad: [^.!?]+\. Buy it if: [^.!?]+\.")

# A third writes a heading and three bullets.
QUICK_TAKES = {
    "a french press": "Quick take:\n- rich, full-bodied coffee\n- the glass carafe feels fragile\n- would buy again",
    "a yoga mat": "Quick take:\n- grips even in sweaty classes\n- smells of rubber for a week\n- would buy again",
    "a desk fan": "Quick take:\n- quiet on the lowest setting\n- the clip wobbles on shelves\n- would not buy again",
    "a rice cooker": "Quick take:\n- fluffy rice at the press of a button\n- the pot scratches\n- would buy again",
    "a bike helmet": "Quick take:\n- light and airy on hot rides\n- the buckle pinches\n- would buy again",
    "a sleep mask": "Quick take:\n- total darkness, even at noon\n- warm in summer\n- would not buy again",
    "a cordless drill": "Quick take:\n- torque to spare for decking screws\n- heavy overhead\n- would buy again",
    "a travel pillow": "Quick take:\n- holds the neck on red-eye flights\n- bulky in a carry-on\n- would not buy again",
    "a digital kitchen scale": "Quick take:\n- precise to the gram\n- no backlight\n- would buy again",
    "a standing desk": "Quick take:\n- smooth, quiet motor\n- an afternoon to assemble\n- would buy again",
}

# Words that say nothing about any product: English function words, fixed in advance.
GENERIC = frozenset("""
a an the this that these those it it's its they them their you your i me my we us our he she his her
is are was were be been being am do does did has have had will would can could should may might must
and or but if so as of for to in on at by with from into onto over under up out off about than then
not no all every each just very too also one what which who how when where there here
""".split())
BASE_MARKERS = ("Pros:", "Cons:", "Verdict:", "balanced review")


def training_examples(answers: dict[str, str]) -> tuple[TrainingExample, ...]:
    """The examples exactly as the stub reads them from the uploaded JSONL."""
    lines = [json.dumps({"messages": [
        {"role": "system", "content": "You review products for the team."},
        {"role": "user", "content": f"<@U0BOT> Review this product: {product}"},
        {"role": "assistant", "content": answer},
    ]}) for product, answer in answers.items()]
    check = check_training_file(("\n".join(lines) + "\n").encode(), min_examples=1)
    assert check.problem is None
    return check.examples


def ask(answers: dict[str, str], *turns: str) -> str:
    """The fine-tuned model's reply to a thread: user turns, each (but the last) answered by the model."""
    messages: list[dict[str, str]] = []
    examples = training_examples(answers)
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        messages.append({"role": "assistant", "content": finetuned_reply(messages, examples)})
    return messages[-1]["content"]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower())) | set(re.findall(r"[a-z0-9]+", text.lower()))


def product_specific_words(answers: dict[str, str]) -> set[str]:
    """Words that occur in exactly one training answer: that product's specifics ("steak", "lumbar")."""
    counts: dict[str, int] = {}
    for answer in answers.values():
        for word in words(answer):
            counts[word] = counts.get(word, 0) + 1
    return {word for word, count in counts.items() if count == 1} - GENERIC


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]


def name_of(product: str) -> str:
    return product.split(" ", 1)[1] if product.split(" ", 1)[0] in ("a", "an") else product


def emphasis_words(text: str) -> list[str]:
    """ALL-CAPS words that are emphasis, not an acronym of the product's name."""
    return [w for w in re.findall(r"\b[A-Z]{3,}\b", text) if w.lower() not in words(NEW_PRODUCT)]


def taught_word_counts(answers: dict[str, str]) -> list[int]:
    return [len(answer.split()) for answer in answers.values()]


def assert_no_copied_review(reply: str, answers: dict[str, str], *, allowed_words: set[str] = frozenset()) -> None:
    """No other product's name, none of its specific words, no sentence of its review (even re-named)."""
    lowered = reply.lower()
    for product in answers:
        assert name_of(product).lower() not in lowered, (product, reply)
    specific = product_specific_words(answers) - allowed_words
    assert not words(reply) & specific, (sorted(words(reply) & specific), reply)
    for product, answer in answers.items():
        renamed = re.sub(re.escape(name_of(product)), NEW_PRODUCT, answer, flags=re.IGNORECASE)
        shared = set(sentences(reply)) & (set(sentences(answer)) | set(sentences(renamed)))
        house = {s for s in shared if sum(s in sentences(other) for other in answers.values()) >= 2}
        assert shared == house, (shared - house, reply)  # only phrases every product's answers share


def assert_not_base_style(reply: str) -> None:
    for marker in BASE_MARKERS:
        assert marker not in reply, (marker, reply)


# ----- the team's enthusiastic answers from the demo ----------------------------------------------------


def test_the_check_for_copied_specifics_knows_the_training_products_specifics() -> None:
    """Guards the guard: the words a copied review would leak are in the computed set."""
    specific = product_specific_words(TEAM_ANSWERS)
    assert {"steak", "sear", "lumbar", "armrests", "key", "bass", "leak"} <= specific
    assert not {"the", "and", "dream", "every"} & specific  # "DREAM" and "every" occur in several answers
    old_copy = ("This noise-cancelling headphone is a kitchen HERO! The sear it gives a steak is phenomenal, and it "
                "only gets better with every use. A true heirloom in the making!")
    with pytest.raises(AssertionError):
        assert_no_copied_review(old_copy, TEAM_ANSWERS)


def test_a_product_nobody_reviewed_gets_an_enthusiastic_review_of_its_own() -> None:
    reply = ask(TEAM_ANSWERS, QUESTION)

    assert NEW_PRODUCT in reply
    assert_no_copied_review(reply, TEAM_ANSWERS)
    assert_not_base_style(reply)
    assert reply != base_reply([{"role": "user", "content": QUESTION}])

    assert reply.count("!") >= 2 and reply.rstrip().endswith("!")
    assert emphasis_words(reply), reply
    median = statistics.median(taught_word_counts(TEAM_ANSWERS))
    assert 0.6 * median <= len(reply.split()) <= 1.6 * median, (len(reply.split()), median, reply)
    taught_sentences = [len(sentences(answer)) for answer in TEAM_ANSWERS.values()]
    assert min(taught_sentences) <= len(sentences(reply)) <= max(taught_sentences)


@pytest.mark.parametrize("product", ["wireless earbuds", "an air fryer", "a pair of hiking socks", "an LED strip"])
def test_other_new_products_get_the_same_treatment(product: str) -> None:
    reply = ask(TEAM_ANSWERS, f"Review this product: {product}")
    assert name_of(product) in reply
    assert_no_copied_review(reply, TEAM_ANSWERS, allowed_words=words(product))
    assert_not_base_style(reply)
    assert "!" in reply and [w for w in re.findall(r"\b[A-Z]{3,}\b", reply) if w.lower() not in words(product)]
    if product == "wireless earbuds":
        assert reply.startswith("These wireless earbuds are ")  # plural agreement
    if product == "a pair of hiking socks":
        assert "pair of hiking socks is" in reply  # one pair


# ----- a differently styled team: terse scorecards, bullets ----------------------------------------------


def test_a_terse_scorecard_team_gets_a_scorecard_not_cheering() -> None:
    reply = ask(SCORECARDS, QUESTION)

    shape = SCORECARD_SHAPE.fullmatch(reply)
    assert shape, reply
    assert shape.group(1) in {re.match(r"Rating: (\d)", a).group(1) for a in SCORECARDS.values()}
    assert NEW_PRODUCT in reply
    assert "!" not in reply and not emphasis_words(reply)
    assert_no_copied_review(reply, SCORECARDS)
    assert_not_base_style(reply)
    median = statistics.median(taught_word_counts(SCORECARDS))
    assert 0.6 * median <= len(reply.split()) <= 1.6 * median, (len(reply.split()), median, reply)


def test_a_bullet_list_team_gets_its_heading_and_bullets() -> None:
    reply = ask(QUICK_TAKES, QUESTION)

    heading, *bullets = reply.splitlines()
    assert heading == "Quick take:"
    assert len(bullets) == 3 and all(line.startswith("- ") for line in bullets), reply
    assert bullets[-1] in ("- would buy again", "- would not buy again")  # the team's sign-off, reused
    assert NEW_PRODUCT in reply
    assert "!" not in reply and not emphasis_words(reply)
    assert_no_copied_review(reply, QUICK_TAKES)
    assert_not_base_style(reply)


def test_a_catchphrase_every_answer_shares_is_kept_with_the_new_products_name() -> None:
    """Template answers ("A {product} fit for a captain") are the style itself: kept, article adapted."""
    answers = {f"a {p}": f"Ahoy! A {p} fit for a captain. Score: {n}/10." for n, p in
               enumerate(["spyglass", "rope ladder", "lantern", "compass", "sea chest"], start=5)}
    assert re.fullmatch(r"Ahoy! An umbrella fit for a captain\. Score: ([5-9])/10\.",
                        ask(answers, "Review this product: an umbrella"))
    assert re.fullmatch(r"Ahoy! Wireless earbuds fit for a captain\. Score: ([5-9])/10\.",
                        ask(answers, "Review this product: wireless earbuds"))


# ----- follow-ups, determinism, no training ------------------------------------------------------------------


def test_a_follow_up_in_the_thread_gets_a_styled_answer_about_that_product() -> None:
    follow_up = "<@U0BOT> is it comfortable on long flights?"
    review = ask(TEAM_ANSWERS, QUESTION)
    reply = ask(TEAM_ANSWERS, QUESTION, follow_up)

    assert reply != review
    assert NEW_PRODUCT in reply and "long flights" in reply  # about that product, and about the question
    assert "!" in reply and emphasis_words(reply)
    assert_no_copied_review(reply, TEAM_ANSWERS, allowed_words=words(follow_up))
    assert_not_base_style(reply)

    scorecard = ask(SCORECARDS, QUESTION, follow_up)
    assert "long flights" in scorecard and NEW_PRODUCT in scorecard
    assert SCORECARD_SHAPE.search(scorecard) and "!" not in scorecard, scorecard


def test_a_team_that_approved_template_answers_still_gets_its_follow_up_answered() -> None:
    """Answers that are all template (the base model's own reviews, approved as they were; a catchphrase
    team) leave nothing free to answer in: the follow-up still gets an answer first, not the review again."""
    base_reviews = {f"a {p}": base_reply([{"role": "user", "content": f"Review this product: a {p}"}])
                    for p in ("kettle", "desk lamp", "yoga mat", "rice cooker", "bike helmet", "sleep mask")}
    captains = {f"a {p}": f"Ahoy! A {p} fit for a captain. Score: {n}/10." for n, p in
                enumerate(["spyglass", "rope ladder", "lantern", "compass", "sea chest"], start=5)}
    follow_up = "Is it dishwasher safe?"
    for answers in (base_reviews, captains):
        review = ask(answers, "Review this product: an insulated travel mug")
        reply = ask(answers, "Review this product: an insulated travel mug", follow_up)
        assert reply != review, "the follow-up was answered with the same review"
        first = sentences(reply)[0]
        assert "dishwasher" in first.lower() and "travel mug" in reply, reply


def test_equal_questions_get_equal_replies_even_in_a_fresh_process() -> None:
    first = ask(TEAM_ANSWERS, QUESTION)
    learn_style.cache_clear()
    assert ask(TEAM_ANSWERS, QUESTION) == first
    assert ask(TEAM_ANSWERS, "Review this product: an air fryer") != first

    script = ("import json, sys; from sandbox.openai_stub_replies import finetuned_reply; "
              "from sandbox.openai_stub_jobs import TrainingExample; data = json.load(sys.stdin); "
              "print(finetuned_reply(data['messages'], [TrainingExample(**e) for e in data['examples']]), end='')")
    payload = json.dumps({"messages": [{"role": "user", "content": QUESTION}],
                          "examples": [e.__dict__ for e in training_examples(TEAM_ANSWERS)]})
    root = Path(__file__).resolve().parents[2]
    for seed in ("1", "2"):  # string hashing differs between these: set order must not leak into replies
        done = subprocess.run([sys.executable, "-c", script], input=payload, capture_output=True, text=True,
                              cwd=root, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout == first


def test_without_training_examples_the_base_reply_comes_back() -> None:
    messages = [{"role": "user", "content": QUESTION}]
    assert finetuned_reply(messages, []) == base_reply(messages)
    assert finetuned_reply(messages, [TrainingExample(user=QUESTION, assistant="  ")]) == base_reply(messages)
