"""How fast the bot acknowledges events under load, beside a bare Bolt app, in one run and one table.

Slack redelivers an event that is not acknowledged (HTTP 200) within 3 s, and in the end disables the
app. Goal: at every rate the bot's ack p99 is within 1.25x the bare app's and never above 1 s, no
request is reset, and every event is answered or visibly refused, none lost. The table prints the
figures whether or not the goal is met.

Run with `make bench-ack`, or `python -m bench.ack_bench [--seconds 10] [--rates 10,30,100]`.
Everything is local: the real bot over loopback against both stand-ins, on a fresh SQLite file. The bot
(`python -m bot run`) and the bare app each run in a process of their own, the stand-ins in this one (at a
lower CPU priority: in production they are other machines) and the load generator in another, so no app
shares its interpreter, or its share of the cores, with Slack's or the model's side.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bench.ack_client import SLACK_TIMEOUT, Load, Sample, pool_size, send_open_loop, spawned_client
from finetune.clock import SystemClock
from sandbox.app_process import AppProcess
from sandbox.stack import LocalStack
from storage.db import Database
from storage.enums import ReplyStatus
from storage.models import Reply

CHANNEL = "C0GENERAL"
ASKER = "U0ALICE"
RATES = (10.0, 30.0, 100.0)
SECONDS = 10.0
DRAIN_LIMIT = 60.0  # seconds to wait, after a bot run, for its work to finish
QUIET = 2.0  # nothing pending and nothing moving for this long: the bot is done
GOAL_RATIO = 1.25
GOAL_P99_MS = 1000.0
CLIENT_KEPT_UP = 0.95  # below this share of the asked rate, a run measured a lighter load than it claims

Client = Callable[[str, str, Sequence[bytes], float], list[Sample]]
log = logging.getLogger("bench.ack_bench")
_gadgets = itertools.count(1)


# --------------------------------------------------------------------------- the two apps


@dataclass
class Apps:
    """The stand-ins (in this process), and the bot and the bare app, each a process of its own on loopback.

    db reads the bot's database, to sort its questions into answered, refused and lost.
    """

    stack: LocalStack
    bot: AppProcess
    bare: AppProcess
    db: Database

    @property
    def signing_secret(self) -> str:
        return self.stack.slack.signing_secret


@contextmanager
def running_apps(tmp_dir: Path, database_url: str | None = None, *, stand_ins_yield: bool = False) -> Iterator[Apps]:
    """The stand-ins, the bot (`python -m bot run`, as in production) and the bare app.

    The bot's database is `database_url` (an empty PostgreSQL database, say), else a fresh SQLite file.
    stand_ins_yield: the stand-ins' threads run at a lower CPU priority (the benchmarks; a test process
    keeps its threads as they are).
    """
    url = database_url or f"sqlite:///{tmp_dir / 'ack-bench.db'}"
    stack = LocalStack(url, clock=SystemClock()).start(bot=False)
    try:
        slack = stack.slack
        bare_env = {"SLACK_SIGNING_SECRET": slack.signing_secret, "SLACK_BOT_TOKEN": slack.bot_token,
                    "SLACK_API_URL": slack.api_url}
        with AppProcess.bot(stack.bot_env(), tmp_dir, log_level="WARNING") as bot, \
                AppProcess(["-m", "bench.bare_app"], bare_env, tmp_dir) as bare:
            if stand_ins_yield:
                stand_ins_yield_the_cpu()
            db = Database(stack.database_url, create_folder=False)
            try:
                yield Apps(stack, bot, bare, db)
            finally:
                db.dispose()
                bot.stop()
                bare.stop()
    finally:
        stack.stop()


def stand_ins_yield_the_cpu() -> None:
    """In production Slack and the model provider are other machines; here their stand-ins share the apps'
    cores. Their threads (and the request threads they start, which inherit it) move to the kernel's idle
    scheduling class, so they use the CPU the apps leave and their work does not count against the bot's
    acks. The thread running the benchmark stays as it is; the load generator is a process of its own."""
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.native_id is None:
            continue
        try:
            os.sched_setscheduler(thread.native_id, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError) as exc:  # a thread that just ended, or a system that does not allow it: measured as is
            log.debug("could not lower the priority of %s: %s", thread.name, exc)


# --------------------------------------------------------------------------- traffic


def mention_event(stack: LocalStack, ts: str, text: str) -> dict:
    """An app_mention as Slack sends it for a person's message (see SlackStub._app_mention_event)."""
    return {
        "type": "app_mention", "user": ASKER, "ts": ts, "client_msg_id": f"bench-{ts}", "text": text,
        "team": stack.slack.team_id, "blocks": _rich_text(stack.slack.bot_user_id, text, ts),
        "channel": CHANNEL, "event_ts": ts,
    }


