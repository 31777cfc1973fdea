"""When the pipeline runs: a cron schedule for new jobs and an interval for polling jobs in flight.

In production APScheduler's own thread fires the jobs on the wall clock. Under a test or the sandbox's
scripted demo the same jobs and triggers are driven by `run_pending(now)` with a clock the caller controls.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from finetune.clock import Clock
from finetune.pipeline import Pipeline

log = logging.getLogger("finetune.scheduler")

TICK_JOB = "finetune-tick"
POLL_JOB = "finetune-poll"


def parse_cron(expression: str) -> CronTrigger:
    """A standard 5-field crontab line, evaluated in UTC; raises ValueError with APScheduler's reason."""
    return CronTrigger.from_crontab(expression, timezone=timezone.utc)


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
        self._manual = False
        self._scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        self._scheduler.add_job(self.run_tick, parse_cron(cron), id=TICK_JOB, name="start a fine-tuning job")
        self._scheduler.add_job(
            self.run_poll,
            IntervalTrigger(seconds=poll_seconds, start_date=clock.now(), timezone=timezone.utc),
            id=POLL_JOB,
            name="poll fine-tuning jobs",
        )

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, *, manual: bool = False) -> None:
        """manual=True: nothing fires by itself; `run_pending` fires what the given clock says is due."""
        self._manual = manual
        self._scheduler.start(paused=manual)
        if manual:
            now = self.clock.now()
            for job in self._scheduler.get_jobs():
                job.modify(next_run_time=job.trigger.get_next_fire_time(None, now))

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    # --- what runs ------------------------------------------------------------------------------

    def run_tick(self) -> None:
        self._guarded("tick", lambda: self.pipeline.tick(trigger="schedule"))

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

    # --- reading and driving ----------------------------------------------------------------------

    def next_tick_at(self) -> datetime | None:
        job = self._scheduler.get_job(TICK_JOB)
        if job is None:
            return None
        scheduled = getattr(job, "next_run_time", None)  # absent until the scheduler has started
        if scheduled is not None:
            return scheduled
        return job.trigger.get_next_fire_time(None, self.clock.now())

    def run_pending(self, now: datetime | None = None) -> list[str]:
        """Fires every job due at `now` once (missed runs coalesce, as in production); returns their ids."""
        if not self._manual:
            raise RuntimeError("run_pending drives a scheduler started with manual=True")
        now = now or self.clock.now()
        fired: list[str] = []
        for job in sorted(self._scheduler.get_jobs(), key=lambda j: j.next_run_time):
            if job.next_run_time is None or job.next_run_time > now:
                continue
            job.func()
            fired.append(job.id)
            job.modify(next_run_time=job.trigger.get_next_fire_time(None, now + timedelta(microseconds=1)))
        return fired
