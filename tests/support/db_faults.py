"""Faults in a real database, on demand: the local backend's remote end is the database, so its passing
errors are the database's. SQLAlchemy events on the engine (and on sessions bound to it) raise what a dropped
connection raises; nothing of ours is replaced."""
from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import LocalRun


class DatabaseFaults:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._failing = 0
        self._lose_next_run = False
        self._marked: set[int] = set()
        event.listen(db.engine, "before_cursor_execute", self._before_execute)
        event.listen(Session, "after_flush", self._after_flush)
        event.listen(Session, "after_commit", self._after_commit)

    def fail_next_statements(self, count: int) -> None:
        """The next `count` SQL statements fail as if the server had gone away."""
        with self._lock:
            self._failing += count

    def lose_next_run_commit(self) -> None:
        """The next transaction that inserts a local run commits, and then its caller gets an error instead."""
        with self._lock:
            self._lose_next_run = True

    def close(self) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._before_execute)
        event.remove(Session, "after_flush", self._after_flush)
        event.remove(Session, "after_commit", self._after_commit)

    def _before_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        with self._lock:
            if self._failing <= 0:
                return
            self._failing -= 1
        raise OperationalError(statement, parameters, ConnectionError("server closed the connection unexpectedly"))

    def _after_flush(self, session: Session, context: Any) -> None:
        if session.get_bind() is not self.db.engine:
            return
        if any(isinstance(obj, LocalRun) for obj in session.new):
            with self._lock:
                if self._lose_next_run:
                    self._lose_next_run = False
                    self._marked.add(id(session))

    def _after_commit(self, session: Session) -> None:
        with self._lock:
            if id(session) not in self._marked:
                return
            self._marked.discard(id(session))
        raise OperationalError("COMMIT", {}, ConnectionError("connection lost while reading the answer"))
