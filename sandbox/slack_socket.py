"""Socket Mode server: the WebSocket end of Slack that apps.connections.open hands out.

Speaks what slack_sdk's socket mode clients expect: a hello on connect, envelopes that must be
acknowledged by envelope_id, disconnect messages, and pongs (websockets answers pings itself).
Uses a plain ws:// URL; slack_sdk's builtin client only wraps TLS on port 443.
"""
from __future__ import annotations

import json
import logging
import selectors
import threading
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """An envelope waiting for the app's ack."""

    done: threading.Event = field(default_factory=threading.Event)
    ack: dict | None = None


class SocketModeServer:
    """Accepts app connections by one-time ticket and delivers envelopes that wait for acks."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._pending: dict[str, _Pending] = {}
        self._retiring: list[ServerConnection] = []  # sent a disconnect message, closed once the app is back
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.host = "127.0.0.1"
        self.port = 0
        self.received: list[dict] = []  # every JSON message apps sent (acks), for tests

    # ----------------------------------------------------------------- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SocketModeServer:
        self._server = serve(
            self._handle,
            host,
            port,
            process_request=self._check_ticket,
            compression=None,
            close_timeout=1,
            logger=logging.getLogger("sandbox.slack_socket.websockets"),
        )
        self.host, self.port = self._server.socket.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, name="slack-socket-mode", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close connections (code 1001 like a Slack restart) and the listening socket."""
        if self._server is None or self._stopping.is_set():
            return
        self._stopping.set()
        with self._lock:
            pending = list(self._pending.values())
        for p in pending:
            p.done.set()
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _accept_loop(self) -> None:
        """Like Server.serve_forever, but connection threads are daemons so a leaked app cannot hang exit."""
        server = self._server
        assert server is not None
        poller = selectors.DefaultSelector()
        try:
            poller.register(server.shutdown_watcher, selectors.EVENT_READ)
            poller.register(server.socket, selectors.EVENT_READ)
            while True:
                poller.select()
                try:
                    sock, addr = server.socket.accept()
                except OSError:
                    break
                thread = threading.Thread(target=server.handler, args=(sock, addr), daemon=True)
                with server.lock:
                    server.handler_threads.add(thread)
                thread.start()
        except (OSError, ValueError):
            pass  # socket closed by shutdown() before or while registering
        finally:
            poller.close()
            server.socket_closed.set()
            try:
                server.shutdown_watcher.close()
            except OSError:
                pass

    # ----------------------------------------------------------------- tickets & connections

    def issue_url(self) -> str:
        """A fresh one-time URL, as apps.connections.open returns."""
        ticket = str(uuid.uuid4())
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._lock:
            valid = parts.path.rstrip("/") == "/link" and ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid_ticket\n")
        return None

    @property
    def connected(self) -> bool:
        with self._lock:
            return bool(self._connections)

    @property
    def num_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def _handle(self, connection: ServerConnection) -> None:
        """hello first, then this connection takes deliveries; everything received afterwards is an ack."""
        try:
            with self._lock:
                retiring, self._retiring = self._retiring, []
                connection.send(json.dumps(self._hello(len(self._connections) + 1)))
                self._connections.append(connection)
            if retiring:  # the app reconnected after a disconnect message: drop its old sockets
                self._close_later(retiring)
            for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)

    def _hello(self, count: int) -> dict:
        return {
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "applink-sandbox-1", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("socket mode: ignoring non-JSON message %r", raw)
            return
        if not isinstance(message, dict):
            return
        self.received.append(message)
        with self._lock:
            pending = self._pending.get(message.get("envelope_id", ""))
        if pending is not None:
            pending.ack = message
            pending.done.set()

    # ----------------------------------------------------------------- delivery

    def send_envelope(
        self,
        envelope_type: str,
        payload: dict,
        *,
        timeout: float,
        accepts_response_payload: bool = False,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> dict | None:
        """Send one envelope to the newest connection; return the app's ack, or None on timeout/no app."""
        envelope: dict[str, Any] = {"envelope_id": str(uuid.uuid4()), "payload": payload, "type": envelope_type}
        envelope["accepts_response_payload"] = accepts_response_payload
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason or ""
        pending = _Pending()
        with self._lock:
            self._pending[envelope["envelope_id"]] = pending
            targets = list(reversed(self._connections))
        try:
            if not self._send_to_any(targets, json.dumps(envelope)):
                return None
            pending.done.wait(timeout)
            return pending.ack
        finally:
            with self._lock:
                self._pending.pop(envelope["envelope_id"], None)

    def _send_to_any(self, targets: list[ServerConnection], text: str) -> bool:
        for connection in targets:
            try:
                connection.send(text)
                return True
            except ConnectionClosed:
                continue
        return False

    def disconnect_all(self, reason: str = "refresh_requested") -> None:
        """Ask every app to reconnect, as Slack does before recycling a socket.

        Slack closes the old socket a little later; here that happens as soon as the app has reconnected.
        """
        with self._lock:
            targets = list(self._connections)
            self._retiring.extend(targets)
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-sandbox-1"}}
        for connection in targets:
            try:
                connection.send(json.dumps(message))
            except ConnectionClosed:
                pass

    def close_connections(self, timeout: float = 2.0) -> None:
        """Close every app socket with a close frame and wait until they are gone.

        Lets a slack_sdk client shut down at once instead of sitting out its 3 s receive timeout.
        """
        with self._lock:
            targets = list(self._connections)
        for thread in self._close_later(targets):
            thread.join(timeout)

    def _close_later(self, connections: list[ServerConnection]) -> list[threading.Thread]:
        """close() waits for the peer's close frame (slack_sdk's client never sends one), so don't block on it."""
        threads = [threading.Thread(target=c.close, name="slack-socket-close", daemon=True) for c in connections]
        for thread in threads:
            thread.start()
        return threads
