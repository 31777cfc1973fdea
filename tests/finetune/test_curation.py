"""Who decides what the model learns: approvals from curators, how many, a curator's veto, buttons, corrections."""
from __future__ import annotations

from finetune.corrections import CorrectionResult, save_correction, text_to_improve
from finetune.votes import Vote, VoteResult, answer_of, links_in, record_vote
from storage import queries
from storage.queries import Curation
from tests.support.factories import answered_reply

TEAM = Curation(curators=frozenset({"UALICE", "UBOB"}), required=2)


def reply(db, clock, n=1):
    with db.session() as session:
        made = answered_reply(session, clock, n, text="A fine kettle.")
        return made.channel, made.ts


def emoji(channel, ts, user, name="+1", *, approve=True, positive=True, at="1.0"):
    return Vote(channel, ts, user, name, approve, at, positive)


def examples(db, curation=queries.EVERYONE) -> int:
    with db.session() as session:
        return queries.example_counts(session, curation).approved


def test_two_curators_must_approve_and_others_are_told_why_they_do_not_count(db, clock):
    channel, ts = reply(db, clock)
    assert record_vote(db, clock, emoji(channel, ts, "UCAROL"), TEAM) is VoteResult.NOT_A_CURATOR
    assert record_vote(db, clock, emoji(channel, ts, "UALICE"), TEAM) is VoteResult.COUNTED
    assert examples(db, TEAM) == 0  # one of the two approvals required
    assert record_vote(db, clock, emoji(channel, ts, "UALICE", "star", at="1.1"), TEAM) is VoteResult.COUNTED
    assert examples(db, TEAM) == 0  # the same person twice is still one curator
    assert record_vote(db, clock, emoji(channel, ts, "UBOB"), TEAM) is VoteResult.COUNTED
    assert examples(db, TEAM) == 1


def test_a_curators_vote_against_vetoes_the_example(db, clock):
    channel, ts = reply(db, clock)
    record_vote(db, clock, emoji(channel, ts, "UALICE"))
    assert examples(db) == 1
    record_vote(db, clock, emoji(channel, ts, "UBOB", "-1", positive=False, at="1.2"))
    assert examples(db) == 0
    record_vote(db, clock, emoji(channel, ts, "UBOB", "-1", approve=False, positive=False, at="1.3"))
    assert examples(db) == 1  # taking the reject emoji back lifts the veto


def test_feedback_buttons_count_one_side_at_a_time_and_a_second_click_changes_nothing(db, clock):
    channel, ts = reply(db, clock)
    up = Vote.button(channel, ts, "UALICE", positive=True, action_ts="2.0")
    assert record_vote(db, clock, up) is VoteResult.COUNTED and examples(db) == 1
    again = Vote.button(channel, ts, "UALICE", positive=True, action_ts="2.1")
    assert record_vote(db, clock, again) is VoteResult.UNCHANGED and examples(db) == 1
    down = Vote.button(channel, ts, "UALICE", positive=False, action_ts="2.2")
    assert record_vote(db, clock, down) is VoteResult.COUNTED and examples(db) == 0
    with db.session() as session:
        found = queries.find_reply(session, channel, ts)
        assert queries.approval_count(session, found) == 0  # the positive click was taken back by the negative


def test_a_saved_correction_replaces_the_answer_keeps_the_original_and_counts_as_its_authors_approval(db, clock):
    channel, ts = reply(db, clock)
    assert text_to_improve(db, channel, ts) == "A fine kettle."
    saved = save_correction(db, clock, TEAM, channel=channel, ts=ts, user="UALICE", text="This kettle is FAST!")
    assert saved.result is CorrectionResult.SAVED and saved.thread_ts
    assert text_to_improve(db, channel, ts) == "This kettle is FAST!"
    with db.session() as session:
        found = queries.find_reply(session, channel, ts)
        assert found.reply_text == "A fine kettle."  # the original stays beside the correction
        assert queries.latest_correction(session, found.id).text == "This kettle is FAST!"
    assert examples(db, Curation(required=1)) == 0  # UALICE wrote it: her approval does not count alone
    assert examples(db, Curation(required=1, self_approval=True)) == 1  # ALLOW_SELF_APPROVAL, a team of one
    unchanged = save_correction(db, clock, TEAM, channel=channel, ts=ts, user="UBOB", text="This kettle is FAST!")
    assert unchanged.result is CorrectionResult.UNCHANGED
    refused = save_correction(db, clock, TEAM, channel=channel, ts=ts, user="UCAROL", text="Meh.")
    assert refused.result is CorrectionResult.NOT_A_CURATOR
    assert save_correction(db, clock, TEAM, channel=channel, ts="9.9", user="UALICE", text="x").result is \
        CorrectionResult.NOT_A_REPLY


