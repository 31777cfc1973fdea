"""Shared fixtures: real databases (SQLite and a PostgreSQL server the tests start) and a test clock."""
from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sandbox.clock import ManualClock
from sandbox.postgres import PostgresUnavailable, start_postgres
from storage.db import Database

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_database_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """TEST_POSTGRES_URL if given; otherwise a cluster started for this session (required in CI)."""
    given = os.environ.get("TEST_POSTGRES_URL")
    if given:
        yield given
        return
    base = Path(tempfile.mkdtemp(prefix="finetune-bot-pg-"))
    try:
        server = start_postgres(base)
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but could not start: {exc}")
        pytest.skip(f"PostgreSQL variant skipped: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


def _fresh_postgres(admin_url: str) -> Iterator[str]:
    name = f"t_{os.getpid()}_{next(_database_names)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage and pipeline test runs once on each real database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
    else:
        yield from _fresh_postgres(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
