"""Only the right people steer fine-tuning, only the installed workspace is served, and nobody approves their own words alone.

In the stand-in's workspace alice is the primary owner (an admin) and bob an ordinary member.
"""
from __future__ import annotations

import json

from bot.views import reply as reply_view
from bot.views.improve import SHORTCUT_ID
from sandbox.stack import LocalStack
from tests.support.products import PRODUCTS
from tests.support.slack import (
    approved_count,
    command,
    ephemerals_for,
    feedback,
    open_modal,
    shortcut,
    submit_view,
    wait_for_approved,
    wait_for_ephemeral,
)

OTHER_TEAM = "T0ELSEWHERE"


def approve_ten(stack: LocalStack) -> None:
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"), user="U0BOB")
    wait_for_approved(stack, 10)


def test_a_member_who_is_no_admin_is_told_in_one_line_who_may_run_cancel_and_export(stack):
    approve_ten(stack)
    for sub in ("run", "cancel", "export"):
        refused = command(stack, sub, user="U0BOB")
        assert refused.startswith(":lock:") and "\n" not in refused
        assert f"`/finetune {sub}`" in refused and "admins and owners" in refused
    assert stack.openai.jobs() == [] and stack.slack.dm_files("U0BOB") == []
    assert "Fine-tuning status" in command(stack, "status", user="U0BOB")  # status stays open to everyone
    assert stack.slack.calls_to("conversations.open") == []
    assert "submitted" in _followup(stack, "run", user="U0ALICE")  # the workspace's owner may


def test_finetune_admins_names_who_steers_instead_of_the_workspace_admins(database_url, clock):
    with LocalStack(database_url, clock=clock, settings={"FINETUNE_ADMINS": "U0BOB"}) as stack:
        approve_ten(stack)
        refused = command(stack, "run", user="U0ALICE")  # the owner, but not named
        assert "<@U0BOB>" in refused and "FINETUNE_ADMINS" in refused and stack.openai.jobs() == []
        assert "submitted" in _followup(stack, "run", user="U0BOB")
        assert stack.slack.calls_to("users.info") == []  # nobody had to be looked up


def test_the_workspaces_admins_are_looked_up_once_and_remembered(stack):
    command(stack, "cancel", user="U0BOB")
    command(stack, "cancel", user="U0BOB")
    command(stack, "cancel", user="U0ALICE")
    assert [c.args["user"] for c in stack.slack.calls_to("users.info")] == ["U0BOB", "U0ALICE"]
    stack.clock.advance(11 * 60)  # remembered for ten minutes: a demotion takes effect
    command(stack, "cancel", user="U0BOB")
    assert len(stack.slack.calls_to("users.info")) == 3


def test_when_slack_cannot_say_who_is_an_admin_the_command_is_refused_with_why(stack):
    stack.slack.fail_next("users.info", "internal_error", status=500)
    answer = command(stack, "run", user="U0ALICE")
    assert "couldn't check with Slack" in answer and "\n" not in answer and stack.openai.jobs() == []
    assert "No new approved examples" in _followup(stack, "run", user="U0ALICE")  # asked again next time


def test_requests_and_events_from_another_workspace_are_acknowledged_and_ignored(stack):
    approve_ten(stack)
    answer = stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "run", team_id=OTHER_TEAM)
    assert answer["status"] == 200 and answer["ack"] is None  # acknowledged, so Slack shows no error, and no more

    foreign = stack.slack.post_as_user("U0ALICE", "C0GENERAL", "a message")
    mention = {"type": "app_mention", "user": "U0ALICE", "text": f"<@{stack.slack.bot_user_id}> Review this: a kite",
               "ts": foreign["ts"], "channel": "C0GENERAL", "event_ts": foreign["ts"]}
    assert stack.slack.send_event(mention, team_id=OTHER_TEAM) == 200  # acknowledged: Slack does not redeliver it
    reply = stack.ask("Review this product: a scarf")  # the installed team's mention, sent after, is answered

    assert stack.slack.feedback("U0BOB", "C0GENERAL", reply["ts"], team_id=OTHER_TEAM).status == 200
    feedback(stack, reply, user="U0ALICE")
    wait_for_ephemeral(stack, "U0ALICE")  # the installed team's click, sent after, is counted and answered

    assert stack.openai.jobs() == [] and stack.slack.calls_to("users.info") == []
    assert stack.slack.thread("C0GENERAL", foreign["ts"]) == [stack.slack.message("C0GENERAL", foreign["ts"])]
    assert ephemerals_for(stack, "U0BOB") == [] and approved_count(stack) == 11


def test_a_better_answer_needs_someone_elses_approval(stack):
    reply = stack.ask("Review this product: a cordless drill")
    message = stack.slack.post_as_user("U0BOB", "C0GENERAL", "better: A BEAST of a drill!", thread_ts=reply["thread_ts"])
    suggestion = stack.reply_to("C0GENERAL", message["ts"])
    stack.approve(suggestion, user="U0BOB")
    assert "someone else has to approve it" in wait_for_ephemeral(stack, "U0BOB")
    feedback(stack, suggestion, user="U0BOB")
    assert "someone else has to approve it" in wait_for_ephemeral(stack, "U0BOB", after=1)
    assert approved_count(stack) == 0
    stack.approve(suggestion, user="U0ALICE")
    wait_for_approved(stack, 1)


