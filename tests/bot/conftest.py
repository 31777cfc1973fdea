"""An end-to-end stack per test: the real bot over loopback HTTP against both stand-ins, on a real database."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.stack import LocalStack


@pytest.fixture
def stack(database_url, clock) -> Iterator[LocalStack]:
    with LocalStack(database_url, clock=clock) as running:
        yield running
