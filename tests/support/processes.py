"""Real bot-side OS processes for the tests that kill one (kill -9) or start several at the same moment.

Each runs a piece of the real code in its own interpreter, says "ready" once its imports are done, and
waits for a line on stdin before it acts, so a test can start several and let them go together.
`python -m tests.support.processes lease|notify|migrate ...` (see main); the helpers below drive them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """One helper process: started, ready, told to go, and then awaited or killed."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.processes", *args], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
        )
        self.ready = self._line()
        assert self.ready == "ready", f"the helper process did not start: {self.ready!r} {self._stderr()}"

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def said(self) -> str:
        """Its next line after `go` (what it did)."""
        return self._line()

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Waits for it to end: (exit status, everything it printed after the first lines, stderr included)."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out + err

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _stderr(self) -> str:
        self.proc.kill()
        return self.proc.communicate(timeout=30)[1][-2000:]


def _ready() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def _hold_lease(database_url: str, now: str) -> int:
    """Takes the pipeline lease and holds it (beating) until killed."""
    from finetune.lease import Lease
    from sandbox.clock import ManualClock
    from storage.db import Database

    lease = Lease(Database(database_url), ManualClock(datetime.fromisoformat(now)))
    _ready()
    with lease.held() as held:
        print("held" if held else "busy", flush=True)
        sys.stdin.readline()  # until killed (or told to stop)
    return 0


def _notify(database_url: str, api_url: str, token: str, channel: str, now: str) -> int:
    """One flush of the real Notifier against the Slack stand-in."""
    from slack_sdk import WebClient

    from bot.notifier import Notifier
    from sandbox.clock import ManualClock
    from storage.db import Database

    db = Database(database_url)
    notifier = Notifier(db, WebClient(token=token, base_url=api_url), ManualClock(datetime.fromisoformat(now)), channel)
    _ready()
    print(f"posted {notifier.flush()}", flush=True)
    db.dispose()
    return 0


def _migrate() -> int:
    """`finetune-bot migrate` (DATABASE_URL from the environment), let go on the test's word."""
    import alembic.command  # noqa: F401  (imported before `go`, so the processes race in the migrations)

    import storage.db  # noqa: F401
    import storage.models  # noqa: F401
    from bot.cli import main as cli

    _ready()
    return cli(["migrate"], env={"DATABASE_URL": os.environ["DATABASE_URL"]})


def main(argv: Sequence[str]) -> int:
    what, *args = argv
    if what == "lease":
        return _hold_lease(*args)
    if what == "notify":
        return _notify(*args)
    if what == "migrate":
        return _migrate()
    raise SystemExit(f"unknown helper {what!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
