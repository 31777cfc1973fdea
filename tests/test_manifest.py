"""manifest.yml asks for exactly what the code listens to and calls, and nothing more."""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from bot.views.improve import SHORTCUT_ID
from sandbox.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]

EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
}
METHOD_SCOPES = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "conversations.replies": {"channels:history", "groups:history", "im:history"},
    "auth.test": set(),
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
        stack.slack.set_event_subscriptions({name.split(".")[0] for name in subscriptions})
        caplog.set_level(logging.WARNING, logger="bot.bolt")
        # Everything a person does, with only the manifest's events delivered:
        reply = stack.ask("Review this product: a kettle")
        stack.ask("And the lid?", thread_ts=reply["thread_ts"], mention=False)
        stack.ask("Review this product: a lamp", channel="D0ALICE", mention=False)
        stack.approve(reply)
        stack.slack.remove_reaction("U0BOB", "C0GENERAL", reply["ts"], "+1")
        assert "Fine-tuning status" in stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")["ack"]["text"]
        delivered = {d.body["event"]["type"] for d in stack.slack.deliveries if d.kind == "events_api" and d.transport != "none"}
        called = {c.method for c in stack.slack.calls}

    unhandled = [r for r in caplog.records if "Unhandled request" in r.getMessage()]
    assert unhandled == [], "the manifest subscribes to events no listener handles"
    assert delivered == {name.split(".")[0] for name in subscriptions}
    assert called <= set(METHOD_SCOPES), f"the code calls methods the manifest was not checked for: {called - set(METHOD_SCOPES)}"
    needed = {EVENT_SCOPES[name] for name in subscriptions} | {"commands"}
    for method in called:
        needed |= METHOD_SCOPES[method]
    assert scopes == needed
