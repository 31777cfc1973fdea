"""Prints the figures quoted in the README: reply latency through the whole stack, and dataset/status costs.

Run with `make bench`. Everything is local: the real bot over loopback against both stand-ins, on SQLite.
"""
from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from finetune.backends.openai import OPENAI_MAX_EXAMPLE_TOKENS
from finetune.dataset import build_dataset
from finetune.tokens import counter_for
from sandbox.clock import ManualClock
from sandbox.offline import sandbox_stack
from sandbox.stack import LocalStack
from storage import queries
from storage.db import Database

QUESTIONS = 50
DATASET_SIZE = 5_000


def reply_latency(tmp: Path) -> None:
    with LocalStack(f"sqlite:///{tmp / 'latency.db'}", clock=ManualClock()) as stack:
        stack.ask("Review this product: a warm-up question")
        timings = []
        for n in range(QUESTIONS):
            started = time.perf_counter()
            stack.ask(f"Review this product: gadget number {n}")
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(f"reply round trip (mention -> finished threaded reply), {QUESTIONS} questions: "
          f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms")


def dataset_costs(tmp: Path) -> None:
    clock = ManualClock()
    db = Database(f"sqlite:///{tmp / 'dataset.db'}")
    db.migrate()
    with db.session() as session:
        for n in range(DATASET_SIZE):
            reply_id = queries.claim_reply(
                session, channel="C1", source_ts=f"1.{n:06d}", thread_ts=f"1.{n:06d}", user_id="U1", team_id=None,
                model="base", now=clock.now(),
                messages=[{"role": "system", "content": "You are a friendly and enthusiastic product reviewer."},
                          {"role": "user", "content": f"Review this product: gadget {n}"}],
            )
            queries.finish_reply(session, reply_id, text=f"Gadget {n} is wonderful! " * 20, model="base",
                                 now=clock.now(), ts=f"2.{n:06d}")
            reply = queries.get_reply(session, reply_id)
            queries.add_approval(session, reply, "U2", "+1", clock.now())
    counter = counter_for("gpt-4.1-mini-2025-04-14")
    counter.count("warm up")  # the tokenizer loads once per process
    tracemalloc.start()
    started = time.perf_counter()
    with db.session() as session:
        built = build_dataset(queries.curated_replies(session, approved_only=True),
                              max_example_tokens=OPENAI_MAX_EXAMPLE_TOKENS, holdout_min=50, counter=counter)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"dataset build (redaction, validation, deduplication, holdout), {DATASET_SIZE} approved examples: "
          f"{elapsed * 1000:.0f} ms, "
          f"{len(built.jsonl.encode()) / 1e6:.1f} MB of JSONL, peak Python memory {peak / 1e6:.0f} MB")
    started = time.perf_counter()
    for _ in range(20):
        with db.session() as session:
            queries.example_counts(session)
    print(f"example counts for /finetune status over {DATASET_SIZE} examples: {(time.perf_counter() - started) / 20 * 1000:.1f} ms")
    db.dispose()


def sandbox_loop(tmp: Path) -> None:
    """The offline sandbox's whole loop on the wall clock, as a person in the playground would run it."""
    started = time.perf_counter()
    with sandbox_stack(f"sqlite:///{tmp / 'sandbox.db'}") as stack:
        for n in range(10):
            stack.approve(stack.ask(f"Review this product: sandbox gadget {n}"))
        stack.slack.wait_for(lambda: stack.services.pipeline.status().counts.approved == 10, timeout=30)
        stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "run")
        stack.slack.wait_for(lambda: stack.services.reply_model.current().startswith("ft:"), timeout=110)
        reply = stack.ask("Review this product: one more gadget")
    assert "ft:" in str(reply["blocks"])
    print(f"offline sandbox loop on the wall clock (ask 10, approve 10, /finetune run, swap, ask again): "
          f"{time.perf_counter() - started:.1f} s")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="finetune-bot-bench-") as tmp:
        reply_latency(Path(tmp))
        dataset_costs(Path(tmp))
        sandbox_loop(Path(tmp))


if __name__ == "__main__":
    main()
