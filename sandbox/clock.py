"""A clock that only moves when told to: shared by the bot and the stand-ins in tests and the scripted demo."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def sleep(self, seconds: float) -> None:
        """A wait the bot asks for (a Slack retry) passes at once: the clock moves on, and the wait is noted."""
        with self._lock:
            self.slept.append(seconds)
            self._now += timedelta(seconds=seconds)
