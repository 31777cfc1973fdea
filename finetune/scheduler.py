"""When the pipeline runs: a cron schedule for new jobs and an interval for polling jobs in flight.

APScheduler's own thread fires the runs on the wall clock. The runs and their triggers are public
(`runs`), so a test or the sandbox's scripted demo can fire them on a clock of its own
(sandbox.schedule.ManualSchedule) without this class knowing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from finetune.clock import Clock
from finetune.cron import parse_cron
from finetune.pipeline import Pipeline
from storage.enums import Trigger

log = logging.getLogger("finetune.scheduler")

TICK_JOB = "finetune-tick"
POLL_JOB = "finetune-poll"


@dataclass(frozen=True)
class ScheduledRun:
    id: str
    name: str
    trigger: BaseTrigger
    run: Callable[[], None]


class FinetuneScheduler:
    def __init__(
        self,
        pipeline: Pipeline,
        *,
        cron: str,
        poll_seconds: float,
        clock: Clock,
        after_run: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.after_run = list(after_run)
        self.runs = (
            ScheduledRun(TICK_JOB, "start a fine-tuning job", parse_cron(cron), self.run_tick),
            ScheduledRun(
                POLL_JOB,
                "poll fine-tuning jobs",
                IntervalTrigger(seconds=poll_seconds, start_date=clock.now(), timezone=UTC),
                self.run_poll,
            ),
        )
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        for scheduled in self.runs:
            self._scheduler.add_job(scheduled.run, scheduled.trigger, id=scheduled.id, name=scheduled.name)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    # --- what runs ------------------------------------------------------------------------------

    def run_tick(self) -> None:
        self._guarded("tick", lambda: self.pipeline.tick(trigger=Trigger.SCHEDULE))

    def run_poll(self) -> None:
        self._guarded("poll", self.pipeline.poll)

    def _guarded(self, name: str, work: Callable[[], object]) -> None:
        """A failing run is logged and the schedule carries on; the next run tries again."""
        try:
            work()
        except Exception:
            log.exception("scheduled %s failed", name)
        for callback in self.after_run:
            try:
                callback()
            except Exception:
                log.exception("after-run hook %s failed", getattr(callback, "__name__", callback))

    # --- reading --------------------------------------------------------------------------------

    def next_tick_at(self) -> datetime | None:
        job = self._scheduler.get_job(TICK_JOB)
        scheduled = getattr(job, "next_run_time", None)  # absent until the scheduler has started
        if scheduled is not None:
            return scheduled
        return self.runs[0].trigger.get_next_fire_time(None, self.clock.now())
