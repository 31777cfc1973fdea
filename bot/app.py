"""The Bolt app and how it is served: Socket Mode when an app token is set, else HTTP on PORT."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import listeners
from bot.services import Services

log = logging.getLogger("bot.app")

EVENTS_PATH = "/slack/events"


LISTENER_THREADS = 32  # streamed replies hold a thread for seconds; slash commands must still ack within 3 s


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
    listeners.register(app, services)
    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # access lines go to our logger, one per request
        log.debug("%s %s", self.address_string(), format % args)


class HttpServer:
    """Bolt's WSGI adapter on a threaded stdlib server: Slack's requests are acked while others are worked on."""

    def __init__(self, app: App, host: str, port: int) -> None:
        handler = SlackRequestHandler(app)

        def wsgi(environ, start_response):
            if environ.get("PATH_INFO") == "/healthz":
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"ok"]
            if environ.get("PATH_INFO") != EVENTS_PATH:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found"]
            return handler(environ, start_response)

        self._server = make_server(host, port, wsgi, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}{EVENTS_PATH}"
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="slack-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def socket_mode_handler(app: App, services: Services) -> SocketModeHandler:
    return SocketModeHandler(app, services.settings.slack_app_token, web_client=services.slack)
