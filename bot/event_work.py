"""Work that Slack events ask for, done after the ack: on a bounded pool, each event id once.

Bolt acknowledges an event before its listener runs; the listener only hands the work over here and
returns, so Bolt's own threads stay free to acknowledge commands and events within Slack's 3 seconds.
When the pool and its queue are full, the event is refused visibly (the caller's `refuse`, run on a
thread of its own) instead of waiting, and Slack's redelivery of an event already taken is dropped here,
behind the ack, rather than in a middleware in front of it.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from finetune.clock import Clock
from storage import queries
from storage.db import Database

log = logging.getLogger("bot.event_work")

EVENT_IDS_KEPT = timedelta(days=2)  # Slack redelivers within minutes; keep ids well past that


REPLY_NICENESS = 10  # added to the reply threads' nice value: on a busy CPU, acks get it first


def _lower_priority() -> None:
    """Linux schedules threads one by one: a reply thread at nice 10 yields the CPU to the threads that
    acknowledge Slack (nice 0) whenever both are ready, and still gets it whenever they are idle."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + REPLY_NICENESS)
    except (AttributeError, OSError) as exc:  # not Linux, or not permitted: replies run at the same priority
        log.debug("could not lower the priority of %s: %s", threading.current_thread().name, exc)


class EventWork:
    def __init__(self, db: Database, clock: Clock, *, workers: int = 8, queued: int = 300) -> None:
        self.db = db
        self.clock = clock
        self._slots = threading.BoundedSemaphore(workers + queued)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="event-work",
                                        initializer=_lower_priority)
        self._refusals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-refusal")

    def submit(
        self, event_id: str | None, work: Callable[[], None], refuse: Callable[[], None] | None = None,
        *, unfinished: Callable[[], bool] | None = None,
    ) -> bool:
        """Queues `work` for this event; False (and `refuse` queued instead) when the pool is full.

        `unfinished` is asked when the event id was taken already: True when that earlier delivery's work
        never finished (its process died), so this redelivery does it."""
        if not self._slots.acquire(blocking=False):
            log.warning("busy: refusing event %s (every worker and queue slot is taken)", event_id)
            if refuse is not None:
                self._refusals.submit(self._run, event_id, refuse, release=False)
            return False
        self._pool.submit(self._run, event_id, work, release=True, unfinished=unfinished)
        return True

    def _run(self, event_id: str | None, work: Callable[[], None], *, release: bool,
             unfinished: Callable[[], bool] | None = None) -> None:
        try:
            if event_id and not self._first_time(event_id):
                if unfinished is None or not unfinished():
                    log.info("event %s already taken; ignoring Slack's redelivery", event_id)
                    return
                log.info("event %s was taken but never finished; answering Slack's redelivery", event_id)
            work()
        except Exception as exc:
            log.error("event %s failed: %s: %s", event_id, type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            if release:
                self._slots.release()

    def _first_time(self, event_id: str) -> bool:
        with self.db.session() as session:
            return queries.claim_event(session, event_id, self.clock.now())

    def forget_old_event_ids(self) -> None:
        with self.db.session() as session:
            queries.forget_events_before(session, self.clock.now() - EVENT_IDS_KEPT)

    def drain(self, timeout: float = 10.0) -> None:
        """Stops taking work and waits for what was taken (a clean stop answers what it acknowledged)."""
        self._pool.shutdown(wait=True, cancel_futures=False)
        self._refusals.shutdown(wait=True, cancel_futures=False)
