"""The real bot as a process of its own (`python -m bot run`), against a stack's stand-ins: one a test can kill -9."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BotProcess:
    def __init__(self, stack: LocalStack, workdir: Path) -> None:
        self.stack = stack
        self.workdir = workdir  # no .env there: the process reads exactly the environment given
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.log = workdir / "bot.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> BotProcess:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **self.stack.bot_env(),
               "PORT": str(self.port), "LOG_LEVEL": "INFO"}
        with self.log.open("wb") as out:
            self._process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=self.workdir, env=env,
                                             stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the bot process did not come up:\n{self.output()}")
            time.sleep(0.05)  # waiting for a real process to start listening
        self.stack.slack.deliver_to(self.url)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """kill -9: no clean stop, nothing flushed, nothing released."""
        assert self._process is not None
        self.stack.slack.deliver_to(None)
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)
        assert self._process.returncode == -signal.SIGKILL

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        if self._process is not None and self._process.poll() is None:
            self.kill()
