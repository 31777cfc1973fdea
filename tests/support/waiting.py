"""Waiting for something another thread or process does: polls a condition, never sleeps a fixed time."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """The predicate's first truthy value; AssertionError naming it when none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{getattr(predicate, '__qualname__', predicate)} still false after {timeout} s")
        time.sleep(interval)
