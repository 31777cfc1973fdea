"""Preference pairs: the team said which answer it prefers to which, by marking one bad, approving or correcting
another for the same conversation, or correcting a reply."""
from __future__ import annotations

import json

import pytest

from finetune.backend import Capabilities, Method
from finetune.corrections import save_correction
from finetune.pipeline import PipelineConfig, build_files
from finetune.preferences import trl_preference_jsonl
from finetune.votes import Vote, record_vote
from storage import queries
from storage.queries import Curation
from tests.support.factories import BASE, answered_reply

SYSTEM = {"role": "system", "content": "Be upbeat."}
RULES = Capabilities(min_examples=1, max_example_tokens=65_536, methods=frozenset({Method.SFT, Method.DPO}))


def asked(db, clock, n: int, question: str, answer: str) -> str:
    with db.session() as session:
        return answered_reply(session, clock, n, model=BASE, text=answer,
                              messages=[SYSTEM, {"role": "user", "content": question}]).ts


def vote(db, clock, ts: str, user: str = "U2", *, positive: bool = True, curation: Curation = queries.EVERYONE):
    record_vote(db, clock, Vote("C1", ts, user, "+1" if positive else "-1", True, None, positive), curation)


def pairs(db, curation: Curation = queries.EVERYONE, holdout_min: int = 0):
    with db.session() as session:
        built = build_files(session, PipelineConfig(base_model=BASE, method=Method.DPO, curation=curation,
                                                    holdout_min=holdout_min), RULES)
    return built, [json.loads(line) for line in built.jsonl.splitlines()]


def test_a_bad_reply_and_an_approved_answer_to_the_same_conversation_make_a_pair(db, clock):
    bad = asked(db, clock, 1, "Review this product: a kettle", "It is a kettle.")
    good = asked(db, clock, 2, "Review this product:  a KETTLE", "This kettle is a ROCKET!")  # asked again elsewhere
    asked(db, clock, 3, "Review this product: a toaster", "Toast!")  # no judgement: no pair
    vote(db, clock, bad, positive=False)
    vote(db, clock, good)
    built, [pair] = pairs(db)
    assert pair == {"input": {"messages": [SYSTEM, {"role": "user", "content": "Review this product: a kettle"}]},
                    "preferred_output": [{"role": "assistant", "content": "This kettle is a ROCKET!"}],
                    "non_preferred_output": [{"role": "assistant", "content": "It is a kettle."}]}
    assert len(built.reply_ids) == 2  # both replies are in the file


def test_every_correction_is_preferred_to_the_original(db, clock):
    ts = asked(db, clock, 1, "Review: a lamp", "A lamp.")
    save_correction(db, clock, queries.EVERYONE, channel="C1", ts=ts, user="U3", text="A GORGEOUS lamp, 800 lumens!")
    _, [pair] = pairs(db)
    assert pair["preferred_output"][0]["content"] == "A GORGEOUS lamp, 800 lumens!"
    assert pair["non_preferred_output"][0]["content"] == "A lamp."


def test_a_bad_reply_that_was_corrected_gives_one_pair_not_two(db, clock):
    ts = asked(db, clock, 1, "Review: a mug", "Mug.")
    vote(db, clock, ts, positive=False)
    save_correction(db, clock, queries.EVERYONE, channel="C1", ts=ts, user="U3", text="The comfiest mug EVER!")
    built, [pair] = pairs(db)
    assert pair["preferred_output"][0]["content"] == "The comfiest mug EVER!"
    assert built.merged == []


def test_approvals_alone_make_no_pairs(db, clock):
    vote(db, clock, asked(db, clock, 1, "Review: a chair", "COMFY!"))
    built, rows = pairs(db)
    assert rows == [] and len(built) == 0


def test_only_a_curators_vote_against_makes_a_reply_bad(db, clock):
    team = Curation(curators=frozenset({"UALICE"}))
    bad = asked(db, clock, 1, "Review: a fan", "It spins.")
    good = asked(db, clock, 2, "Review: a fan", "Whisper-quiet and POWERFUL!")
    vote(db, clock, good, "UALICE", curation=team)
    vote(db, clock, bad, "UCAROL", positive=False, curation=team)  # not a curator: not recorded
    assert pairs(db, team)[1] == []
    vote(db, clock, bad, "UALICE", positive=False, curation=team)
    assert len(pairs(db, team)[1]) == 1
    assert pairs(db, Curation(curators=frozenset({"UBOB"})))[1] == []  # once only Bob counts, Alice's votes do not


def test_the_preference_file_is_redacted_and_a_stable_tenth_held_out(db, clock):
    for n in range(60):
        ts = asked(db, clock, n, f"Review gadget {n}, call me on 555-123-4567", f"Gadget {n}.")
        save_correction(db, clock, queries.EVERYONE, channel="C1", ts=ts, user="U3", text=f"Gadget {n} ROCKS!")
    built, rows = pairs(db, holdout_min=50)
    assert "555-123-4567" not in built.jsonl + built.validation_jsonl
    assert rows[0]["input"]["messages"][1]["content"].endswith("call me on [PHONE]")
    assert 1 <= len(built.validation_lines) <= 15 and len(rows) + len(built.validation_lines) == 60
    assert pairs(db, holdout_min=50)[0].validation_jsonl == built.validation_jsonl


def test_the_local_backend_gets_trls_prompt_chosen_rejected():
    row = {"input": {"messages": [SYSTEM, {"role": "user", "content": "Review: a lamp"}]},
           "preferred_output": [{"role": "assistant", "content": "DAZZLING!"}],
           "non_preferred_output": [{"role": "assistant", "content": "A lamp."}]}
    [trl] = [json.loads(line) for line in trl_preference_jsonl(json.dumps(row) + "\n").splitlines()]
    assert trl == {"prompt": row["input"]["messages"], "chosen": row["preferred_output"],
                   "rejected": row["non_preferred_output"]}
    with pytest.raises(ValueError, match="line 1 is not a preference pair"):
        trl_preference_jsonl(json.dumps({"messages": []}))
