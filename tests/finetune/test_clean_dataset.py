"""A clean training file: a thread's conversation once, with only approved turns trained; the same conversation
once; the corrected answer, not the original; and a stable tenth held out for validation."""
from __future__ import annotations

import json

from sqlalchemy import select

from finetune.backend import Capabilities, Method
from finetune.corrections import save_correction
from finetune.dataset import as_backend_reads, unweighted
from finetune.pipeline import PipelineConfig, build_files
from finetune.votes import Vote, record_vote
from storage import queries
from storage.models import Reply
from tests.support.factories import BASE, answered_reply

SYSTEM = {"role": "system", "content": "Be upbeat."}
RULES = Capabilities(min_examples=1, max_example_tokens=65_536)


def build(db, *, holdout_min: int = 0):
    with db.session() as session:
        return build_files(session, PipelineConfig(base_model=BASE, holdout_min=holdout_min), RULES)


def approve(db, clock, channel: str, ts: str, user: str = "U2") -> None:
    record_vote(db, clock, Vote(channel, ts, user, "+1", True, None))


def lines(jsonl: str) -> list[dict]:
    return [json.loads(line) for line in jsonl.splitlines()]


def ask_in_a_thread(db, clock, questions_and_answers: list[tuple[str, str]]) -> list[str]:
    """One thread: each question is answered with the earlier turns as context, as the bot does. The replies' ts."""
    history: list[dict] = []
    stamps = []
    with db.session() as session:
        for n, (question, answer) in enumerate(questions_and_answers):
            messages = [SYSTEM, *history, {"role": "user", "content": question}]
            reply = answered_reply(session, clock, n, model=BASE, messages=messages, text=answer,
                                   source_prefix="5", reply_prefix="6", thread_ts="5.000000")
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            stamps.append(reply.ts)
    return stamps


def test_an_approved_reply_deep_in_a_thread_is_one_example_of_the_whole_conversation(db, clock):
    first, second, third = ask_in_a_thread(db, clock, [
        ("Review this product: a kettle", "It boils water."),  # never approved
        ("And its price?", "Only $39.99, a STEAL!"),  # approved
        ("Would you buy it?", "In a heartbeat!"),  # approved
    ])
    approve(db, clock, "C1", second)
    approve(db, clock, "C1", third)
    built = build(db)
    [example] = lines(built.jsonl)
    assert example["messages"] == [
        SYSTEM,
        {"role": "user", "content": "Review this product: a kettle"},
        {"role": "assistant", "content": "It boils water.", "weight": 0},  # context, not something to learn
        {"role": "user", "content": "And its price?"},
        {"role": "assistant", "content": "Only $39.99, a STEAL!"},  # approved itself: trained
        {"role": "user", "content": "Would you buy it?"},
        {"role": "assistant", "content": "In a heartbeat!"},
    ]
    # the second reply's own example is the start of this one, where its answer is trained: folded in, not repeated
    [folded] = built.merged
    assert folded["into"] == built.reply_ids[0] and "where its answer is trained" in folded["why"]
    assert sorted(built.covered_ids) == sorted([*built.reply_ids, folded["reply_id"]])


def test_an_earlier_answer_that_was_corrected_is_context_and_the_correction_is_what_is_learnt(db, clock):
    first, second = ask_in_a_thread(db, clock, [("Review: a lamp", "It is a lamp."), ("Brightness?", "Bright.")])
    save_correction(db, clock, queries.EVERYONE, channel="C1", ts=first, user="U3", text="A GORGEOUS lamp!")
    save_correction(db, clock, queries.EVERYONE, channel="C1", ts=second, user="U3", text="Dazzling, 800 lumens!")
    clock.advance(60)  # someone other than the corrector approves the corrected answers
    approve(db, clock, "C1", first, user="U4")
    approve(db, clock, "C1", second, user="U4")
    examples = lines(build(db).jsonl)
    assert [m["content"] for m in examples[0]["messages"]][-1] == "A GORGEOUS lamp!"
    second_example = examples[1]["messages"]
    # the model saw its original words; they were not approved as they stand, so they are not trained
    assert second_example[2] == {"role": "assistant", "content": "It is a lamp.", "weight": 0}
    assert second_example[-1] == {"role": "assistant", "content": "Dazzling, 800 lumens!"}


