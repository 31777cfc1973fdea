"""An end-to-end stack per test: the real bot over loopback HTTP against both stand-ins, on a real database."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.stack import LocalStack
from storage import queries

PRODUCTS = [
    "a portable Bluetooth speaker",
    "a new ergonomic office chair",
    "a stainless steel water bottle",
    "a mechanical keyboard",
    "a robot vacuum cleaner",
    "a pair of trail running shoes",
    "a cast iron skillet",
    "a smart LED desk lamp",
    "a waterproof hiking backpack",
    "an electric kettle",
]


@pytest.fixture
def stack(database_url, clock) -> Iterator[LocalStack]:
    with LocalStack(database_url, clock=clock) as running:
        yield running


def approved_count(stack: LocalStack) -> int:
    with stack.services.db.session() as session:
        return queries.example_counts(session).approved


def wait_for_approved(stack: LocalStack, expected: int) -> None:
    stack.slack.wait_for(lambda: approved_count(stack) == expected, timeout=10)
