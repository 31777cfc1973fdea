"""One process at a time works the pipeline: an in-process lock plus a short lease row in the database.

Two processes on one database (a rolling deploy, a second replica) would otherwise both see 'nothing
in flight' at the nightly tick and start two jobs. The holder beats a heartbeat while it works, each
beat pushing the lease's expiry LEASE_TTL ahead; a process that dies stops beating, so its lease runs
out within seconds and the next process takes over. A clean stop (close) gives the lease back at once.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from finetune.clock import Clock
from storage import queries
from storage.db import Database

log = logging.getLogger("finetune.lease")

PIPELINE_LEASE = "finetune-pipeline"
LEASE_TTL = timedelta(seconds=15)  # how long a holder that stopped beating keeps others waiting
HEARTBEAT_SECONDS = 5.0  # a live holder renews this often (wall-clock seconds), well inside the TTL
RETRY_SECONDS = 0.25  # how often a waiting taker asks again
BUSY = "Another bot process is working on fine-tuning right now; try again in a minute."


def process_owner() -> str:
    """A name unique to this holder: host and pid for people reading the table, a random part for uniqueness."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(
        self, db: Database, clock: Clock, name: str = PIPELINE_LEASE, ttl: timedelta = LEASE_TTL,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.name = name
        self.ttl = ttl
        self.heartbeat_seconds = heartbeat_seconds
        self.owner = process_owner()
        self._lock = threading.RLock()
        self._depth = 0  # held() nested in the holding thread: the outer one takes and gives back
        self._closed = threading.Event()
        self._waiting = False  # "another process is working" was logged for the wait under way
        self._holding = False  # the database lease is (or may still be) ours
        self._lost = False  # losing it was logged for this hold

    @contextmanager
    def held(self, *, wait: timedelta | None = None) -> Iterator[bool]:
        """Holds this process's lock and the database lease; yields False when another process has it.

        `wait`: how long to keep asking when another holder has the lease (it may be a process that died,
        whose lease runs out within LEASE_TTL); None answers at once.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield True
                finally:
                    self._depth -= 1
                return
            if not self._take(wait):
                yield False
                return
            stop = threading.Event()
            beat = threading.Thread(target=self._beat, args=(stop,), name=f"lease-heartbeat-{self.name}", daemon=True)
            beat.start()
            self._depth = 1
            try:
                yield True
            finally:
                self._depth = 0
                stop.set()
                beat.join()
                self._release()

    def keep(self) -> bool:
        """Renews the lease now; False when it is no longer ours (it ran out and another process took it)."""
        if self._closed.is_set():
            return False
        with self.db.session() as session:
            kept = queries.renew_lease(session, self.name, self.owner, self.clock.now(), self.ttl)
        if not kept and not self._lost:
            self._lost = True
            log.warning("lost the %s lease to another bot process (this one stalled longer than %s s); stopping here",
                        self.name, int(self.ttl.total_seconds()))
        return kept

    def close(self) -> None:
        """A clean stop: no more taking or beating, and the lease is given back now, not when it runs out."""
        self._closed.set()
        if self._holding:  # a process that never held it (`finetune-bot status`) writes nothing
            self._release()

    def _take(self, wait: timedelta | None) -> bool:
        deadline = time.monotonic() + wait.total_seconds() if wait else None
        until = self.clock.now() + wait if wait else None
        while not self._closed.is_set():
            with self.db.session() as session:
                taken = queries.take_lease(session, self.name, self.owner, self.clock.now(), self.ttl)
                holder = None if taken else queries.lease_holder(session, self.name)
            if taken:
                self._holding, self._lost = True, False
                if self._waiting:
                    log.info("took the %s lease: the process that held it finished or stopped", self.name)
                self._waiting = False
                return True
            if not self._waiting:  # once per wait, however many times it is asked
                self._waiting = True
                log.info("another bot process is working on fine-tuning (%s, until %s); waiting for it",
                         holder.owner if holder else "?", holder.expires_at.isoformat() if holder else "?")
            if deadline is None or until is None or time.monotonic() >= deadline or self.clock.now() >= until:
                return False
            self._closed.wait(RETRY_SECONDS)
        return False

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_seconds):
            if self._closed.is_set():
                return
            try:
                if not self.keep():
                    return
            except Exception as exc:  # the database is away: the next beat tries again, the TTL decides
                log.warning("could not renew the %s lease: %s", self.name, type(exc).__name__)

    def _release(self) -> None:
        try:
            with self.db.session() as session:
                queries.release_lease(session, self.name, self.owner, self.clock.now())
            self._holding = False
        except Exception as exc:  # it runs out by itself within LEASE_TTL
            log.warning("could not give the %s lease back: %s", self.name, type(exc).__name__)
