"""Fires the bot's scheduled runs on a clock the caller moves, instead of APScheduler's wall-clock thread.

Tests and the scripted demo use it; the production scheduler is never started beside it. Missed runs
coalesce into one, as APScheduler does with coalesce=True.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from finetune.clock import Clock
from finetune.scheduler import FinetuneScheduler


class ManualSchedule:
    def __init__(self, scheduler: FinetuneScheduler, clock: Clock) -> None:
        self.scheduler = scheduler
        self.clock = clock
        now = clock.now()
        self._next: dict[str, datetime | None] = {
            run.id: run.trigger.get_next_fire_time(None, now) for run in scheduler.runs
        }

    def next_run_at(self, run_id: str) -> datetime | None:
        return self._next[run_id]

    def run_pending(self, now: datetime | None = None) -> list[str]:
        """Fires every run due at `now` once, soonest first; returns their ids."""
        now = now or self.clock.now()
        due = sorted(
            (run for run in self.scheduler.runs if (at := self._next[run.id]) is not None and at <= now),
            key=lambda run: self._next[run.id],  # type: ignore[arg-type, return-value]
        )
        for run in due:
            run.run()
            self._next[run.id] = run.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
        return [run.id for run in due]
