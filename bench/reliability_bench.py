"""The reliability run: per area, how many attacks and faults were tried against the real bot, and how many it held.

Each scenario is one of the tests under tests/ that drive the real app over HTTP on loopback (forged
and malformed requests, redeliveries, bad input, kill -9 during a reply and during a submission, Slack
and provider faults, two processes on one database, what goes out, who may steer), on SQLite and on
PostgreSQL where a test runs on both. "Held" means the test's assertions passed: the bot did what the
README promises. The last area is the load run (bench/load_bench.py): every request of 100 signed
mentions/s for 10 s, with a `/finetune status` each second, on each database; a request held when it was
acknowledged within Slack's 3 s and its question was answered or visibly refused.

Run with `make bench-reliability`, or `python -m bench.reliability_bench [--no-load]`. Bounded: the
scenarios take a few minutes, the load run about a minute per database. Nothing leaves loopback.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.ack_client import spawned_client
from bench.load_bench import DATABASES, RATE, SECONDS, LoadResult, run_on

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Area:
    """One area of the run: per test file, which of its tests (a regular expression on the name) belong to it."""

    name: str
    picks: tuple[tuple[str, str], ...]  # (test file, pattern); the first area that picks a test takes it

    @property
    def files(self) -> set[str]:
        return {file for file, _ in self.picks}

    def takes(self, file: str, test: str) -> bool:
        return any(file == f and re.search(pattern, test) for f, pattern in self.picks)


BOT, FINETUNE, STORAGE = "tests/bot/", "tests/finetune/", "tests/storage/"
ALL = ".*"

AREAS = (
    Area("forged and malformed requests", (
        (BOT + "test_what_gets_in.py", r"forged|signature|timestamp_that|not_json|over_the_cap|nested|at_info"),
        (BOT + "test_bad_input.py", r"signature"))),
    Area("redeliveries and replays", (
        (BOT + "test_core_loop.py", r"delivered_again"), (BOT + "test_reply_restart.py", r"redeliver"),
        (BOT + "test_what_gets_in.py", r"replayed"))),
    Area("bad input", (
        (BOT + "test_bad_input.py", r"empty_mention"),
        (BOT + "test_what_gets_in.py", r"timestamps_are_not|nul_bytes|cannot_be_read"),
        (STORAGE + "test_what_is_stored.py", ALL), (FINETUNE + "test_redaction.py", ALL))),
    Area("kill -9 during a reply", ((BOT + "test_reply_restart.py", ALL), (BOT + "test_reply_process.py", ALL))),
    Area("kill -9 during a submission", (
        (FINETUNE + "test_lease.py", ALL), (BOT + "test_finetune_run_after_a_crash.py", ALL),
        (BOT + "test_notifier.py", r"kill"), (BOT + "test_core_loop.py", r"restart"),
        (FINETUNE + "test_pipeline.py", r"dead_process"))),
    Area("Slack faults", (
        (BOT + "test_reply_faults.py", ALL), (BOT + "test_slack_retry.py", ALL),
        (BOT + "test_notifier.py", r"lost|refuses"), (BOT + "test_bad_input.py", r"slack_failure|slack_refuses"))),
    Area("provider faults", (
        (BOT + "test_bad_input.py", r"refused_job|lost_answer|rate_limited|provider_rejects|openai_error"),
        (BOT + "test_core_loop.py", r"failed_job|no_longer_serves"),
        (FINETUNE + "test_pipeline.py", r"transient|lost_create|refused_read|refusal_pauses|created_but_never"),
        (FINETUNE + "test_backend_contract.py", r"lost_answer|refusal|passing_errors|failed_run"),
        (FINETUNE + "backends/test_together.py", r"permanent|lost|passing_answer|unreachable|never_retries|wrong_key"))),
    Area("two processes on one database", (
        (BOT + "test_notifier.py", r"two_"), (FINETUNE + "test_pipeline.py", r"two_processes"),
        (STORAGE + "test_migrations.py", r"together"), (STORAGE + "test_queries.py", r"only_one_process|claimed_by_one"))),
    Area("what goes out", ((BOT + "test_what_goes_out.py", ALL), (BOT + "test_logging.py", ALL))),
    Area("who may steer", ((BOT + "test_steering.py", ALL), (FINETUNE + "test_stewards.py", ALL))),
)


@dataclass
class Tally:
    tried: int = 0
    held: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    unit: str = "scenarios"  # what one tried counts: a test's scenario, or one request of the load run


def area_of(file: str, test: str) -> Area | None:
    return next((area for area in AREAS if area.takes(file, test)), None)


def picked_tests() -> list[str]:
    """The node ids of every test some area takes, from pytest's own collection of the areas' files."""
    files = sorted({f for area in AREAS for f in area.files})
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
                               cwd=ROOT, capture_output=True, text=True, check=False).stdout
    node_ids = [line.strip() for line in collected.splitlines() if "::" in line]
    return [node for node in node_ids if area_of(*node.split("::", 1)) is not None]


def run_scenarios(node_ids: Sequence[str], report: Path) -> int:
    """The picked tests through pytest, in a process of its own; its exit status."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *node_ids]
    return subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode


