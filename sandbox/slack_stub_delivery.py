"""Handing events and slash commands to the app, the way Slack does, and remembering every attempt.

A connected Socket Mode app gets envelopes; otherwise bodies are POSTed, signed, to the request URL.
An event not acked within the timeout is redelivered with the same event_id (X-Slack-Retry-Num 1..3);
a slash command or an interaction (click, shortcut, modal submission) is never retried. Tests read
`deliveries` to see exactly what the app was sent.
"""
from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from typing import Any

from sandbox.slack_driver import EventsDriver
from sandbox.slack_socket import SocketModeServer

log = logging.getLogger("sandbox.slack_stub")

MAX_RETRIES = 3  # Slack redelivers an event at most three times


@dataclass(frozen=True)
class Delivery:
    """One attempt at handing an event or command to the app."""

    kind: str  # "events_api" | "slash_commands" | "interactive"
    transport: str  # "http" | "socket" | "none" (no app attached) | "filtered" (not a subscribed event type)
    event_id: str | None
    attempt: int  # 0 for the first try, 1..3 for Slack's redeliveries
    retry_reason: str | None
    status: int  # HTTP status, 200 for a socket ack, 0 when nothing answered
    timed_out: bool
    response: Any  # parsed HTTP body or the ack's payload
    body: dict


class EventDelivery:
    """Where events go (socket, request URL or nowhere), with Slack's ack timeout and redeliveries."""

    def __init__(self, socket: SocketModeServer, signing_secret: str, ack_timeout: float,
                 stopped: threading.Event) -> None:
        self.socket = socket
        self.signing_secret = signing_secret
        self.ack_timeout = ack_timeout
        self.request_url: str | None = None
        self.event_types: set[str] | None = None  # None delivers every type
        self._stopped = stopped
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._events: list[dict] = []
        self._background: set[threading.Thread] = set()

    # ------------------------------------------------------------- observation

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def events(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._events)

    def target(self) -> str:
        """Where the next delivery would go, in words (for wait_for's timeout report)."""
        return "socket mode" if self.socket.connected else self.request_url or "nowhere"

    def join_background(self, timeout: float = 1) -> None:
        """Let in-flight deliveries caused by Web API calls finish, briefly."""
        with self._lock:
            pending = list(self._background)
        for thread in pending:
            thread.join(timeout=timeout)

    # ------------------------------------------------------------- events

    def deliver(self, body: dict, attempt: int = 0, reason: str | None = None) -> Delivery:
        """Deliver, redelivering with the same event_id when the app does not ack in time (up to 3 retries)."""
        with self._lock:
            self._events.append(copy.deepcopy(body))
        if self.event_types is not None and body["event"].get("type") not in self.event_types:
            return self._record("events_api", "filtered", body, attempt, reason, 0, False, None)
        while True:
            delivery = self._attempt(body, attempt, reason)
            if not delivery.timed_out or attempt >= MAX_RETRIES or self._stopped.is_set():
                return delivery
            attempt += 1
            reason = "timeout" if delivery.transport == "socket" else "http_timeout"

    def deliver_later(self, body: dict) -> None:
        """Events caused by the app's own Web API calls: never hold up the API response."""
        thread = threading.Thread(target=self._run_background, args=(body,), name="slack-stub-event", daemon=True)
        with self._lock:
            self._background.add(thread)
        thread.start()

    def _run_background(self, body: dict) -> None:
        try:
            self.deliver(body)
        except Exception:
            log.exception("background delivery failed")
        finally:
            with self._lock:
                self._background.discard(threading.current_thread())

    def _attempt(self, body: dict, attempt: int, reason: str | None) -> Delivery:
        if self.socket.connected:
            ack = self.socket.send_envelope(
                "events_api", body, timeout=self.ack_timeout, retry_attempt=attempt, retry_reason=reason or "",
            )
            status = 200 if ack is not None else 0
            payload = ack.get("payload") if ack else None
            return self._record("events_api", "socket", body, attempt, reason, status, ack is None, payload)
        if self.request_url and not self._stopped.is_set():
            driver = EventsDriver(self.request_url, self.signing_secret, timeout=self.ack_timeout)
            try:
                status, response = driver.post_event(body, retry_num=attempt or None, retry_reason=reason)
            except TimeoutError:
                return self._record("events_api", "http", body, attempt, reason, 0, True, None)
            except ConnectionError as e:
                return self._record("events_api", "http", body, attempt, reason, 0, False, str(e))
            return self._record("events_api", "http", body, attempt, reason, status, False, response)
        return self._record("events_api", "none", body, attempt, reason, 0, False, None)

    # ------------------------------------------------------------- slash commands

    def deliver_command(self, form: dict) -> tuple[int, dict | None]:
        """(status, ack payload); never retried: no ack within the timeout is a failed command."""
        status, payload, timed_out, transport = 0, None, False, "none"
        if self.socket.connected:
            transport = "socket"
            ack = self.socket.send_envelope("slash_commands", form, timeout=self.ack_timeout,
                                            accepts_response_payload=True)
            status, timed_out = (200, False) if ack is not None else (0, True)
            payload = (ack or {}).get("payload")
        elif self.request_url and not self._stopped.is_set():
            transport = "http"
            driver = EventsDriver(self.request_url, self.signing_secret, timeout=self.ack_timeout)
            try:
                status, payload = driver.post_command(form)
            except TimeoutError:
                timed_out = True
            except ConnectionError as e:
                payload = str(e)
        self._record("slash_commands", transport, form, 0, None, status, timed_out, payload)
        if status != 200:
            return status, None
        if isinstance(payload, str):  # a plain-text ack body is the message text
            payload = {"text": payload} if payload else None
        return status, payload if isinstance(payload, dict) and payload else None

    # ------------------------------------------------------------- interactions

    def deliver_interaction(self, payload: dict, *, accepts_response_payload: bool = False) -> tuple[int, dict | None]:
        """(status, the ack's payload, e.g. a view_submission's response_action); never retried."""
        status, response, timed_out, transport = 0, None, False, "none"
        if self.socket.connected:
            transport = "socket"
            ack = self.socket.send_envelope("interactive", payload, timeout=self.ack_timeout,
                                            accepts_response_payload=accepts_response_payload)
            status, timed_out = (200, False) if ack is not None else (0, True)
            response = (ack or {}).get("payload")
        elif self.request_url and not self._stopped.is_set():
            transport = "http"
            driver = EventsDriver(self.request_url, self.signing_secret, timeout=self.ack_timeout)
            try:
                status, response = driver.post_interaction(payload)
            except TimeoutError:
                timed_out = True
            except ConnectionError as e:
                response = str(e)
        self._record("interactive", transport, payload, 0, None, status, timed_out, response)
        return status, response if isinstance(response, dict) and response else None

    def _record(
        self, kind: str, transport: str, body: dict, attempt: int, reason: str | None, status: int,
        timed_out: bool, response: Any,
    ) -> Delivery:
        delivery = Delivery(kind, transport, body.get("event_id"), attempt, reason, status, timed_out, response,
                            copy.deepcopy(body))
        with self._lock:
            self._deliveries.append(delivery)
        return delivery
