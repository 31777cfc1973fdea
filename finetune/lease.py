"""One process at a time works the pipeline: an in-process lock plus a lease row in the database.

Two processes on one database (a rolling deploy, a second replica) would otherwise both see 'nothing
in flight' at the nightly tick and start two jobs. A process that dies frees the lease by expiry.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from finetune.clock import Clock
from storage import queries
from storage.db import Database

PIPELINE_LEASE = "finetune-pipeline"
LEASE_TTL = timedelta(minutes=15)  # longer than any one step
BUSY = "Another bot process is working on fine-tuning right now; try again in a minute."


class Lease:
    def __init__(self, db: Database, clock: Clock, name: str = PIPELINE_LEASE, ttl: timedelta = LEASE_TTL) -> None:
        self.db = db
        self.clock = clock
        self.name = name
        self.ttl = ttl
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = threading.RLock()

    @contextmanager
    def held(self) -> Iterator[bool]:
        """Holds this process's lock and the database lease; yields False when another process has it."""
        with self._lock:
            with self.db.session() as session:
                held = queries.take_lease(session, self.name, self.owner, self.clock.now(), self.ttl)
            try:
                yield held
            finally:
                if held:
                    with self.db.session() as session:
                        queries.release_lease(session, self.name, self.owner, self.clock.now())
