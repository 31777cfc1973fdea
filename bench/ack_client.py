"""The open-loop load generator of the ack benchmark, and the figures it yields.

Kept apart from bench/ack_bench.py so a client process spawned for it imports only the signed
driver, not the bot: the load generator must never queue for the GIL of the apps it measures.
"""
from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from sandbox.slack_driver import EventsDriver

SLACK_TIMEOUT = 3.0  # Slack gives up on an ack after 3 s and redelivers
MIN_THREADS = 200


@dataclass(frozen=True)
class Sample:
    """One request: when it was due and sent (seconds after the run's start), and how it ended."""

    due: float
    sent: float
    latency_ms: float  # send -> full response; for a failure, send -> failure
    status: int  # HTTP status; 0 when no response came
    error: str | None  # None, "reset" (refused/reset/closed), "timeout", or "other: <type>"

    @property
    def acked(self) -> bool:
        """What Slack counts as an ack: HTTP 200 within its 3 s."""
        return self.status == 200 and self.error is None


def pool_size(rate: float, timeout: float = SLACK_TIMEOUT) -> int:
    """Enough threads that every request in flight has one, even if each takes twice the timeout.

    urllib's timeout is per socket operation, so a request can outlast it (a slow connect, then a
    slow read); a pool that runs dry would turn the open loop into a closed one.
    """
    return max(MIN_THREADS, math.ceil(rate * timeout * 2))


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def send_open_loop(
    url: str, signing_secret: str, bodies: Sequence[bytes], rate: float, *, timeout: float = SLACK_TIMEOUT,
    content_types: Sequence[str] | None = None,
) -> list[Sample]:
    """POST each body, signed like Slack, at start + i/rate whatever earlier requests are doing.

    content_types: one per body (events are JSON, slash commands a form); JSON for all when None.
    """
    types = list(content_types) if content_types is not None else [JSON] * len(bodies)
    if len(types) != len(bodies):
        raise ValueError(f"{len(types)} content types for {len(bodies)} bodies")
    driver = EventsDriver(url, signing_secret, timeout=timeout)
    threads = pool_size(rate, timeout)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ack-client") as pool:
        _start_threads(pool, threads)
        start = time.perf_counter() + 0.05
        futures = []
        for i, (raw, content_type) in enumerate(zip(bodies, types, strict=True)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_send_one, driver, raw, content_type, due - start, start, timeout))
        return [f.result() for f in futures]


@contextmanager
def spawned_client() -> Iterator[Callable[..., list[Sample]]]:
    """send_open_loop in a spawned process of its own: its threads never wait for the apps' GIL.

    The function it yields takes send_open_loop's arguments and returns its samples.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        def client(url: str, secret: str, bodies: Sequence[bytes], rate: float, **options: object) -> list[Sample]:
            return pool.submit(send_open_loop, url, secret, list(bodies), rate, **options).result()

        yield client


def _start_threads(pool: ThreadPoolExecutor, count: int) -> None:
    """Create every worker before the clock starts, so thread start-up is never in a latency."""
    gate = threading.Barrier(count + 1)
    for _ in range(count):
        pool.submit(gate.wait)
    gate.wait()


def _send_one(driver: EventsDriver, raw: bytes, content_type: str, due: float, start: float, timeout: float) -> Sample:
    """Time one POST; a late answer counts as a timeout too, as Slack would already have given up."""
    sent = time.perf_counter()
    status, error = 0, None
    try:
        status, _ = driver.post_raw(raw, content_type)
    except TimeoutError:
        error = "timeout"
    except ConnectionError:
        error = "reset"
    except Exception as exc:  # a garbled response: still one request sent, so still one sample
        error = f"other: {type(exc).__name__}"
    elapsed = time.perf_counter() - sent
    if error is None and elapsed > timeout:
        error = "timeout"
    return Sample(due, sent - start, elapsed * 1000, status, error)


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the value that q% of the values are at or below (no interpolation)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Load:
    """One app's run at one rate. Latency figures include failed requests at their elapsed time,
    so a timeout weighs at least 3 s instead of vanishing from the percentiles."""

    samples: list[Sample]

    @property
    def latencies(self) -> list[float]:
        return [s.latency_ms for s in self.samples]

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def max_ms(self) -> float:
        return max(self.latencies, default=math.nan)

    def count(self, error: str) -> int:
        return sum(1 for s in self.samples if s.error == error)

    @property
    def other_failures(self) -> int:
        """Answers that were not a 200, and failures that were neither a reset nor a timeout."""
        return sum(1 for s in self.samples if (s.error or "").startswith("other") or (s.error is None and s.status != 200))

    @property
    def send_rate(self) -> float:
        """Requests per second the client actually started: proof the client kept up with the schedule."""
        sent = sorted(s.sent for s in self.samples)
        if len(sent) < 2 or sent[-1] == sent[0]:
            return math.nan
        return (len(sent) - 1) / (sent[-1] - sent[0])

    @property
    def max_lag_ms(self) -> float:
        """How far behind its schedule the latest request left."""
        return max(((s.sent - s.due) * 1000 for s in self.samples), default=math.nan)
