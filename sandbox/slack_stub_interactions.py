"""Interactivity: what Slack sends an app when a person clicks a button, uses a message shortcut or submits a modal.

Shapes follow Slack's interaction payloads (block_actions, message_action, view_submission, view_closed):
over HTTP they arrive form-encoded as one `payload=` field, signed like events; over Socket Mode as an
`interactive` envelope. Each carries a trigger_id (good for one views.open/push within 3 seconds) and,
from messages, a response_url (five posts within 30 minutes). Slack never redelivers an interaction.
"""
from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.slack_stub_delivery import EventDelivery
from sandbox.slack_stub_events import SlackEvents
from sandbox.slack_stub_objects import SlackObjects
from sandbox.slack_stub_wire import ApiError

TRIGGER_TTL = timedelta(seconds=3)  # "trigger_id ... expires in 3 seconds"
RESPONSE_URL_USES = 5  # "you can use a response_url five times within 30 minutes"
RESPONSE_URL_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class Interaction:
    """What became of one interaction: the app's HTTP status (0: no answer in time) and its ack's payload."""

    payload: dict
    status: int
    response: dict | None

    @property
    def acked(self) -> bool:
        return self.status == 200


class Triggers:
    """trigger_ids: issued per interaction (and slash command), exchanged once, within 3 s, for that person."""

    def __init__(self, objects: SlackObjects) -> None:
        self.objects = objects
        self._lock = threading.Lock()
        self._issued: dict[str, tuple[str, datetime]] = {}  # trigger_id -> (user, issued at)
        self._exchanged: set[str] = set()

    def issue(self, user: str) -> str:
        workspace = self.objects.workspace
        trigger_id = f"{workspace.now()}.{self.objects.ids.next('')}.{uuid.uuid4().hex}"
        with self._lock:
            self._issued[trigger_id] = (user, workspace.clock.now())
        return trigger_id

    def exchange(self, trigger_id: str) -> str:
        """The person a view opens for; Slack's errors for a malformed, unknown, used or stale trigger."""
        if not trigger_id or trigger_id.count(".") != 2:
            raise ApiError("invalid_trigger_id")
        with self._lock:
            issued = self._issued.get(trigger_id)
            if issued is None:
                raise ApiError("invalid_trigger_id")
            if trigger_id in self._exchanged:
                raise ApiError("exchanged_trigger_id")
            if self.objects.workspace.clock.now() - issued[1] > TRIGGER_TTL:
                raise ApiError("expired_trigger_id")
            self._exchanged.add(trigger_id)
        return issued[0]


class ActionHooks:
    """response_urls of interactions: what each post does to the conversation, five posts in 30 minutes."""

    def __init__(self, objects: SlackObjects, events: SlackEvents, delivery: EventDelivery) -> None:
        self.objects = objects
        self.workspace = objects.workspace
        self.events = events
        self.delivery = delivery
        self._lock = threading.Lock()
        self._hooks: dict[str, dict] = {}

    def open(self, base_url: str, context: dict) -> str:
        """A response_url for {channel, user, message_ts?, thread_ts?}."""
        hook = f"{self.objects.identity.team_id}/{self.objects.ids.next('')}/{uuid.uuid4().hex[:24]}"
        with self._lock:
            self._hooks[hook] = dict(context, uses=0, opened=self.workspace.clock.now())
        return f"{base_url}actions/{hook}"

    def post(self, hook: str, payload: dict) -> str | None:
        """None when done; else Slack's 404 body: no_active_hooks, used_url or expired_url."""
        with self._lock:
            context = self._hooks.get(hook.strip("/"))
            if context is None:
                return "no_active_hooks"
            if self.workspace.clock.now() - context["opened"] > RESPONSE_URL_TTL:
                return "expired_url"
            if context["uses"] >= RESPONSE_URL_USES:
                return "used_url"
            context["uses"] += 1
            context = copy.deepcopy(context)
        try:
            self._apply(context, payload)
        except ApiError as e:  # e.g. replace_original on a message that is gone
            return e.error
        return None

    def _apply(self, context: dict, payload: dict) -> None:
        channel, message_ts = context["channel"], context.get("message_ts")
        text, blocks = payload.get("text") or "", payload.get("blocks")
        bot = self.objects.identity.bot_user_id
        if message_ts and _truthy(payload.get("delete_original")):
            previous = self.workspace.delete(channel, message_ts, bot)
            self.delivery.deliver_later(self.events.envelope(self.events.deleted(channel, message_ts, previous)))
        elif message_ts and _truthy(payload.get("replace_original")):
            changes: dict[str, Any] = {"text": text}
            if blocks is not None:
                changes["blocks"] = blocks
            previous, updated = self.workspace.update(channel, message_ts, changes, bot)
            self.delivery.deliver_later(self.events.envelope(self.events.changed(channel, previous, updated)))
        elif payload.get("response_type") == "in_channel":
            message = self.objects.bot_message(text, blocks, payload.get("attachments"), None)
            stored, _ = self.workspace.post(channel, message, payload.get("thread_ts") or context.get("thread_ts"))
            self.delivery.deliver_later(self.events.envelope(self.events.message(channel, stored)))
        elif text or blocks:
            self.objects.ephemeral(channel, context["user"], text, blocks, "response_url",
                                   payload.get("thread_ts") or context.get("thread_ts"))


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