def tally_scenarios(report: Path) -> dict[str, Tally]:
    """pytest's junit report, sorted into areas (a test no area takes is left out: it is not an attack)."""
    tallies = {area.name: Tally() for area in AREAS}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "")
        file = _module_file(module)
        test = case.get("name", "")
        area = area_of(file, test)
        if area is None:
            continue
        tally = tallies[area.name]
        if case.find("skipped") is not None:
            tally.skipped += 1
            continue
        tally.tried += 1
        if case.find("failure") is None and case.find("error") is None:
            tally.held += 1
        else:
            tally.failed.append(f"{file}::{test}")
    return tallies


def _module_file(classname: str) -> str:
    """tests.bot.test_x (or tests.bot.test_x.TestClass) -> tests/bot/test_x.py"""
    parts = classname.split(".")
    while parts and not parts[-1].startswith("test_"):
        parts.pop()
    return "/".join(parts) + ".py"


def tally_load(result: LoadResult) -> Tally:
    """Every request of the load run: held when acknowledged in time and, for a mention, not lost."""
    samples = [*result.mentions.samples, *result.commands.samples]
    tally = Tally(tried=len(samples), held=sum(1 for s in samples if s.acked), unit="requests")
    lost = result.outcomes.lost
    tally.held -= min(lost, tally.held)
    if tally.held < tally.tried:
        tally.failed.append(f"{tally.tried - tally.held} requests not acknowledged in time or questions lost "
                            f"on {result.database}")
    return tally


def render(tallies: dict[str, Tally], notes: Sequence[str]) -> str:
    width = max(len(name) for name in [*tallies, "all scenarios"])
    lines = ["Reliability: what was tried against the real bot over loopback, and what held.", "",
             f"{'area'.ljust(width)}  {'tried':>6}  {'held':>6}  {'skipped':>7}  unit"]
    for name, t in tallies.items():
        lines.append(f"{name.ljust(width)}  {t.tried:>6}  {t.held:>6}  {t.skipped:>7}  {t.unit}")
    scenarios = [t for t in tallies.values() if t.unit == "scenarios"]
    lines.append(f"{'all scenarios'.ljust(width)}  {sum(t.tried for t in scenarios):>6}  "
                 f"{sum(t.held for t in scenarios):>6}  {sum(t.skipped for t in scenarios):>7}  scenarios")
    failures = [f for t in tallies.values() for f in t.failed]
    lines.append("")
    lines.extend(notes)
    lines.append("Did not hold: " + "; ".join(failures) if failures else "Everything tried held.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--no-load", action="store_true", help="leave out the 100 events/s load run")
    args = parser.parse_args(argv)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="finetune-bot-reliability-") as tmp:
        report = Path(tmp) / "scenarios.xml"
        picked = picked_tests()
        if not picked:
            raise SystemExit("no scenarios found: pytest collected none of the areas' tests (run `make test` to see why)")
        run_scenarios(picked, report)
        if not report.exists():
            raise SystemExit("the scenarios did not run: pytest wrote no report (run `make test` to see why)")
        tallies = tally_scenarios(report)
        if not args.no_load:
            with spawned_client() as client:
                for database in DATABASES:
                    name = f"{RATE:g} events/s load, {database}"
                    outcome = run_on(database, Path(tmp), RATE, SECONDS, client)
                    if isinstance(outcome, str):
                        notes.append(outcome)
                        tallies[name] = Tally(skipped=1, unit="requests")
                    else:
                        tallies[name] = tally_load(outcome)
    print(render(tallies, notes))


if __name__ == "__main__":
    main()