def _rich_text(bot_user_id: str, text: str, ts: str) -> list[dict]:
    """The rich_text block a Slack client attaches: so bodies weigh what real ones do."""
    rest = text.split(">", 1)[-1]
    return [{"type": "rich_text", "block_id": ts.replace(".", "")[-5:], "elements": [{
        "type": "rich_text_section",
        "elements": [{"type": "user", "user_id": bot_user_id}, {"type": "text", "text": rest}],
    }]}]


def question_text(stack: LocalStack) -> str:
    return f"<@{stack.slack.bot_user_id}> Review this product: gadget {next(_gadgets)}"


def post_questions(stack: LocalStack, count: int) -> list[dict]:
    """Store `count` questions in the channel without the stand-in delivering them.

    Workspace.post only stores; SlackStub.post_as_user would also deliver message + app_mention,
    and here the benchmark must be the one sending, to time each request. The messages have to
    exist, or the bot's threaded replies would be thread_not_found.
    """
    events = []
    for _ in range(count):
        ts, text = stack.slack.workspace.next_ts(), question_text(stack)
        event = mention_event(stack, ts, text)
        message = {k: event[k] for k in ("user", "ts", "client_msg_id", "text", "team", "blocks")}
        stack.slack.workspace.post(CHANNEL, dict(message, type="message"))
        events.append(event)
    return events


def unstored_events(stack: LocalStack, count: int) -> list[dict]:
    """Mentions of the same shape for the bare app, which never replies, so nothing is stored."""
    return [mention_event(stack, stack.slack.workspace.next_ts(), question_text(stack)) for _ in range(count)]


def encode(stack: LocalStack, events: Sequence[dict]) -> list[bytes]:
    """Each event in its event_callback envelope (a fresh event_id each), encoded up front."""
    return [json.dumps(stack.slack.event_body(event)).encode("utf-8") for event in events]


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcomes:
    """What became of the bot's questions once its work drained."""

    answered: int
    refused: int  # a bot post in the thread whose reply record is not 'answered'
    lost: int  # no bot post in the thread at all
    drain_s: float  # from the end of the run until the bot went quiet
    drained: bool  # False when DRAIN_LIMIT ran out first

    @property
    def total(self) -> int:
        return self.answered + self.refused + self.lost


def reply_states(db: Database, source_ts: Sequence[str]) -> dict[str, str]:
    """Reply.status by question ts, for those that have a reply record."""
    states: dict[str, str] = {}
    with db.session() as session:
        for i in range(0, len(source_ts), 500):  # keep under SQLite's bound-parameter limit
            chunk = list(source_ts[i:i + 500])
            rows = session.execute(
                select(Reply.source_ts, Reply.status).where(Reply.channel == CHANNEL, Reply.source_ts.in_(chunk))
            )
            states.update({ts: status for ts, status in rows})
    return states