class InteractionPayloads:
    """The JSON bodies Slack builds for interactions, for the one team and app the stand-in plays."""

    def __init__(self, objects: SlackObjects) -> None:
        self.objects = objects
        self.identity = objects.identity

    def person(self, user: dict, team_id: str | None = None) -> dict:
        return {"id": user["id"], "username": user["name"], "name": user["name"],
                "team_id": team_id or self.identity.team_id}

    def team(self, team_id: str | None = None) -> dict:
        return {"id": team_id or self.identity.team_id, "domain": self.identity.team_domain}

    def channel(self, channel_id: str) -> dict:
        info = self.objects.workspace.channel(channel_id) or {}
        if info.get("is_im"):
            name = "directmessage"
        else:
            name = "privategroup" if info.get("is_private") else info.get("name", "")
        return {"id": channel_id, "name": name}

    def block_actions(self, user: dict, channel: str, message: dict, action: dict, *, trigger_id: str,
                      response_url: str, team_id: str | None = None) -> dict:
        container: dict[str, Any] = {"type": "message", "message_ts": message["ts"], "channel_id": channel,
                                     "is_ephemeral": False}
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        me = self.identity
        return {
            "type": "block_actions", "user": self.person(user, team_id), "api_app_id": me.app_id,
            "token": me.verification_token, "container": container, "trigger_id": trigger_id,
            "team": self.team(team_id), "enterprise": None, "is_enterprise_install": False,
            "channel": self.channel(channel), "message": with_block_ids(message), "state": {"values": {}},
            "response_url": response_url, "actions": [action],
        }

    def message_action(self, user: dict, channel: str, message: dict, callback_id: str, *, trigger_id: str,
                       response_url: str, team_id: str | None = None) -> dict:
        me = self.identity
        return {
            "type": "message_action", "token": me.verification_token, "action_ts": self.objects.workspace.next_ts(),
            "team": self.team(team_id), "user": self.person(user, team_id), "channel": self.channel(channel),
            "is_enterprise_install": False, "enterprise": None, "callback_id": callback_id,
            "trigger_id": trigger_id, "response_url": response_url, "message_ts": message["ts"],
            "message": with_block_ids(message),
        }

    def view_submission(self, user: dict, view: dict, *, trigger_id: str) -> dict:
        me = self.identity
        return {
            "type": "view_submission", "team": self.team(), "user": self.person(user), "api_app_id": me.app_id,
            "token": me.verification_token, "trigger_id": trigger_id, "view": view, "response_urls": [],
            "is_enterprise_install": False, "enterprise": None,
        }

    def view_closed(self, user: dict, view: dict) -> dict:
        me = self.identity
        return {
            "type": "view_closed", "team": self.team(), "user": self.person(user), "api_app_id": me.app_id,
            "token": me.verification_token, "view": view, "is_cleared": False, "is_enterprise_install": False,
            "enterprise": None,
        }


def with_block_ids(message: dict) -> dict:
    """Slack gives every block a block_id; the stand-in makes one up (stable per message) where the app gave none."""
    copied = copy.deepcopy(message)
    for index, block in enumerate(copied.get("blocks") or []):
        if isinstance(block, dict) and not block.get("block_id"):
            block["block_id"] = generated_block_id(message.get("ts", ""), index)
    return copied


def generated_block_id(ts: str, index: int) -> str:
    return hashlib.sha1(f"{ts}/{index}".encode()).hexdigest()[:5]


def find_action(message: dict, action_id: str | None, value: str | None, *, kind: str | None = None) -> tuple[dict, dict]:
    """(block, action) for the button or feedback button a person can click; ValueError when the message shows none.

    A feedback_buttons element is one element with two buttons: `value` picks which one. `kind` limits the
    search to one element type; with it, action_id may be None (the first such element).
    """
    for block in with_block_ids(message).get("blocks") or []:
        for element in block.get("elements") or ([block["accessory"]] if block.get("accessory") else []):
            if not isinstance(element, dict) or (kind and element.get("type") != kind):
                continue
            if action_id is not None and element.get("action_id") != action_id:
                continue
            if element.get("type") == "feedback_buttons":
                for side in ("positive_button", "negative_button"):
                    button = element.get(side) or {}
                    if value is None or button.get("value") == value:
                        return block, {"type": "feedback_buttons", "action_id": element.get("action_id"),
                                       "block_id": block["block_id"], "text": button.get("text"),
                                       "value": button.get("value")}
            elif element.get("type") == "button" and (value is None or element.get("value") == value):
                return block, {"type": "button", "action_id": element.get("action_id"), "block_id": block["block_id"],
                               "text": element.get("text"), "value": element.get("value")}
    raise ValueError(f"the message {message.get('ts')} shows no clickable {kind or 'element'} {action_id or ''!s}"
                     + (f" with value {value!r}" if value is not None else ""))
