"""The 100 events/s load run: signed mentions at 100/s for 10 s, a `/finetune status` every second among them,
against the bot on SQLite and on PostgreSQL, one table.

What it shows is what a team would feel under a burst: whether any connection is reset, whether every
question is answered or visibly refused (none lost), and whether a slash command sent mid-burst is still
acknowledged within Slack's 3 s (past that, Slack shows the person an error). Goal: 0 resets, 0 lost, every
status acknowledged within 3 s, on both databases. The table prints the figures whether or not it is met.

Run with `make bench-load`, or `python -m bench.load_bench [--seconds 10] [--rate 100] [--databases sqlite,postgresql]`.
Everything is local: the bot (`python -m bot run`) in a process of its own, the stand-ins in this one (at a
lower CPU priority: in production they are other machines), the load generator in another; PostgreSQL is
a throwaway server from the machine's own binaries (the run says so and goes on with SQLite when there are none).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.ack_bench import ASKER, CHANNEL, Apps, Outcomes, count_outcomes, encode, post_questions, running_apps
from bench.ack_client import FORM, JSON, SLACK_TIMEOUT, Load, Sample, send_open_loop, spawned_client
from sandbox.postgres import PostgresUnavailable, start_postgres

RATE = 100.0
SECONDS = 10.0
DATABASES = ("sqlite", "postgresql")

Client = Callable[..., list[Sample]]


@dataclass(frozen=True)
class LoadResult:
    database: str
    rate: float
    seconds: float
    mentions: Load
    commands: Load
    outcomes: Outcomes

    def failures(self, load: Load) -> int:
        """Requests Slack would not count as acknowledged: no 200 within its 3 s."""
        return sum(1 for s in load.samples if not s.acked)


def traffic(apps: Apps, rate: float, seconds: float) -> tuple[list[bytes], list[str], list[bool], list[str]]:
    """`rate` mentions a second for `seconds`, with one `/finetune status` after each second's worth.

    Returns the bodies in sending order, their content types, which of them are commands, and the
    questions' ts (to sort them into answered, refused and lost afterwards).
    """
    per_second = max(1, round(rate))
    questions = post_questions(apps.stack, max(1, round(rate * seconds)))
    mention_bodies = encode(apps.stack, questions)
    bodies: list[bytes] = []
    types: list[str] = []
    is_command: list[bool] = []
    for i, body in enumerate(mention_bodies, start=1):
        bodies.append(body)
        types.append(JSON)
        is_command.append(False)
        if i % per_second == 0:
            form = apps.stack.slack.command_form(ASKER, CHANNEL, "/finetune", "status")
            bodies.append(urllib.parse.urlencode(form).encode("utf-8"))
            types.append(FORM)
            is_command.append(True)
    return bodies, types, is_command, [q["ts"] for q in questions]


def measure(apps: Apps, database: str, rate: float, seconds: float, client: Client = send_open_loop) -> LoadResult:
    """One run: the mixed traffic at `rate` mentions a second (plus the commands), then the outcomes once drained."""
    bodies, types, is_command, source_ts = traffic(apps, rate, seconds)
    per_second = max(1, round(rate))
    sending_rate = rate * (per_second + 1) / per_second  # the commands ride on top of the mentions
    samples = client(apps.bot.url, apps.signing_secret, bodies, sending_rate, content_types=types)
    mentions = Load([s for s, command in zip(samples, is_command, strict=True) if not command])
    commands = Load([s for s, command in zip(samples, is_command, strict=True) if command])
    return LoadResult(database, rate, seconds, mentions, commands, count_outcomes(apps, source_ts))


def run_on(database: str, tmp: Path, rate: float, seconds: float, client: Client) -> LoadResult | str:
    """The load run on one database; a sentence instead when that database cannot be had here."""
    with ExitStack() as stack:
        url = None
        if database == "postgresql":
            base = Path(tempfile.mkdtemp(prefix="finetune-bot-load-pg-"))  # its own: the server's user must reach it
            stack.callback(shutil.rmtree, base, ignore_errors=True)
            try:
                server = start_postgres(base)
            except PostgresUnavailable as exc:
                return f"PostgreSQL skipped: {exc}"
            stack.callback(server.stop)
            url = server.url
        (tmp / database).mkdir()
        apps = stack.enter_context(running_apps(tmp / database, url, stand_ins_yield=True))
        measure(apps, database, 5.0, 1.0, client)  # warm-up: lazy start-up costs stay out of the measured run
        return measure(apps, database, rate, seconds, client)
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


# --------------------------------------------------------------------------- the table


def goal_misses(results: Sequence[LoadResult]) -> list[str]:
    misses = []
    for r in results:
        if r.mentions.count("reset") or r.commands.count("reset"):
            misses.append(f"{r.mentions.count('reset') + r.commands.count('reset')} resets on {r.database}")
        if r.outcomes.lost:
            misses.append(f"{r.outcomes.lost} questions lost on {r.database}")
        if r.failures(r.commands):
            misses.append(f"{r.failures(r.commands)} of {len(r.commands.samples)} status commands not acknowledged "
                          f"within {SLACK_TIMEOUT:g} s on {r.database}")
    return misses


COLUMNS = (
    ("database", 10), ("mentions", 8), ("sent/s", 6), ("resets", 6), ("timeouts", 8), ("other", 5),
    ("ack p50", 7), ("p99", 7), ("max", 7), ("answered", 8), ("refused", 7), ("lost", 4), ("drain s", 7),
    ("status", 6), ("<=3 s", 5), ("status p50", 10), ("max", 7),
)


def table_row(r: LoadResult) -> list[str]:
    m, c, o = r.mentions, r.commands, r.outcomes
    resets, timeouts = m.count("reset") + c.count("reset"), m.count("timeout") + c.count("timeout")
    return [
        r.database, str(len(m.samples)), f"{m.send_rate:.1f}", str(resets), str(timeouts),
        str(m.other_failures + c.other_failures),
        f"{m.p(50):.0f}", f"{m.p(99):.0f}", f"{m.max_ms:.0f}",
        str(o.answered), str(o.refused), str(o.lost), f"{o.drain_s:.1f}" + ("" if o.drained else "+"),
        str(len(c.samples)), str(len(c.samples) - r.failures(c)), f"{c.p(50):.0f}", f"{c.max_ms:.0f}",
    ]


def render(results: Sequence[LoadResult], notes: Sequence[str], rate: float, seconds: float) -> str:
    lines = [
        f"Load: {rate:g} signed app_mention events/s for {seconds:g} s, plus one signed `/finetune status` "
        "per second among them, open loop, against the bot in a process of its own.",
        f"Client: one separate process, urllib, a new connection per request, {SLACK_TIMEOUT:g} s timeout. "
        "Latencies in ms (send -> full response), failed requests at their elapsed time.",
        "resets/timeouts/other count every request (mentions and commands); answered/refused/lost = the questions "
        "once the bot's work drained ('+' = drain limit hit); <=3 s = status commands Slack would count as acknowledged.",
        "",
        "  ".join(name.rjust(width) for name, width in COLUMNS),
    ]
    for r in results:
        lines.append("  ".join(cell.rjust(width) for cell, (_, width) in zip(table_row(r), COLUMNS, strict=True)))
    lines.append("")
    lines.extend(notes)
    misses = goal_misses(results)
    goal = "0 resets, 0 lost, every /finetune status acknowledged within 3 s, on each database"
    lines.append(f"Goal ({goal}): " + ("MET" if not misses and results else "NOT MET - " + "; ".join(misses or ["no run"])))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="length of the burst (default 10)")
    parser.add_argument("--rate", type=float, default=RATE, help="mentions per second (default 100)")
    parser.add_argument("--databases", type=lambda raw: [d.strip() for d in raw.split(",") if d.strip()],
                        default=list(DATABASES), help="sqlite, postgresql or both (default both)")
    args = parser.parse_args(argv)
    unknown = [d for d in args.databases if d not in DATABASES]
    if unknown:
        parser.error(f"unknown database {', '.join(unknown)}: choose from {', '.join(DATABASES)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results: list[LoadResult] = []
    notes: list[str] = []
    with spawned_client() as client, tempfile.TemporaryDirectory(prefix="finetune-bot-load-") as tmp:
        for database in args.databases:
            outcome = run_on(database, Path(tmp), args.rate, args.seconds, client)
            if isinstance(outcome, str):
                notes.append(outcome)
            else:
                results.append(outcome)
    print(render(results, notes, args.rate, args.seconds))


if __name__ == "__main__":
    main()