def test_the_author_of_an_answer_needs_someone_elses_approval(db, clock):
    channel, ts = reply(db, clock)
    save_correction(db, clock, queries.EVERYONE, channel=channel, ts=ts, user="UBOB", text="Mine, all mine.")
    assert answer_of(db, channel, ts).author == "UBOB"
    assert record_vote(db, clock, emoji(channel, ts, "UBOB")) is VoteResult.OWN_ANSWER
    assert examples(db) == 0
    assert record_vote(db, clock, emoji(channel, ts, "UALICE")) is VoteResult.COUNTED
    assert examples(db) == 1
    save_correction(db, clock, queries.EVERYONE, channel=channel, ts=ts, user="UALICE", text="Now it is mine.")
    assert answer_of(db, channel, ts).author == "UALICE"  # the latest correction's author wrote what is taught now
    assert examples(db) == 1  # bob approves alice's words; alice's own approval is set aside
    assert examples(db, Curation(required=2)) == 0


def test_approving_the_models_answer_to_ones_own_question_counts(db, clock):
    channel, ts = reply(db, clock)  # asked by U1, answered by the model
    assert answer_of(db, channel, ts).author is None
    assert record_vote(db, clock, emoji(channel, ts, "U1")) is VoteResult.COUNTED
    assert examples(db) == 1


def test_links_in_a_persons_answer_are_found_and_ordinary_text_is_left_alone():
    assert links_in("see <https://evil.example/x?a=1|evil.example>, www.shop.test/buy. and http://a.b/c") == (
        "https://evil.example/x?a=1", "www.shop.test/buy", "http://a.b/c")
    assert links_in("It costs $20 (model AB-1234, 2026-01-01), 4.5 stars; e.g. great.") == ()


def test_a_vote_is_on_the_text_as_it_stood_so_an_earlier_approval_does_not_carry_over_to_a_correction(db, clock):
    channel, ts = reply(db, clock)
    up = Vote.button(channel, ts, "UALICE", positive=True, action_ts="3.0")
    assert record_vote(db, clock, up) is VoteResult.COUNTED and examples(db) == 1
    clock.advance(60)
    save_correction(db, clock, queries.EVERYONE, channel=channel, ts=ts, user="UBOB", text="My words now.")
    assert examples(db) == 0  # alice approved the model's words, not bob's
    clock.advance(60)
    again = Vote.button(channel, ts, "UALICE", positive=True, action_ts="3.1")
    assert record_vote(db, clock, again) is VoteResult.COUNTED and examples(db) == 1  # the same click, on the new text
    assert record_vote(db, clock, Vote.button(channel, ts, "UALICE", positive=True, action_ts="3.2")) is \
        VoteResult.UNCHANGED


def test_a_bad_answer_vote_does_not_veto_the_correction_that_answered_it(db, clock):
    channel, ts = reply(db, clock)
    record_vote(db, clock, emoji(channel, ts, "UALICE", "-1", positive=False, at="4.0"))
    clock.advance(60)
    save_correction(db, clock, queries.EVERYONE, channel=channel, ts=ts, user="UBOB", text="Fixed.")
    clock.advance(60)
    record_vote(db, clock, emoji(channel, ts, "UCAROL", at="4.1"))
    assert examples(db) == 1
    record_vote(db, clock, emoji(channel, ts, "UALICE", "-1", approve=False, positive=False, at="4.2"))
    record_vote(db, clock, emoji(channel, ts, "UALICE", "-1", positive=False, at="4.3"))
    assert examples(db) == 0  # marked bad again, on the corrected text: a veto