def test_the_same_conversation_approved_twice_appears_once(db, clock):
    with db.session() as session:
        one = answered_reply(session, clock, 1, model=BASE, text="Great   kettle!",
                             messages=[SYSTEM, {"role": "user", "content": "Review this product: a kettle"}])
        two = answered_reply(session, clock, 2, model=BASE, text="great kettle!",
                             messages=[SYSTEM, {"role": "user", "content": "Review this product:  a Kettle "}])
        other = answered_reply(session, clock, 3, model=BASE, text="Great toaster!",
                               messages=[SYSTEM, {"role": "user", "content": "Review this product: a toaster"}])
        stamps = [one.ts, two.ts, other.ts]
        ids = [one.id, two.id, other.id]
    for ts in stamps:
        approve(db, clock, "C1", ts)
    built = build(db)
    assert len(built) == 2 and built.reply_ids == [ids[0], ids[2]]
    assert built.merged == [{"reply_id": ids[1], "into": ids[0], "why": f"the same conversation as reply {ids[0]}: it appears once"}]
    assert sorted(built.covered_ids) == sorted(ids)  # a successful job counts all three as trained on


def reviews(db, clock, count: int, start: int = 0) -> None:
    with db.session() as session:
        for n in range(start, start + count):
            reply = answered_reply(session, clock, n, model=BASE, text=f"Gadget {n} ROCKS!",
                                   messages=[SYSTEM, {"role": "user", "content": f"Review this product: gadget {n}"}])
            queries.add_approval(session, reply, "U2", "+1", clock.now())


def questions(jsonl: str) -> set[str]:
    return {line["messages"][1]["content"] for line in lines(jsonl)}


def test_below_the_holdout_minimum_every_example_trains(db, clock):
    reviews(db, clock, 49)
    built = build(db, holdout_min=50)
    assert len(built) == 49 and built.validation_lines == []


def test_from_the_holdout_minimum_on_a_stable_tenth_goes_to_validation_and_never_moves(db, clock):
    reviews(db, clock, 200)
    first = build(db, holdout_min=50)
    held = questions(first.validation_jsonl)
    assert 10 <= len(held) <= 32  # a tenth of 200, by hash: about 20
    assert held.isdisjoint(questions(first.jsonl))
    assert len(first) + len(first.validation_lines) == 200
    assert build(db, holdout_min=50).validation_jsonl == first.validation_jsonl  # the next run: the same split
    reviews(db, clock, 100, start=200)
    grown = build(db, holdout_min=50)
    assert held <= questions(grown.validation_jsonl)  # nothing held out before trains now...
    assert questions(first.jsonl) <= questions(grown.jsonl)  # ...and nothing trained before is held out
    assert first.sha256 != grown.sha256


def test_a_new_persona_does_not_reshuffle_the_holdout(db, clock):
    reviews(db, clock, 100)
    before = questions(build(db, holdout_min=50).validation_jsonl)
    with db.session() as session:
        for reply in session.scalars(select(Reply)):
            reply.messages = [{"role": "system", "content": "Be terse."}, *reply.messages[1:]]
    assert questions(build(db, holdout_min=50).validation_jsonl) == before


def test_a_backend_that_ignores_weights_gets_each_trained_turn_as_its_own_prompt_and_completion(db, clock):
    first, second, third = ask_in_a_thread(db, clock, [("Review: a mug", "A mug."), ("Colour?", "Ruby RED!"),
                                                       ("Dishwasher safe?", "Absolutely!")])
    approve(db, clock, "C1", second)
    approve(db, clock, "C1", third)
    jsonl = build(db).jsonl
    assert as_backend_reads(jsonl, RULES, Method.SFT) == jsonl  # weights honoured: as stored
    ignores = Capabilities(min_examples=1, max_example_tokens=65_536, honours_weight=False)
    converted = lines(as_backend_reads(jsonl, ignores, Method.SFT))
    assert converted == lines(unweighted(jsonl))
    assert [row["completion"] for row in converted] == [[{"role": "assistant", "content": "Ruby RED!"}],
                                                        [{"role": "assistant", "content": "Absolutely!"}]]
    assert converted[0]["prompt"] == [SYSTEM, {"role": "user", "content": "Review: a mug"},
                                      {"role": "assistant", "content": "A mug."}, {"role": "user", "content": "Colour?"}]
    assert all("weight" not in m for row in converted for m in row["prompt"])
    assert not any(row["completion"][0]["content"] == "A mug." for row in converted)  # weight 0: never a target
