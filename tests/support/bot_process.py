"""The real bot as a process of its own (`python -m bot run`), against a stack's stand-ins: one a test can kill -9."""
from __future__ import annotations

import signal
from pathlib import Path

from sandbox.app_process import AppProcess
from sandbox.stack import LocalStack


class BotProcess(AppProcess):
    """The bot process the stack's Slack stand-in delivers to while it runs."""

    def __init__(self, stack: LocalStack, workdir: Path) -> None:
        super().__init__(["-m", "bot", "run"], {**stack.bot_env(), "LOG_LEVEL": "INFO"}, workdir)
        self.stack = stack

    def start(self, timeout: float = 30.0) -> BotProcess:
        super().start(timeout)
        self.stack.slack.deliver_to(self.url)
        return self

    def kill(self) -> None:
        self.stack.slack.deliver_to(None)
        super().kill()
        assert self._process is not None and self._process.returncode == -signal.SIGKILL
