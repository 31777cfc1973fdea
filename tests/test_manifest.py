"""manifest.yml asks for exactly what the code listens to and calls, and nothing more.

The stand-in is granted exactly the manifest's scopes and refuses any call they do not cover
(missing_scope), while a person does everything the bot offers; every scope must have been needed.
"""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from bot.views import reply as reply_view
from bot.views.improve import SHORTCUT_ID
from sandbox.slack_stub_scopes import METHOD_SCOPES, NO_SCOPE
from sandbox.stack import LocalStack
from tests.support.slack import feedback, open_modal, shortcut, submit_view, wait_for_approved

ROOT = Path(__file__).resolve().parents[1]

EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
}


def test_the_manifest_matches_the_listeners_and_the_api_calls(tmp_path, clock, caplog):
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    subscriptions = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/finetune"]
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # feedback buttons, Improve, the modal
    assert [(s["type"], s["callback_id"]) for s in manifest["features"]["shortcuts"]] == [("message", SHORTCUT_ID)]

    with LocalStack(f"sqlite:///{tmp_path / 'bot.db'}", clock=clock) as stack:
        stack.slack.grant_scopes(scopes)
        stack.slack.set_event_subscriptions({name.split(".")[0] for name in subscriptions})
        caplog.set_level(logging.WARNING, logger="bot.bolt")
        # Everything a person does, with only the manifest's events delivered and its scopes granted:
        reply = stack.ask("Review this product: a kettle")
        stack.ask("And the lid?", thread_ts=reply["thread_ts"], mention=False)
        stack.ask("Review this product: a lamp", channel="D0ALICE", mention=False)
        stack.approve(reply)
        stack.slack.remove_reaction("U0BOB", "C0GENERAL", reply["ts"], "+1")
        feedback(stack, reply, user="U0BOB")
        stack.slack.click("U0BOB", "C0GENERAL", reply["ts"], reply_view.IMPROVE_ACTION)
        [part] = [b for b in open_modal(stack, "U0BOB")["blocks"] if b["type"] == "input"]
        submit_view(stack, {part["block_id"]: "A kettle that boils in a minute."}, user="U0BOB")
        shortcut(stack, reply, SHORTCUT_ID, user="U0ALICE")
        message = stack.slack.post_as_user("U0BOB", "C0GENERAL", "better: It sings when it boils.", thread_ts=reply["thread_ts"])
        suggestion = stack.reply_to("C0GENERAL", message["ts"])
        stack.approve(suggestion, user="U0BOB")  # bob's own: he is told (chat.postEphemeral) someone else must approve
        stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals_for("U0BOB") if e["source"] == "chat.postEphemeral"])
        stack.approve(reply, user="U0ALICE", emoji="star")  # bob's words, approved by alice: an example to export
        wait_for_approved(stack, 1)
        assert "Fine-tuning status" in stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")["ack"]["text"]
        assert ":lock:" in stack.slack.slash_command("U0BOB", "C0GENERAL", "/finetune", "run")["ack"]["text"]
        stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "export")
        stack.slack.wait_for(lambda: stack.slack.dm_files("U0ALICE"))
        delivered = {d.body["event"]["type"] for d in stack.slack.deliveries if d.kind == "events_api" and d.transport != "none"}
        calls = stack.slack.calls

    unhandled = [r for r in caplog.records if "Unhandled request" in r.getMessage()]
    assert unhandled == [], "the manifest subscribes to events no listener handles"
    assert delivered == {name.split(".")[0] for name in subscriptions}
    refused = [(c.method, c.response.get("needed")) for c in calls if c.response.get("error") == "missing_scope"]
    assert refused == [], "the code calls methods with scopes the manifest does not ask for"
    called = {c.method for c in calls}
    assert called <= set(METHOD_SCOPES) | NO_SCOPE, f"methods the stand-in has no scope for: {called - set(METHOD_SCOPES) - NO_SCOPE}"
    needed = {EVENT_SCOPES[name] for name in subscriptions} | {"commands"} | {c.scope for c in calls if c.scope}
    assert scopes == needed, f"asked for but never needed: {scopes - needed}; needed but not asked for: {needed - scopes}"
