"""The whole product on one machine: both stand-ins, and the real bot wired to them.

Only base URLs and tokens differ from production: the bot is built by the same build_services and
create_app, and talks HTTP (or Socket Mode) to the stand-ins exactly as it would to Slack and OpenAI.
The end-to-end tests, the scripted demo and the playground all run this.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.app import HttpServer, create_app, socket_mode_handler
from bot.config import Settings, load_settings
from bot.services import Services, build_services
from bot.startup import check_slack, prepare
from finetune.clock import Clock, SystemClock
from sandbox.openai_stub import JobDurations, OpenAIStub
from sandbox.schedule import ManualSchedule
from sandbox.slack_stub import SlackStub
from storage.enums import ReplyStatus
from storage.models import Reply

log = logging.getLogger("sandbox.stack")

SANDBOX_OPENAI_KEY = "sk-sandbox-local-key"


class LocalStack:
    def __init__(
        self,
        database_url: str,
        *,
        clock: Clock | None = None,
        socket_mode: bool = False,
        manual_schedule: bool = True,
        durations: JobDurations | None = None,
        settings: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        openai_port: int = 0,
        slack_port: int = 0,
        bot_port: int = 0,
    ) -> None:
        self.clock = clock or SystemClock()
        self.database_url = database_url
        self.socket_mode = socket_mode
        self.manual_schedule = manual_schedule
        self.host = host
        self.bot_port = bot_port
        self._ports = (openai_port, slack_port)
        self._overrides = dict(settings or {})
        self.openai = OpenAIStub(self.clock, durations=durations)
        self.slack = SlackStub(self.clock)
        self.services: Services | None = None
        self.schedule: ManualSchedule | None = None
        self.server: HttpServer | None = None
        self._socket_handler = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, *, bot: bool = True) -> LocalStack:
        """Both stand-ins, then the bot (bot=False: a test runs the bot itself, in a process of its own)."""
        self.openai.start(self.host, self._ports[0])
        self.slack.start(self.host, self._ports[1])
        self.settings = self._settings()
        if bot:
            self.start_bot()
        return self

    def _settings(self) -> Settings:
        return load_settings(self.bot_env())

    def bot_env(self) -> dict[str, str]:
        """The environment `finetune-bot run` needs to serve this stack's Slack and OpenAI stand-ins."""
        env = {
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_SIGNING_SECRET": self.slack.signing_secret,
            "SLACK_API_URL": self.slack.api_url,
            "OPENAI_API_KEY": SANDBOX_OPENAI_KEY,
            "OPENAI_BASE_URL": self.openai.base_url,
            "DATABASE_URL": self.database_url,
        }
        if self.socket_mode:
            env["SLACK_APP_TOKEN"] = self.slack.app_token
        env.update(self._overrides)
        return env

    def start_bot(self) -> Services:
        """A new bot process, as after a restart: fresh clients and scheduler on the same database.

        It starts as `finetune-bot run` does (bot.startup: prepare, check_slack), then serves the stand-in's Slack.
        """
        services = build_services(self.settings, clock=self.clock)
        prepare(services)
        check_slack(services)
        app = create_app(services)
        if self.socket_mode:
            self._socket_handler = socket_mode_handler(app, services)
            self._socket_handler.connect()
            # connect() returns before the stand-in has the socket; events sent sooner would find no app
            self.slack.wait_for(lambda: self.slack.socket.connected, timeout=10)
        else:
            self.server = HttpServer(app, self.host, self.bot_port).start()
            self.slack.deliver_to(self.server.url)
        if self.manual_schedule:
            self.schedule = ManualSchedule(services.scheduler, self.clock)
        else:
            services.scheduler.start()
        self.services = services
        return services

    def stop_bot(self) -> None:
        if self._socket_handler is not None:
            # Like a process exit: no reconnect attempt, and the stand-in drops the socket at once.
            self._socket_handler.client.auto_reconnect_enabled = False
            self.slack.socket.close_connections()
            self._socket_handler.close()
            self._socket_handler = None
        if self.server is not None:
            self.slack.deliver_to(None)
            self.server.stop()
            self.server = None
        if self.services is not None:
            self.services.close()
            self.services = None

    def stop(self) -> None:
        self.stop_bot()
        self.slack.stop()
        self.openai.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- what a person does -----------------------------------------------------------------------

    def ask(self, text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL", thread_ts: str | None = None,
            mention: bool = True, timeout: float = 10.0) -> dict:
        """Posts a question and returns the bot's finished reply in the thread."""
        prefix = f"<@{self.slack.bot_user_id}> " if mention else ""
        question = self.slack.post_as_user(user, channel, prefix + text, thread_ts=thread_ts)
        return self.reply_to(channel, question["ts"], timeout=timeout)

    def reply_to(self, channel: str, source_ts: str, *, timeout: float = 10.0) -> dict:
        def finished() -> dict | None:
            with self.services.db.session() as session:
                row = session.query(Reply).filter_by(channel=channel, source_ts=source_ts).one_or_none()
                if row is None or row.status == ReplyStatus.PENDING or row.ts is None:
                    return None
                return self.slack.message(channel, row.ts)

        return self.slack.wait_for(finished, timeout=timeout)

    def approve(self, reply: dict, *, user: str = "U0BOB", emoji: str = "+1", channel: str = "C0GENERAL") -> None:
        self.slack.add_reaction(user, channel, reply["ts"], emoji)

    def run_schedule(self, advance_seconds: float = 0) -> list[str]:
        """Moves the shared clock on and fires what the bot's scheduler has due (manual_schedule only)."""
        if self.schedule is None:
            raise RuntimeError("run_schedule drives a stack started with manual_schedule=True")
        if advance_seconds:
            self.clock.advance(advance_seconds)  # type: ignore[attr-defined]
        return self.schedule.run_pending()
