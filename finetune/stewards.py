"""Who may steer fine-tuning (start a job, cancel one, take the training data away): its stewards.

Slack-free: FINETUNE_ADMINS names them; when it is empty, the workspace decides, through a lookup the
caller supplies (the bot asks Slack's users.info whether a person is an admin or owner). Answers are
remembered for a while, so a burst of commands asks once, and a demotion still takes effect.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from finetune.clock import Clock

LOOKUP_TTL = timedelta(minutes=10)


class Control(StrEnum):
    """What only stewards may do. Status and help stay open to everyone."""

    RUN = "run"
    CANCEL = "cancel"
    EXPORT = "export"  # the training file holds every approved conversation, DMs included


class LookupFailed(Exception):
    """The workspace could not say whether a person is an admin or owner: refuse, and say so."""


class Stewards:
    """FINETUNE_ADMINS when set, else the workspace's admins and owners (looked up, remembered for LOOKUP_TTL)."""

    def __init__(self, admins: frozenset[str], clock: Clock, is_workspace_admin: Callable[[str], bool],
                 ttl: timedelta = LOOKUP_TTL) -> None:
        self.admins = admins
        self.clock = clock
        self._lookup = is_workspace_admin
        self._ttl = ttl
        self._lock = threading.Lock()
        self._known: dict[str, tuple[bool, datetime]] = {}  # user -> (admin or owner, until)

    @property
    def named(self) -> bool:
        """True when FINETUNE_ADMINS names the stewards; False when the workspace's admins and owners are."""
        return bool(self.admins)

    def may_steer(self, user: str) -> bool:
        """Raises LookupFailed when the workspace must be asked and cannot answer; failures are not remembered."""
        if self.admins:
            return user in self.admins
        now = self.clock.now()
        with self._lock:
            known = self._known.get(user)
        if known is not None and known[1] > now:
            return known[0]
        try:
            allowed = bool(self._lookup(user))
        except Exception as exc:
            raise LookupFailed(str(exc) or type(exc).__name__) from exc
        with self._lock:
            self._known[user] = (allowed, now + self._ttl)
        return allowed
