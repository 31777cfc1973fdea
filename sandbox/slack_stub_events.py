"""The Events API payloads Slack sends an app, and the event_callback envelope around them.

Shapes only: handing them to the app (HTTP or Socket Mode, retries) is slack_stub_delivery's job.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from sandbox.slack_stub_objects import IdCounter, Identity
from sandbox.slack_stub_workspace import Workspace


class SlackEvents:
    """Builds message, app_mention, reaction and edit/delete events, and their envelopes."""

    def __init__(self, identity: Identity, workspace: Workspace, ids: IdCounter) -> None:
        self.identity = identity
        self.workspace = workspace
        self.ids = ids

    def envelope(self, event: dict, *, event_id: str | None = None, team_id: str | None = None) -> dict:
        """The event_callback body Slack wraps around every event (team_id: as another install of the app gets it)."""
        me = self.identity
        team = team_id or me.team_id
        return {
            "token": me.verification_token,
            "team_id": team,
            "context_team_id": team,
            "context_enterprise_id": None,
            "api_app_id": me.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self.ids.next("Ev0"),
            "event_time": self.workspace.now(),
            "authorizations": [{
                "enterprise_id": None, "team_id": team, "user_id": me.bot_user_id,
                "is_bot": True, "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
            "event_context": event_context(event, team, me.app_id),
        }

    def message(self, channel: str, message: dict) -> dict:
        event = dict(message, channel=channel, event_ts=message["ts"])
        event["channel_type"] = self.workspace.channel_type(channel)
        return event

    def app_mention(self, channel: str, message: dict) -> dict:
        event: dict[str, Any] = {"type": "app_mention"}
        event.update((k, message[k]) for k in ("user", "ts", "client_msg_id", "text", "team", "blocks") if k in message)
        event.update(channel=channel, event_ts=message["ts"])
        if message.get("thread_ts"):
            event["thread_ts"] = message["thread_ts"]
        return event

    def reaction(self, kind: str, user: str, channel: str, message: dict, name: str) -> dict:
        """reaction_added or reaction_removed (kind) on a message."""
        event = {"type": kind, "user": user, "reaction": name, "item": {"type": "message", "channel": channel,
                                                                           "ts": message["ts"]}}
        if message.get("user"):
            event["item_user"] = message["user"]
        event["event_ts"] = self.workspace.next_ts()
        return event

    def changed(self, channel: str, previous: dict, updated: dict) -> dict:
        event_ts = self.workspace.next_ts()
        return {
            "type": "message", "subtype": "message_changed", "hidden": True, "message": updated,
            "channel": channel, "previous_message": previous, "event_ts": event_ts, "ts": event_ts,
            "channel_type": self.workspace.channel_type(channel),
        }

    def deleted(self, channel: str, ts: str, previous: dict) -> dict:
        event_ts = self.workspace.next_ts()
        return {
            "type": "message", "subtype": "message_deleted", "hidden": True, "deleted_ts": ts,
            "channel": channel, "previous_message": previous, "event_ts": event_ts, "ts": event_ts,
            "channel_type": self.workspace.channel_type(channel),
        }


def event_context(event: dict, team_id: str, app_id: str) -> str:
    """Opaque like Slack's "4-eyJ..."; apps must not parse it."""
    channel = event.get("channel") or event.get("item", {}).get("channel", "")
    raw = json.dumps({"et": event.get("type"), "tid": team_id, "aid": app_id, "cid": channel}, separators=(",", ":"))
    return "4-" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
