"""Slash commands: invoking one, its ack, and the response_url the app answers through later.

What a command's answers become is Slack's rule: ephemeral (only the person who typed it sees it)
unless response_type is in_channel, which posts a real message and sends the app its message event.
The ack is the command's immediate answer, so it is stamped when the command is sent: it sorts before
anything the app posts through the response_url while Slack still waits for the ack (respond() often
races the ack's HTTP response), as Slack shows the ack first.
"""
from __future__ import annotations

import copy
import threading
import uuid

from sandbox.slack_stub_delivery import EventDelivery
from sandbox.slack_stub_events import SlackEvents
from sandbox.slack_stub_interactions import Triggers
from sandbox.slack_stub_objects import SlackObjects


class SlashCommands:
    """Open response_urls (hook -> who typed what, where) and where each answer goes."""

    def __init__(self, objects: SlackObjects, events: SlackEvents, delivery: EventDelivery, triggers: Triggers) -> None:
        self.objects = objects
        self.triggers = triggers
        self.workspace = objects.workspace
        self.events = events
        self.delivery = delivery
        self._lock = threading.Lock()
        self._hooks: dict[str, dict] = {}  # response_url id -> who/where

    def invoke(self, user: dict, channel: str, command: str, text: str, base_url: str, *,
               team_id: str | None = None) -> dict:
        """Send the command to the app and show its ack; {"status", "ack", "response_url"}."""
        form = self.form(user, channel, command, text, base_url, team_id=team_id)
        response_url = form["response_url"]
        ack_ts = self.workspace.next_ts()
        status, ack = self.delivery.deliver_command(form)
        if ack:
            self.record({"channel": channel, "user": user["id"]}, ack, source="ack", ts=ack_ts)
        return {"status": status, "ack": ack, "response_url": response_url}

    def form(self, user: dict, channel: str, command: str, text: str, base_url: str, *,
             team_id: str | None = None) -> dict:
        """The form Slack sends for the command, its response_url open and its trigger_id issued; not sent."""
        info = self.workspace.channel(channel) or {}
        hook = f"{self.objects.identity.team_id}/{self.objects.ids.next('')}/{uuid.uuid4().hex[:24]}"
        with self._lock:
            self._hooks[hook] = {"channel": channel, "user": user["id"], "command": command}
        return self.objects.command_form(user, info, command, text, f"{base_url}commands/{hook}",
                                         trigger_id=self.triggers.issue(user["id"]), team_id=team_id)

    def post_response_url(self, hook: str, payload: dict) -> bool:
        """A response_url POST (hook = the path after /commands/); False when no such hook is open."""
        with self._lock:
            context = self._hooks.get(hook.strip("/"))
        if context is None:
            return False
        self.record(context, payload, source="response_url")
        return True

    def record(self, context: dict, payload: dict, *, source: str, ts: str | None = None) -> None:
        """Show an ack or response_url payload; `ts` is the one taken for it beforehand, if any."""
        text, blocks = payload.get("text") or "", payload.get("blocks")
        if payload.get("response_type") == "in_channel":
            message = self.objects.bot_message(text, blocks, payload.get("attachments"), None, ts=ts)
            stored, _ = self.workspace.post(context["channel"], message, payload.get("thread_ts"))
            self.delivery.deliver_later(self.events.envelope(self.events.message(context["channel"], stored)))
        elif text or blocks:
            self.objects.ephemeral(context["channel"], context["user"], text, blocks, source, payload.get("thread_ts"),
                                   ts=ts)

    # ------------------------------------------------------------- saved state

    def snapshot(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._hooks)

    def restore(self, hooks: dict) -> None:
        with self._lock:
            self._hooks = hooks