def test_an_approval_does_not_carry_over_to_words_written_after_it(stack):
    reply = stack.ask("Review this product: a cordless drill")
    feedback(stack, reply, user="U0ALICE")
    wait_for_approved(stack, 1)
    stack.clock.advance(60)
    message = stack.slack.post_as_user("U0BOB", "C0GENERAL", "better: Buy two!", thread_ts=reply["thread_ts"])
    stack.reply_to("C0GENERAL", message["ts"])
    assert approved_count(stack) == 0  # alice approved the model's words, not bob's
    stack.clock.advance(60)
    feedback(stack, reply, user="U0ALICE")  # the same button, on the answer as it now stands
    wait_for_approved(stack, 1)


def test_an_improved_answer_needs_someone_elses_approval(stack):
    reply = stack.ask("Review this product: a cordless drill")
    shortcut(stack, reply, SHORTCUT_ID, user="U0BOB")
    [part] = [b for b in open_modal(stack, "U0BOB")["blocks"] if b["type"] == "input"]
    submit_view(stack, {part["block_id"]: "A BEAST of a drill!"}, user="U0BOB")
    note = stack.slack.wait_for(lambda: [m["text"] for m in stack.slack.thread("C0GENERAL", reply["thread_ts"])
                                         if "improved this answer" in m.get("text", "")])
    assert "once someone else approves it" in note[0]
    assert approved_count(stack) == 0  # saving counts as bob's approval, and bob wrote it
    feedback(stack, reply, user="U0ALICE")
    wait_for_approved(stack, 1)


def test_allow_self_approval_lets_a_team_of_one_approve_its_own_answers(database_url, clock):
    with LocalStack(database_url, clock=clock, settings={"ALLOW_SELF_APPROVAL": "true"}) as stack:
        reply = stack.ask("Review this product: a cordless drill")
        message = stack.slack.post_as_user("U0BOB", "C0GENERAL", "better: A BEAST!", thread_ts=reply["thread_ts"])
        stack.approve(stack.reply_to("C0GENERAL", message["ts"]), user="U0BOB")
        wait_for_approved(stack, 1)
        assert ephemerals_for(stack, "U0BOB") == []


def test_approving_the_models_answer_to_your_own_question_counts(stack):
    reply = stack.ask("Review this product: a cordless drill", user="U0ALICE")
    feedback(stack, reply, user="U0ALICE")
    wait_for_approved(stack, 1)
    assert "counts as a good example" in wait_for_ephemeral(stack, "U0ALICE")


def test_a_suggestion_carrying_a_link_is_flagged_to_whoever_approves_it(stack):
    reply = stack.ask("Review this product: a cordless drill")
    text = "better: Great drill, buy it at <https://drills.example/deal?ref=bob|drills.example>!"
    message = stack.slack.post_as_user("U0BOB", "C0GENERAL", text, thread_ts=reply["thread_ts"])
    suggestion = stack.reply_to("C0GENERAL", message["ts"])
    assert "carries a link" in json.dumps(suggestion["blocks"])
    feedback(stack, suggestion, user="U0ALICE")
    told = wait_for_ephemeral(stack, "U0ALICE")
    assert "counts as a good example" in told and "`https://drills.example/deal?ref=bob`" in told
    stack.approve(suggestion, user="U0ALICE", emoji="star")  # a reaction is flagged the same way
    assert "carries a link" in wait_for_ephemeral(stack, "U0ALICE", after=1)
    plain = stack.ask("Review this product: a hammer")
    feedback(stack, plain, user="U0ALICE")
    assert "carries a link" not in wait_for_ephemeral(stack, "U0ALICE", after=2)


def _followup(stack: LocalStack, text: str, *, user: str) -> str:
    """What a /finetune command posts through its response_url once the work is done."""
    before = len(ephemerals_for(stack, user))
    stack.slack.slash_command(user, "C0GENERAL", "/finetune", text)
    later = stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals_for(user)[before:] if e["source"] != "ack"])
    return later[-1]["text"]


def test_improve_is_offered_to_everyone_who_counts_but_the_button_click_from_elsewhere_is_ignored(stack):
    reply = stack.ask("Review this product: a cordless drill")
    stack.slack.click("U0BOB", "C0GENERAL", reply["ts"], reply_view.IMPROVE_ACTION, team_id=OTHER_TEAM)
    assert stack.slack.open_views("U0BOB") == []
    stack.slack.click("U0BOB", "C0GENERAL", reply["ts"], reply_view.IMPROVE_ACTION)
    assert open_modal(stack, "U0BOB")["callback_id"] == "improve_reply"
