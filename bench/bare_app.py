"""The ack benchmark's peer: Bolt with nothing of ours, served by the bot's own server class, in a process of its own.

`python -m bench.bare_app` reads SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, SLACK_API_URL and PORT, and serves
until SIGTERM. Its one app_mention listener does nothing; Bolt acks events before running it.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.app import LISTENER_THREADS, HttpServer


def bare_app(signing_secret: str, token: str, api_url: str) -> App:
    """The bot's executor size; the token rides on the client (Bolt ignores `token=` when a client is
    given), so the constructor's auth.test goes to the stand-in."""
    app = App(
        signing_secret=signing_secret,
        client=WebClient(token=token, base_url=api_url),
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="bare-listener"),
    )

    @app.event("app_mention")
    def ignore_mention() -> None:
        """Acked by Bolt before this runs; does nothing."""

    return app


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = bare_app(os.environ["SLACK_SIGNING_SECRET"], os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"])
    server = HttpServer(app, "127.0.0.1", int(os.environ["PORT"])).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
