"""The Bolt app and how it is served: Socket Mode when an app token is set, else HTTP on PORT (waitress)."""
from __future__ import annotations

import gc
import io
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from bot import listeners
from bot.inbound import MAX_BODY_BYTES, check_request
from bot.logs import quiet_bolt_logger
from bot.services import Services

log = logging.getLogger("bot.app")

EVENTS_PATH = "/slack/events"
# Bolt's threads run listeners; event listeners only hand work to EventWork, so these stay free for
# slash commands, which must be acknowledged within 3 s even while `/finetune run` works.
LISTENER_THREADS = 32
HTTP_THREADS = 16


def create_app(services: Services) -> App:
    settings = services.settings
    app = App(
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="bolt-listener"),
        client=services.slack,
        signing_secret=settings.slack_signing_secret or "",
        request_verification_enabled=not settings.socket_mode,
        ignoring_self_events_enabled=True,
        logger=quiet_bolt_logger(logging.getLogger("bot.bolt")),
    )
    listeners.register(app, services.listener_context())
    return app


def wsgi_app(app: App, signing_secret: str | None = None) -> Any:
    """Bolt's WSGI adapter at /slack/events behind the gate (bot.inbound), a health check at /healthz, 404
    elsewhere. A request the gate refuses, or one Bolt fails on, is one log line and a short answer."""
    handler = SlackRequestHandler(app)

    def wsgi(environ: dict, start_response: Any) -> Any:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            return _answer(start_response, "200 OK", b"ok")
        if path != EVENTS_PATH:
            return _answer(start_response, "404 Not Found", b"not found")
        if environ.get("REQUEST_METHOD") == "POST" and signing_secret:
            raw = environ["wsgi.input"].read(min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY_BYTES))
            environ["wsgi.input"] = io.BytesIO(raw)
            refusal = check_request(raw, environ.get("CONTENT_TYPE", ""), environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                                    environ.get("HTTP_X_SLACK_SIGNATURE"), signing_secret)
            if refusal is not None:
                log.warning("refused POST %s (%d bytes): %s", path, len(raw), refusal.reason)
                status = "401 Unauthorized" if refusal.status == 401 else "400 Bad Request"
                return _answer(start_response, status, b'{"error": "invalid request"}', "application/json")
        try:
            return handler(environ, start_response)
        except Exception as exc:  # a bug of ours or Bolt's: one line (traceback at DEBUG), a 500, the server goes on
            log.error("request to %s failed: %s: %s", path, type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return _answer(start_response, "500 Internal Server Error", b"internal error")

    return wsgi


def _answer(start_response: Any, status: str, body: bytes, content_type: str = "text/plain") -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class _LoggedErrorTask(ErrorTask):
    """waitress's own refusals (413 for a body over the cap, 400 for broken chunking) as one log line."""

    def execute(self) -> None:
        request = self.request
        log.warning("refused %s %s (%s bytes announced): %s", request.command or "a request", request.path or "",
                    request.headers.get("CONTENT_LENGTH", "chunked" if request.chunked else 0),
                    type(request.error).__name__)
        super().execute()


class _Channel(HTTPChannel):
    error_task_class = _LoggedErrorTask


ACK_SWITCH_INTERVAL_S = 0.001  # CPython's default is 5 ms


def settle_for_serving(*, answers_here: bool = True) -> None:
    """Process-wide settings for a bot whose acks must not wait behind reply work; run once, after start-up.

    A thread woken by a request waits for the GIL up to the switch interval at each hand-over (the
    server's I/O loop, its worker, Bolt's listener thread), so 5 ms per hand-over adds up while replies
    keep the interpreter busy; 1 ms keeps that wait short. gc.freeze() moves everything start-up built
    (modules, models, clients) out of the collector's view: a full collection then walks only what
    serving made, instead of stopping every thread for a hundred milliseconds and more.
    """
    if answers_here:  # with the reply process, no answer's work is left here to cut short
        sys.setswitchinterval(ACK_SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()


class HttpServer:
    """waitress, a production WSGI server: a fixed pool of request threads, bodies capped before they are read."""

    def __init__(self, app: App, host: str, port: int, *, signing_secret: str | None = None) -> None:
        """signing_secret: the gate in front of Bolt (bot.inbound) checks each request with it; without one
        only Bolt's own check runs."""
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" notes under load
        self._server = create_server(
            wsgi_app(app, signing_secret),
            host=host,
            port=port,
            threads=HTTP_THREADS,
            max_request_body_size=MAX_BODY_BYTES,
            connection_limit=1000,
            backlog=1024,
            channel_timeout=30,
            ident="finetune-bot",
        )
        self._server.channel_class = _Channel  # type: ignore[union-attr]
        self.port: int = self._server.effective_port  # type: ignore[union-attr]
        self.url = f"http://{_url_host(host)}:{self.port}{EVENTS_PATH}"
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def serve_forever(self) -> None:
        """waitress's own loop, made stoppable: `stop` wakes it through waitress's trigger."""
        server = self._server
        while not self._stopping.is_set():
            server.asyncore.loop(  # type: ignore[union-attr]
                timeout=server.adj.asyncore_loop_timeout, map=server._map, use_poll=server.adj.asyncore_use_poll,
                count=1,
            )

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="slack-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops accepting, lets requests in progress finish, then closes every connection."""
        self._stopping.set()
        server = self._server
        server.pull_trigger()  # type: ignore[union-attr]
        if self._thread is not None:
            self._thread.join(timeout=5)
        server.task_dispatcher.shutdown()  # type: ignore[union-attr]
        for channel in list(server._map.values()):
            channel.close()


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host if ":" not in host else f"[{host}]"


def socket_mode_handler(app: App, services: Services) -> SocketModeHandler:
    return SocketModeHandler(app, services.settings.slack_app_token, web_client=services.slack)
