"""Time as a dependency, so schedules and job progress can be driven by tests instead of sleeps.

Production passes SystemClock; tests and the sandbox pass their own clock (sandbox.clock.ManualClock).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
