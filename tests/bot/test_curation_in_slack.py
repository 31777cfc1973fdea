"""Curating in Slack, through the real app: the feedback buttons, Improve (button and shortcut), curators, export.

Every click, shortcut and modal submission reaches the bot the way Slack sends it (a signed
`payload=` form over HTTP); what only the clicker sees is read from the stand-in's ephemerals.
"""
from __future__ import annotations

import json

from sqlalchemy import select

from bot.views import reply as reply_view
from bot.views.improve import SHORTCUT_ID
from sandbox.stack import LocalStack
from storage import queries
from storage.models import Approval, Correction
from tests.support.slack import (
    approved_count,
    click,
    command,
    dm_files,
    ephemerals_for,
    feedback,
    open_modal,
    shortcut,
    submit_view,
    wait_for_approved,
    wait_for_ephemeral,
)

LONG = " ".join(f"Paragraph {n}: this lamp is bright, warm and easy on the eyes, with a dimmer that remembers." * 4
                for n in range(30))  # about 11,000 characters: four edit boxes


def votes(stack: LocalStack, reply: dict) -> list[tuple[str, str, bool]]:
    """(who, with what, for or against) for every vote that counts now on a reply."""
    with stack.services.db.session() as session:
        found = queries.find_reply(session, "C0GENERAL", reply["ts"])
        rows = session.scalars(select(Approval).where(Approval.reply_id == found.id, Approval.active.is_(True))
                               .order_by(Approval.id)).all()
        return [(r.user_id, r.reaction, r.positive) for r in rows]


def corrections(stack: LocalStack, reply: dict) -> list[tuple[str, str, str]]:
    with stack.services.db.session() as session:
        found = queries.find_reply(session, "C0GENERAL", reply["ts"])
        rows = session.scalars(select(Correction).where(Correction.reply_id == found.id).order_by(Correction.id)).all()
        return [(r.user_id, r.source, r.text) for r in rows]


def test_good_answer_approves_the_reply_and_only_the_clicker_is_told(stack):
    reply = stack.ask("Review this product: a cordless drill")
    feedback(stack, reply, user="U0BOB")
    wait_for_approved(stack, 1)
    assert "counts as a good example" in wait_for_ephemeral(stack, "U0BOB")
    assert ephemerals_for(stack, "U0ALICE") == []
    assert votes(stack, reply) == [("U0BOB", "button:positive", True)]


def test_the_same_click_again_changes_nothing(stack):
    reply = stack.ask("Review this product: a cordless drill")
    feedback(stack, reply, user="U0BOB")
    wait_for_ephemeral(stack, "U0BOB")
    feedback(stack, reply, user="U0BOB")  # Slack sends the second click like the first
    assert "nothing changed" in wait_for_ephemeral(stack, "U0BOB", after=1)
    assert votes(stack, reply) == [("U0BOB", "button:positive", True)] and approved_count(stack) == 1


def test_bad_answer_marks_the_reply_bad_and_takes_back_the_same_persons_good(stack):
    reply = stack.ask("Review this product: a cordless drill")
    feedback(stack, reply, user="U0BOB")
    wait_for_approved(stack, 1)
    feedback(stack, reply, user="U0BOB", positive=False)
    assert "marked bad" in wait_for_ephemeral(stack, "U0BOB", after=1)
    wait_for_approved(stack, 0)
    assert votes(stack, reply) == [("U0BOB", "button:negative", False)]  # one side at a time, as Slack shows them


def test_improve_opens_the_answer_and_saving_keeps_the_original_and_notes_it_in_the_thread(stack):
    reply = stack.ask("Review this product: a cordless drill")
    click(stack, reply, reply_view.IMPROVE_ACTION, user="U0BOB")
    modal = open_modal(stack, "U0BOB")
    assert modal["callback_id"] == "improve_reply"
    [part] = [b for b in modal["blocks"] if b["type"] == "input"]
    assert part["element"]["initial_value"] == reply["text"]

    submit_view(stack, {part["block_id"]: "This drill is a BEAST: 20 V, two batteries, done."}, user="U0BOB")
    note = stack.slack.wait_for(lambda: [m for m in stack.slack.thread("C0GENERAL", reply["thread_ts"])
                                         if "improved this answer" in m.get("text", "")])
    assert "<@U0BOB>" in note[0]["text"] and stack.slack.open_views("U0BOB") == []
    assert corrections(stack, reply) == [("U0BOB", "improve", "This drill is a BEAST: 20 V, two batteries, done.")]
    with stack.services.db.session() as session:
        assert queries.find_reply(session, "C0GENERAL", reply["ts"]).reply_text == reply["text"]  # the original stays


def test_the_message_shortcut_opens_the_same_modal(stack):
    reply = stack.ask("Review this product: a cordless drill")
    shortcut(stack, reply, SHORTCUT_ID, user="U0ALICE")
    modal = open_modal(stack, "U0ALICE")
    assert [b["element"]["initial_value"] for b in modal["blocks"] if b["type"] == "input"] == [reply["text"]]


