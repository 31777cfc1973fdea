"""The offline try-it mode: the stand-ins, the real bot, fast schedules, and its own database."""
from __future__ import annotations

from pathlib import Path

from finetune.clock import Clock
from sandbox.openai_stub import JobDurations
from sandbox.stack import LocalStack

SANDBOX_DB = Path("data") / "sandbox.db"

# Fast enough to see the whole loop in under two minutes: a tick every minute, short job phases.
SANDBOX_SETTINGS = {
    "FINETUNE_SCHEDULE": "* * * * *",
    "FINETUNE_POLL_SECONDS": "2",
    "FINETUNE_SUFFIX": "sandbox",
}
SANDBOX_DURATIONS = JobDurations(validating_files=2, queued=2, running=4)


def sandbox_database_url(path: Path = SANDBOX_DB, *, reset: bool = False) -> str:
    """The sandbox's own SQLite file, never the production database."""
    if reset:
        for leftover in path.parent.glob(path.name + "*"):  # the file and its -wal/-shm companions
            leftover.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def sandbox_stack(
    database_url: str,
    *,
    clock: Clock | None = None,
    manual_schedule: bool = False,
    durations: JobDurations | None = None,
    ports: tuple[int, int, int] = (0, 0, 0),
) -> LocalStack:
    """Not started: call .start(). Ports are (openai, slack, bot); 0 picks a free one."""
    return LocalStack(
        database_url,
        clock=clock,
        manual_schedule=manual_schedule,
        durations=durations or SANDBOX_DURATIONS,
        settings=SANDBOX_SETTINGS,
        openai_port=ports[0],
        slack_port=ports[1],
        bot_port=ports[2],
    )
