"""The one workspace the bot serves: its team id (from auth.test at start-up), and who administers it.

The bot is a single-workspace app: a request or event carrying another team's id (another install of
the same app, a forged or misrouted payload) is acknowledged and ignored. When FINETUNE_ADMINS is
empty, the workspace's admins and owners steer fine-tuning; users.info says who they are.
"""
from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient

log = logging.getLogger("bot.workspace")


class InstalledTeam:
    """The installed workspace's team id: learned from auth.test at start-up (or on first use), then kept."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._team_id: str | None = None

    def learn(self) -> dict:
        """Asks Slack whom the token belongs to; returns auth.test's answer (team, user, team_id…)."""
        identity = self._client.auth_test()
        with self._lock:
            self._team_id = identity.get("team_id")
        return identity.data if isinstance(identity.data, dict) else {}

    @property
    def team_id(self) -> str | None:
        with self._lock:
            known = self._team_id
        if known is None:
            self.learn()
            with self._lock:
                known = self._team_id
        return known


def is_admin_or_owner(client: WebClient, user: str) -> bool:
    """users.info: a workspace admin or owner (the primary owner included); deleted users and bots never are."""
    found = client.users_info(user=user)["user"]
    if found.get("deleted") or found.get("is_bot"):
        return False
    return bool(found.get("is_admin") or found.get("is_owner") or found.get("is_primary_owner"))
