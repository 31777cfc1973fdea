"""The Bolt app and how it is served: Socket Mode when an app token is set, else HTTP on PORT (waitress)."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot import listeners
from bot.services import Services

log = logging.getLogger("bot.app")

EVENTS_PATH = "/slack/events"
# Bolt's threads run listeners; event listeners only hand work to EventWork, so these stay free for
# slash commands, which must be acknowledged within 3 s even while `/finetune run` works.
LISTENER_THREADS = 32
HTTP_THREADS = 16
MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few KB; anything past this is answered 413 unread


def create_app(services: Services) -> App:
    settings = services.settings
    app = App(
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="bolt-listener"),
        client=services.slack,
        signing_secret=settings.slack_signing_secret or "",
        request_verification_enabled=not settings.socket_mode,
        ignoring_self_events_enabled=True,
        logger=logging.getLogger("bot.bolt"),
    )
    listeners.register(app, services.listener_context())
    return app


def wsgi_app(app: App) -> Any:
    """Bolt's WSGI adapter at /slack/events, a health check at /healthz, 404 elsewhere."""
    handler = SlackRequestHandler(app)

    def wsgi(environ: dict, start_response: Any) -> Any:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        if path != EVENTS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        return handler(environ, start_response)

    return wsgi


class HttpServer:
    """waitress, a production WSGI server: a fixed pool of request threads, bodies capped before they are read."""

    def __init__(self, app: App, host: str, port: int) -> None:
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" notes under load
        self._server = create_server(
            wsgi_app(app),
            host=host,
            port=port,
            threads=HTTP_THREADS,
            max_request_body_size=MAX_BODY_BYTES,
            connection_limit=1000,
            backlog=1024,
            channel_timeout=30,
            ident="finetune-bot",
        )
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