def wait_until_quiet(apps: Apps, source_ts: Sequence[str], limit: float = DRAIN_LIMIT) -> tuple[float, bool]:
    """Poll until no reply is pending and nothing (replies, deliveries) has moved for QUIET seconds.

    Not "until all are answered": a lost event never gets a record, and waiting for it would only
    burn the limit. Returns (seconds waited, whether it went quiet before the limit).
    """
    started = time.monotonic()
    last, still_since = None, started
    while True:
        states = reply_states(apps.db, source_ts)
        pending = sum(1 for s in states.values() if s == ReplyStatus.PENDING)
        signature = (len(states), pending, len(apps.stack.slack.deliveries))
        now = time.monotonic()
        if signature != last:
            last, still_since = signature, now
        elif pending == 0 and now - still_since >= QUIET:
            return still_since - started, True
        if now - started >= limit:
            return now - started, False
        time.sleep(0.25)


def bot_threads(stack: LocalStack) -> set[str]:
    """Thread roots in the channel that hold at least one message of the bot's: what a person sees."""
    bot = stack.slack.bot_user_id
    messages = stack.slack.snapshot()["workspace"]["messages"].get(CHANNEL, [])
    return {m["thread_ts"] for m in messages if m.get("user") == bot and m.get("thread_ts") not in (None, m["ts"])}


def count_outcomes(apps: Apps, source_ts: Sequence[str], limit: float = DRAIN_LIMIT) -> Outcomes:
    """Wait (bounded) for the bot's work to drain, then sort each question into answered/refused/lost."""
    waited, drained = wait_until_quiet(apps, source_ts, limit)
    states, threads = reply_states(apps.db, source_ts), bot_threads(apps.stack)
    answered = refused = lost = 0
    for ts in source_ts:
        if ts not in threads:
            lost += 1
        elif states.get(ts) == ReplyStatus.ANSWERED:
            answered += 1
        else:
            refused += 1
    return Outcomes(answered, refused, lost, waited, drained)


# --------------------------------------------------------------------------- one rate


@dataclass(frozen=True)
class RateResult:
    rate: float
    bare: Load
    bot: Load
    outcomes: Outcomes

    @property
    def p99_ratio(self) -> float:
        bare = self.bare.p(99)
        return self.bot.p(99) / bare if bare > 0 else math.inf


def measure_rate(apps: Apps, rate: float, seconds: float, client: Client = send_open_loop) -> RateResult:
    """The bare app, then the bot (never both at once), each for `seconds` of open-loop traffic at
    `rate`; then the bot's outcomes once its work has drained, so the next rate starts from quiet."""
    count = max(1, round(rate * seconds))
    stack = apps.stack
    bare = Load(client(apps.bare.url, apps.signing_secret, encode(stack, unstored_events(stack, count)), rate))
    questions = post_questions(stack, count)
    bot = Load(client(apps.bot.url, apps.signing_secret, encode(stack, questions), rate))
    outcomes = count_outcomes(apps, [q["ts"] for q in questions])
    return RateResult(rate, bare, bot, outcomes)


def warm_up(apps: Apps, client: Client) -> None:
    """A few requests to each app first, so lazy start-up costs are in no measured run."""
    measure_rate(apps, 5.0, 1.0, client)


# --------------------------------------------------------------------------- the table


def goal_misses(results: Sequence[RateResult]) -> list[str]:
    """Each way the goal is missed, in words; empty when it is met."""
    misses = []
    for r in results:
        at = f"{r.rate:g}/s"
        if not r.p99_ratio <= GOAL_RATIO:
            misses.append(f"p99 ratio {r.p99_ratio:.2f} > {GOAL_RATIO} at {at}")
        if not r.bot.p(99) <= GOAL_P99_MS:
            misses.append(f"bot p99 {r.bot.p(99):.0f} ms > {GOAL_P99_MS:.0f} ms at {at}")
        if r.outcomes.lost:
            misses.append(f"{r.outcomes.lost} lost at {at}")
        for name, load in (("bare", r.bare), ("bot", r.bot)):
            if load.count("reset"):
                misses.append(f"{load.count('reset')} {name} resets at {at}")
    return misses