def test_a_long_answer_is_edited_in_parts_that_join_back_in_order(stack):
    reply = stack.ask("Review this product: a desk lamp")
    suggestion = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"better: {LONG}", thread_ts=reply["thread_ts"])
    posted = stack.reply_to("C0GENERAL", suggestion["ts"])
    shortcut(stack, posted, SHORTCUT_ID, user="U0BOB")
    modal = open_modal(stack, "U0BOB")
    parts = [b for b in modal["blocks"] if b["type"] == "input"]
    assert len(parts) == 4 and all(len(p["element"]["initial_value"]) <= 3000 for p in parts)
    assert "".join(p["element"]["initial_value"] for p in parts) == LONG
    assert "split into 4 parts" in json.dumps(modal["blocks"])
    last = parts[-1]
    edited = last["element"]["initial_value"] + " Five stars."
    submit_view(stack, {last["block_id"]: edited}, user="U0BOB")
    stack.slack.wait_for(lambda: corrections(stack, posted))
    assert corrections(stack, posted)[-1][2] == LONG + " Five stars."


def test_better_feeds_the_same_records_as_improve(stack):
    reply = stack.ask("Review this product: a cordless drill")
    message = stack.slack.post_as_user("U0BOB", "C0GENERAL", "better: A BEAST of a drill!", thread_ts=reply["thread_ts"])
    stack.reply_to("C0GENERAL", message["ts"])
    assert corrections(stack, reply) == [("U0BOB", "better", "A BEAST of a drill!")]
    shortcut(stack, reply, SHORTCUT_ID, user="U0ALICE")  # Improve now starts from the better answer
    modal = open_modal(stack, "U0ALICE")
    assert [b["element"]["initial_value"] for b in modal["blocks"] if b["type"] == "input"] == ["A BEAST of a drill!"]


def test_a_vote_from_someone_who_is_not_a_curator_is_answered_with_why(database_url, clock):
    with LocalStack(database_url, clock=clock, settings={"CURATOR_USER_IDS": "U0ALICE"}) as stack:
        reply = stack.ask("Review this product: a cordless drill")
        feedback(stack, reply, user="U0BOB")
        why = wait_for_ephemeral(stack, "U0BOB")
        assert "was not recorded" in why and "CURATOR_USER_IDS" in why and "<@U0ALICE>" in why
        stack.approve(reply, user="U0BOB")  # an emoji is answered the same way
        assert "<@U0ALICE>" in wait_for_ephemeral(stack, "U0BOB", after=1)
        click(stack, reply, reply_view.IMPROVE_ACTION, user="U0BOB")
        assert "CURATOR_USER_IDS" in wait_for_ephemeral(stack, "U0BOB", after=2)
        assert stack.slack.open_views("U0BOB") == [] and votes(stack, reply) == [] and approved_count(stack) == 0


def test_a_curators_bad_answer_vetoes_other_approvals(database_url, clock):
    with LocalStack(database_url, clock=clock, settings={"CURATOR_USER_IDS": "U0ALICE,U0BOB"}) as stack:
        reply = stack.ask("Review this product: a cordless drill")
        stack.approve(reply, user="U0ALICE")
        wait_for_approved(stack, 1)
        feedback(stack, reply, user="U0BOB", positive=False)
        wait_for_approved(stack, 0)
        assert "marked bad" in wait_for_ephemeral(stack, "U0BOB")


def test_finetune_export_sends_the_training_file_in_a_dm(stack):
    for product in ("a kettle", "a toaster"):
        stack.approve(stack.ask(f"Review this product: {product}"), user="U0BOB")
    wait_for_approved(stack, 2)
    assert command(stack, "export") == "Preparing your training file…"
    [sent] = stack.slack.wait_for(lambda: dm_files(stack, "U0ALICE"))
    lines = [json.loads(line) for line in sent["content"].decode().splitlines()]
    assert len(lines) == 2 and lines[0]["messages"][-1]["role"] == "assistant"
    assert "Review this product: a kettle" in json.dumps(lines[0])
    [shared] = [m for m in stack.slack.messages(stack.slack.dm_with("U0ALICE")) if m.get("files")]
    assert "2 example(s)" in shared["text"]
    assert "sent you the training file" in stack.slack.wait_for(
        lambda: [e for e in ephemerals_for(stack, "U0ALICE") if "sent you" in e])[0]


def test_over_socket_mode_clicks_and_the_modal_work_the_same(database_url, clock):
    with LocalStack(database_url, clock=clock, socket_mode=True) as stack:
        reply = stack.ask("Review this product: a cordless drill")
        feedback(stack, reply, user="U0ALICE")
        wait_for_approved(stack, 1)
        assert "counts as a good example" in wait_for_ephemeral(stack, "U0ALICE")
        click(stack, reply, reply_view.IMPROVE_ACTION, user="U0BOB")
        [part] = [b for b in open_modal(stack, "U0BOB")["blocks"] if b["type"] == "input"]
        submit_view(stack, {part["block_id"]: "Twenty volts of joy."}, user="U0BOB")
        stack.slack.wait_for(lambda: corrections(stack, reply))
        assert corrections(stack, reply) == [("U0BOB", "improve", "Twenty volts of joy.")]
        interactive = [d for d in stack.slack.deliveries if d.kind == "interactive"]
        assert [d.body["type"] for d in interactive] == ["block_actions", "block_actions", "view_submission"]
        assert {d.transport for d in interactive} == {"socket"}
