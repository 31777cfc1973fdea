"""A Slack app as a process of its own on loopback: the bot (`python -m bot run`) or another served app.

Tests kill it with -9 to play a crash. The ack benchmark runs the bot and the bare Bolt app this way,
so that neither shares its interpreter (and its GIL) with the stand-ins, as in production, where
Slack and the model provider are other machines.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AppProcess:
    """One served app: started, healthy (its /healthz answers), then stopped (SIGTERM) or killed (-9)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], workdir: Path, *, port: int | None = None) -> None:
        self.argv = [sys.executable, *argv]
        self.workdir = workdir  # no .env there: the process reads exactly the environment given
        self.port = port or free_port()
        self.env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env, "PORT": str(self.port)}
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.log = workdir / f"{Path(argv[-1]).name or 'app'}-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def bot(cls, env: Mapping[str, str], workdir: Path, *, log_level: str = "INFO") -> AppProcess:
        """`python -m bot run` with `env` (a LocalStack's bot_env(), say)."""
        return cls(["-m", "bot", "run"], {**env, "LOG_LEVEL": log_level}, workdir)

    def start(self, timeout: float = 30.0) -> AppProcess:
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env, stdout=out,
                                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(self.argv[1:])} did not come up:\n{self.output()[-4000:]}")
            time.sleep(0.05)  # waiting for a real process to start listening
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """kill -9: no clean stop, nothing flushed, nothing released."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, as a process manager stops it; -9 if it has not gone within `timeout`."""
        if not self.running:
            return
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> AppProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        if self.running:
            self.kill()
