"""Slack calls on the reply path, retried with backoff that honours Retry-After, up to a deadline.

slack_sdk's RateLimitErrorRetryHandler sleeps the whole Retry-After inside whichever thread made the call,
however long Slack asks, and is not driven by our clock. The reply path therefore calls Slack through a
client with no retry handlers of its own (`bare_client`), from the event-work pool (never a thread that
acknowledges events or commands), and waits here instead: clock-driven, bounded by RETRY_DEADLINE per call.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Protocol, TypeVar, runtime_checkable
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from finetune.clock import Clock

log = logging.getLogger("bot.slack_retry")

RETRY_DEADLINE = timedelta(minutes=2)  # per Slack call: past this (or a Retry-After reaching past it) the bot gives up
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# Slack's own "try again" answers (HTTP 200 with ok:false); 429 and 5xx are retried whatever their body says.
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})

Result = TypeVar("Result")


@runtime_checkable
class WaitingClock(Protocol):
    """A clock that can also wait (the test clock): then the retry waits move it instead of sleeping."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Failure:
    """Why one attempt failed, and whether Slack may have done it anyway (a 5xx, a dropped connection)."""

    reason: str
    retryable: bool
    retry_after: float | None = None
    ambiguous: bool = False


class SlackGaveUp(Exception):
    """A Slack call still failed when the deadline came; `reason` is the last failure, in one line."""

    def __init__(self, what: str, reason: str, attempts: int) -> None:
        super().__init__(f"{what}: gave up after {attempts} attempt(s): {reason}")
        self.what = what
        self.reason = reason
        self.attempts = attempts


def bare_client(client: WebClient) -> WebClient:
    """The same workspace and token, without slack_sdk's retry handlers (their waits would be ours to bound)."""
    return WebClient(
        token=client.token, base_url=client.base_url, timeout=client.timeout, ssl=client.ssl, proxy=client.proxy,
        headers=client.headers, team_id=client.default_params.get("team_id"), logger=client.logger, retry_handlers=[],
    )


def classify(exc: Exception) -> Failure | None:
    """A failed attempt as a Failure; None for an exception that is not about talking to Slack."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", 200)
        error = response.get("error") if isinstance(response.data, dict) else None
        reason = f"HTTP {status} {error or ''}".strip() if status != 200 else str(error)
        if status == 429 or error == "ratelimited":
            return Failure(reason, True, _retry_after(response.headers))
        if status >= 500:
            return Failure(reason, True, _retry_after(response.headers), ambiguous=True)
        return Failure(reason, error in TRANSIENT_ERRORS, ambiguous=error in TRANSIENT_ERRORS)
    if isinstance(exc, (URLError, HTTPException, ConnectionError, TimeoutError)):
        return Failure(f"{type(exc).__name__}: {exc}", True, ambiguous=True)
    return None


def _retry_after(headers: dict) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                return None
    return None


class SlackRetry:
    """Runs one Slack call until it succeeds, fails for good, or the deadline comes (then SlackGaveUp)."""

    def __init__(self, clock: Clock, sleep: Callable[[float], None] | None = None,
                 deadline: timedelta = RETRY_DEADLINE) -> None:
        self.clock = clock
        self.sleep = sleep or (clock.sleep if isinstance(clock, WaitingClock) else time.sleep)
        self.deadline = deadline

    def call(
        self,
        what: str,
        send: Callable[[], Result],
        *,
        already_done: Callable[[], Result | None] | None = None,
        before_wait: Callable[[float], None] | None = None,
    ) -> Result:
        """`already_done` is asked before re-sending after an ambiguous failure (did Slack do it anyway?);
        `before_wait` hears of each wait first (the reply renews its lease for that long)."""
        started = self.clock.now()
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except Exception as exc:
                failure = classify(exc)
                if failure is None or not failure.retryable:
                    raise
                last = exc
            wait = failure.retry_after if failure.retry_after is not None else _backoff(attempt)
            left = (self.deadline - (self.clock.now() - started)).total_seconds()
            if wait > left:
                raise SlackGaveUp(what, failure.reason, attempt) from last
            log.info("%s failed (%s); trying again in %.0f s", what, failure.reason, wait)
            if before_wait is not None:
                before_wait(wait)
            self.sleep(wait)
            if failure.ambiguous and already_done is not None:
                done = already_done()
                if done is not None:
                    return done


def _backoff(attempt: int) -> float:
    return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
