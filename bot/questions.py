"""A message someone sent the bot, as plain values, and how to read it: a question or a better answer."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.inbound import bad_timestamps

log = logging.getLogger("bot.questions")

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SUGGESTION = re.compile(r"^better(?: answer)?\s*[:\-\u2013]\s*(?P<text>.+)$", re.IGNORECASE | re.DOTALL)


def strip_mentions(text: str) -> str:
    """Drops <@U…> mentions; keeps the person's line breaks (they matter in a suggested answer)."""
    return re.sub(r"[ \t]+", " ", MENTION.sub(" ", text or "")).strip()


def suggested_text(text: str) -> str | None:
    """The answer in 'better: …', or None when the message is not a suggestion."""
    match = SUGGESTION.match(strip_mentions(text))
    return match.group("text").strip() if match else None


@dataclass(frozen=True)
class Question:
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: str | None
    team_id: str | None

    @classmethod
    def of(cls, event: dict[str, Any], team_id: str | None) -> Question:
        return cls(
            channel=event["channel"],
            user=event.get("user", ""),
            text=event.get("text", ""),
            ts=event["ts"],
            thread_ts=event.get("thread_ts"),
            team_id=event.get("team") or team_id,
        )

    @classmethod
    def read(cls, event: dict[str, Any], team_id: str | None) -> Question | None:
        """The question in a message event, or None (and one log line) when its ids or timestamps are not
        Slack's: such an event is refused on the way in, before anything is stored."""
        if not isinstance(event.get("channel"), str) or not isinstance(event.get("text", ""), str):
            log.warning("refused a %s event without a channel or text", event.get("type"))
            return None
        if bad := bad_timestamps(ts=event.get("ts") or "", thread_ts=event.get("thread_ts")):
            log.warning("refused a %s event: not a Slack timestamp (%s)", event.get("type"), bad)
            return None
        return cls.of(event, team_id)

    @property
    def root(self) -> str:
        """The thread the answer goes in: the question's own thread, or a new one under it."""
        return self.thread_ts or self.ts

    @property
    def suggestion(self) -> str | None:
        """'better: …' in a thread is a person's better answer to the bot's last one."""
        return suggested_text(self.text) if self.thread_ts else None
