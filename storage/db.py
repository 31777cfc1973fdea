"""Engine, sessions and migrations, built once from a URL and passed to whoever needs them."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows: the exclusive transaction alone serializes migrations there
    fcntl = None  # type: ignore[assignment]

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseNotReady(Exception):
    """A read-only command found no database (or no schema) where DATABASE_URL points; nothing was created."""


def normalize_url(url: str, *, create_folder: bool = True) -> str:
    """Use the psycopg 3 driver for plain postgres URLs, and (unless told not to) make SQLite's folder exist."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if create_folder and _sqlite_file(url) is not None:
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL to show people: never any part that may hold a password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(a DATABASE_URL that is not a URL)"


def _sqlite_file(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def require_ready(url: str) -> str:
    """For read-only commands: the database must exist and carry our schema. Returns it, fit to show.

    Never creates anything: a SQLite file that is not there is reported, not made.
    """
    shown = safe_url(url)
    path = _sqlite_file(url)
    if path is not None and not Path(path).is_file():
        raise DatabaseNotReady(
            f"there is no database at {shown} (DATABASE_URL): nothing to report, and none was created. "
            "Start the bot once (`finetune-bot run`, or `finetune-bot migrate`) to create it; "
            "the offline sandbox keeps its own, data/sandbox.db"
        )
    db = Database(url, create_folder=False)
    try:
        revision = db.current_revision()
    finally:
        db.dispose()
    if revision is None:
        raise DatabaseNotReady(
            f"the database {shown} has no finetune-bot tables yet: run `finetune-bot migrate` or start the bot first"
        )
    return shown


MIGRATION_LOCK_KEY = 0x66742D626F74  # pg_advisory_xact_lock key: "ft-bot"


def _lock_for_migrations(connection: Connection) -> None:
    """PostgreSQL: a transaction-scoped advisory lock (DDL is transactional there, so the winner's schema
    commits with its lock). SQLite: an exclusive transaction, so the migrations apply all or nothing."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN EXCLUSIVE")


@contextmanager
def _migration_file_lock(database: str | None) -> Iterator[None]:
    """SQLite: a lock file beside the database, held while migrating, so a second process waits however long
    the first takes (SQLite's own busy timeout would give up after 10 s)."""
    if database is None or fcntl is None:
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _unmasked(text: str) -> str:
    return text


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL waits for a process migrating
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL (0x00) and UTF-8 cannot encode a lone surrogate: NULs are dropped,
    surrogates become U+FFFD. Applied to every string written, on SQLite too, so both stores agree."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _storable_value(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(k) if isinstance(k, str) else k: _storable_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_storable_value(v) for v in value)
    return value


def _json_dumps(value: Any) -> str:
    """JSON columns (a reply's messages, notification payloads): the same rule inside the document."""
    return json.dumps(_storable_value(value))


def _storable_parameters(_conn, _cursor, statement, parameters, _context, executemany):  # noqa: ANN001
    if executemany and isinstance(parameters, list):
        return statement, [_storable_value(p) for p in parameters]
    return statement, _storable_value(parameters)


class Database:
    """One engine and session factory; listeners, the scheduler and the CLI share it.

    mask: applied to every error text stored (a job's, a reply's, a notification's); the bot passes one that
    masks its configured secrets, so a provider error quoting one is stored masked.
    """

    def __init__(self, url: str, *, create_folder: bool = True, mask: Callable[[str], str] | None = None) -> None:
        self.url = normalize_url(url, create_folder=create_folder)
        # Enough connections for every thread that may hold one at once (event workers, Bolt's listener
        # threads, the scheduler), so a burst of events waits on the database, not on the pool.
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True, pool_size=10, max_overflow=40,
                                            json_serializer=_json_dumps)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        event.listen(self.engine, "before_cursor_execute", _storable_parameters, retval=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, info={"mask": mask or _unmasked})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self, revision: str = "head") -> None:
        """Upgrades the schema under a lock, so bot processes starting together on a fresh database all come
        up: one migrates, the others wait for it and then find nothing left to do."""
        with _migration_file_lock(_sqlite_file(self.url)), self.engine.begin() as connection:
            _lock_for_migrations(connection)
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({safe_url(self.url)})"
