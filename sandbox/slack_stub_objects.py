"""What Slack's objects look like: users, channels, DMs, messages, slash-command forms, id counters.

Built in one place so every path (Web API method, user action, response_url) hands the app the same
shapes, with the fields slack_sdk and Bolt read, for the one team, bot and app the stand-in plays.
"""
from __future__ import annotations

import base64
import hashlib
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sandbox.slack_stub_workspace import Workspace


@dataclass(frozen=True)
class Identity:
    """The one team, bot user and app the stand-in plays."""

    team_id: str
    team_name: str
    team_domain: str
    bot_user_id: str
    bot_id: str
    app_id: str
    bot_name: str
    verification_token: str


class IdCounter:
    """Event ids, response_url hooks and trigger ids share one counter, saved with the workspace.

    A restarted stub must not hand out Ev00000001 again: the bot remembers event_ids it has handled.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def next(self, prefix: str) -> str:
        with self._lock:
            self._value += 1
            return f"{prefix}{self._value:08d}" if prefix else str(self._value)

    @property
    def value(self) -> int:
        with self._lock:
            return self._value

    def at_least(self, value: int) -> None:
        """Never go back below a restored counter."""
        with self._lock:
            self._value = max(self._value, value)


def team_domain(team_name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", team_name.lower()) or "sandbox"


class SlackObjects:
    """Builds users, conversations and messages for one Identity, stamped by the workspace's clock."""

    def __init__(self, identity: Identity, workspace: Workspace, ids: IdCounter) -> None:
        self.identity = identity
        self.workspace = workspace
        self.ids = ids

    def user(self, user_id: str, name: str, real_name: str | None, is_bot: bool, *, is_admin: bool = False,
             is_owner: bool = False, is_primary_owner: bool = False) -> dict:
        """A member; owners are admins too, as in Slack (the primary owner is an owner)."""
        is_owner = is_owner or is_primary_owner
        is_admin = is_admin or is_owner
        me = self.identity
        real = real_name or name
        profile: dict[str, Any] = {
            "real_name": real, "display_name": name, "real_name_normalized": real, "display_name_normalized": name,
            "status_text": "", "status_emoji": "", "team": me.team_id,
            "image_48": f"https://avatars.slack-edge.invalid/{user_id}_48.png",
        }
        if is_bot:
            profile.update({"bot_id": me.bot_id, "api_app_id": me.app_id, "always_active": True})
        return {
            "id": user_id, "team_id": me.team_id, "name": name, "deleted": False, "color": "9f69e7",
            "real_name": real, "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0,
            "profile": profile, "is_admin": is_admin, "is_owner": is_owner, "is_primary_owner": is_primary_owner,
            "is_restricted": False, "is_ultra_restricted": False, "is_bot": is_bot, "is_app_user": False,
            "updated": self.workspace.now(),
        }

    def channel(self, channel_id: str, name: str, is_private: bool) -> dict:
        now = self.workspace.now()
        return {
            "id": channel_id, "name": name, "is_channel": not is_private, "is_group": is_private, "is_im": False,
            "is_mpim": False, "is_private": is_private, "created": now, "is_archived": False,
            "is_general": name == "general", "unlinked": 0, "name_normalized": name, "is_shared": False,
            "is_org_shared": False, "is_pending_ext_shared": False, "is_ext_shared": False, "is_member": True,
            "creator": self.identity.bot_user_id, "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": [],
        }

    def im(self, channel_id: str, user: str) -> dict:
        return {
            "id": channel_id, "created": self.workspace.now(), "is_im": True, "is_org_shared": False, "user": user,
            "is_user_deleted": False, "priority": 0, "is_channel": False, "is_group": False, "is_mpim": False,
            "is_private": True, "is_archived": False,
        }

    def bot_message(self, text: str, blocks: Any, attachments: Any, metadata: Any, *, ts: str | None = None) -> dict:
        me = self.identity
        message: dict[str, Any] = {
            "user": me.bot_user_id, "type": "message", "ts": ts or self.workspace.next_ts(), "bot_id": me.bot_id,
            "app_id": me.app_id, "text": text, "team": me.team_id,
            "bot_profile": {
                "id": me.bot_id, "deleted": False, "name": me.bot_name, "updated": self.workspace.now(),
                "app_id": me.app_id, "icons": {"image_48": "https://avatars.slack-edge.invalid/bot_48.png"},
                "team_id": me.team_id,
            },
        }
        for key, value in (("blocks", blocks), ("attachments", attachments), ("metadata", metadata)):
            if value:
                message[key] = value
        return message

    def user_message(self, user: str, text: str) -> dict:
        """A message typed in a Slack client: a client_msg_id and the rich_text block clients attach."""
        ts = self.workspace.next_ts()
        return {
            "user": user, "type": "message", "ts": ts, "client_msg_id": str(uuid.uuid4()), "text": text,
            "team": self.identity.team_id, "blocks": rich_text_blocks(text, ts),
        }

    def ephemeral(self, channel: str, user: str, text: str, blocks: Any, source: str, thread_ts: Any,
                  *, ts: str | None = None) -> dict:
        """Stores it too: an ephemeral is only ever made to be shown."""
        return self.workspace.add_ephemeral({
            "channel": channel, "user": user, "text": text, "blocks": blocks, "ts": ts or self.workspace.next_ts(),
            "thread_ts": thread_ts or None, "source": source,
        })

    def command_form(self, user: dict, channel: dict, command: str, text: str, response_url: str, *,
                     trigger_id: str | None = None, team_id: str | None = None) -> dict:
        """The form Slack POSTs for a slash command (or wraps in a slash_commands envelope)."""
        me = self.identity
        if channel.get("is_im"):
            channel_name = "directmessage"
        else:
            channel_name = "privategroup" if channel.get("is_private") else channel["name"]
        return {
            "token": me.verification_token, "team_id": team_id or me.team_id, "team_domain": me.team_domain,
            "channel_id": channel["id"], "channel_name": channel_name, "user_id": user["id"],
            "user_name": user["name"], "command": command, "text": text, "api_app_id": me.app_id,
            "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": trigger_id or f"{self.workspace.now()}.{self.ids.next('')}.{uuid.uuid4().hex}",
        }


def rich_text_blocks(text: str, ts: str) -> list[dict]:
    """The rich_text block Slack clients attach to typed messages; mentions become user elements."""
    elements: list[dict] = []
    for part in re.split(r"(<@[UW][A-Z0-9]+>)", text):
        mention = re.fullmatch(r"<@([UW][A-Z0-9]+)>", part)
        if mention:
            elements.append({"type": "user", "user_id": mention.group(1)})
        elif part:
            elements.append({"type": "text", "text": part})
    block_id = base64.b64encode(hashlib.sha1(ts.encode()).digest()).decode()[:5]
    return [{"type": "rich_text", "block_id": block_id,
             "elements": [{"type": "rich_text_section", "elements": elements}]}]