def client_warnings(results: Sequence[RateResult]) -> list[str]:
    """Runs where the client itself did not keep to its schedule: their latencies understate the load."""
    late = []
    for r in results:
        for name, load in (("bare", r.bare), ("bot", r.bot)):
            if not load.send_rate >= CLIENT_KEPT_UP * r.rate:
                late.append(f"{name} at {r.rate:g}/s sent only {load.send_rate:.1f}/s")
    return late


COLUMNS = (
    ("rate/s", 6), ("sent/s bare", 11), ("sent/s bot", 10), ("lag ms", 6),
    ("bare p50", 8), ("p99", 7), ("max", 7), ("bot p50", 8), ("p99", 7), ("max", 7), ("p99 x", 6),
    ("resets b/bot", 12), ("timeouts b/bot", 14), ("other b/bot", 11),
    ("answered", 8), ("refused", 7), ("lost", 5), ("drain s", 7),
)


def table_row(r: RateResult) -> list[str]:
    o = r.outcomes
    drain = f"{o.drain_s:.1f}" + ("" if o.drained else "+")
    return [
        f"{r.rate:g}", f"{r.bare.send_rate:.1f}", f"{r.bot.send_rate:.1f}",
        f"{max(r.bare.max_lag_ms, r.bot.max_lag_ms):.0f}",
        f"{r.bare.p(50):.1f}", f"{r.bare.p(99):.1f}", f"{r.bare.max_ms:.1f}",
        f"{r.bot.p(50):.1f}", f"{r.bot.p(99):.1f}", f"{r.bot.max_ms:.1f}", f"{r.p99_ratio:.2f}",
        f"{r.bare.count('reset')}/{r.bot.count('reset')}", f"{r.bare.count('timeout')}/{r.bot.count('timeout')}",
        f"{r.bare.other_failures}/{r.bot.other_failures}",
        str(o.answered), str(o.refused), str(o.lost), drain,
    ]


def render(results: Sequence[RateResult], seconds: float) -> str:
    """The header that says how it was measured, the table, and the goal line."""
    threads = "/".join(f"{pool_size(r.rate)}" for r in results)
    lines = [
        f"Ack latency (send -> full HTTP response), open loop, {seconds:g} s per rate. At each rate the bare "
        "Bolt app runs first, then the bot, never both at once.",
        f"Client: one separate process, urllib, a new connection per request, {SLACK_TIMEOUT:g} s timeout, "
        f"{threads} threads per rate. Latencies in ms and include failed requests at their elapsed time.",
        "sent/s = rate the client achieved; lag = how late the latest request left; "
        "answered/refused/lost = the bot's questions once drained ('+' = drain limit hit).",
        "",
    ]
    header = [name.rjust(width) for name, width in COLUMNS]
    lines.append("  ".join(header))
    for r in results:
        lines.append("  ".join(cell.rjust(width) for cell, (_, width) in zip(table_row(r), COLUMNS, strict=True)))
    misses, late = goal_misses(results), client_warnings(results)
    goal = f"bot ack p99 <= {GOAL_RATIO}x bare and <= {GOAL_P99_MS:.0f} ms at every rate, 0 lost, 0 resets"
    lines.append("")
    if late:
        lines.append("Note: the client fell behind its schedule: " + "; ".join(late))
    lines.append(f"Goal ({goal}): " + ("MET" if not misses else "NOT MET - " + "; ".join(misses)))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def run(rates: Sequence[float], seconds: float, client: Client) -> list[RateResult]:
    with tempfile.TemporaryDirectory(prefix="finetune-bot-ack-") as tmp, \
            running_apps(Path(tmp), stand_ins_yield=True) as apps:
        warm_up(apps, client)
        return [measure_rate(apps, rate, seconds, client) for rate in rates]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="traffic per rate and app (default 10)")
    parser.add_argument("--rates", type=lambda raw: [float(r) for r in raw.split(",") if r.strip()],
                        default=list(RATES), help="events per second, comma-separated (default 10,30,100)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with spawned_client() as client:
        results = run(args.rates, args.seconds, client)
    print(render(results, args.seconds))


if __name__ == "__main__":
    main()
