"""The offline try-it mode: the stand-ins, the real bot, fast schedules, and its own database."""
from __future__ import annotations

from pathlib import Path

from finetune.clock import Clock
from sandbox.openai_stub import JobDurations
from sandbox.stack import LocalStack

SANDBOX_DB = Path("data") / "sandbox.db"
# The stand-ins' state (OpenAI files and jobs, the Slack workspace), kept beside the database it matches.
SANDBOX_STATE = Path("data") / "sandbox-standins.json"

# Fast enough to see the whole loop in under two minutes: a tick every minute, short job phases.
# One person tries the sandbox alone, so their own `better: …` answers may be approved by themselves
# (ALLOW_SELF_APPROVAL); the banner says so. In a real workspace someone else must approve them.
SANDBOX_SETTINGS = {
    "FINETUNE_SCHEDULE": "* * * * *",
    "FINETUNE_POLL_SECONDS": "2",
    "FINETUNE_SUFFIX": "sandbox",
    "ALLOW_SELF_APPROVAL": "true",
}
SANDBOX_DURATIONS = JobDurations(validating_files=2, queued=2, running=4)


def sandbox_state_path(database: Path = SANDBOX_DB) -> Path:
    """Where the stand-ins' state for this database lives: data/sandbox.db -> data/sandbox-standins.json."""
    return database.with_name(database.stem + "-standins.json")


def sandbox_database_url(path: Path = SANDBOX_DB, *, reset: bool = False) -> str:
    """The sandbox's own SQLite file, never the production database.

    reset also deletes the stand-ins' state: a clean database with a remembered fine-tuned model (or
    the other way round) would be a sandbox nobody left.
    """
    if reset:
        state = sandbox_state_path(path)
        leftovers = [*path.parent.glob(path.name + "*"),  # the file and its -wal/-shm companions
                     *state.parent.glob(state.name + "*")]  # and its .tmp/.corrupt companions
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
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
