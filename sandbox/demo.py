"""`finetune-bot sandbox --demo`: the whole loop played by script through the stand-ins, as a transcript."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TextIO

from finetune.clock import ManualClock
from sandbox.offline import sandbox_stack
from sandbox.stack import LocalStack

PRODUCTS = [
    "a portable Bluetooth speaker",
    "a new ergonomic office chair",
    "a stainless steel water bottle",
    "a mechanical keyboard",
    "a robot vacuum cleaner",
    "a pair of trail running shoes",
    "a cast iron skillet",
    "a smart LED desk lamp",
    "a waterproof hiking backpack",
    "an electric kettle",
]
FINAL_QUESTION = "Review this product: a noise-cancelling headphone"
ENTHUSIASTIC = re.compile(r"!|amazing|love|incredible|game-changer", re.IGNORECASE)


def _model(message: dict) -> str:
    for block in message.get("blocks") or []:
        if block.get("type") == "context":
            found = re.search(r"`([^`]+)`", block["elements"][0]["text"])
            if found:
                return found.group(1)
    return "?"


def _short(text: str, width: int = 150) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _bot_posts(stack: LocalStack, seen: int) -> list[str]:
    posts = [m["text"] for m in stack.slack.messages("C0GENERAL") if m.get("bot_id") and "thread_ts" not in m]
    return posts[seen:]


def _ask(stack: LocalStack, out: TextIO, question: str) -> dict:
    out.write(f"alice: @finetune-bot {question}\n")
    reply = stack.ask(question)
    out.write(f"  finetune-bot [{_model(reply)}]: {_short(reply['text'])}\n")
    return reply


def play(stack: LocalStack, out: TextIO) -> str:
    """Runs the script on a started stack with a manual clock; returns the model of the final reply."""
    out.write("== 1. Ten people ask; the bot answers with the base model ==\n")
    replies = [_ask(stack, out, f"Review this product: {product}") for product in PRODUCTS]
    before = _ask(stack, out, FINAL_QUESTION)

    out.write("\n== 2. Bob likes the answers and reacts with :+1: ==\n")
    for reply in replies:
        stack.approve(reply)
    stack.slack.wait_for(lambda: stack.services.pipeline.status().counts.approved == len(replies), timeout=10)
    out.write(f"bob reacted :+1: on {len(replies)} replies\n")
    out.write(_status(stack))

    out.write("\n== 3. The scheduled tick uploads the examples and starts a fine-tuning job ==\n")
    seen = 0
    stack.run_schedule(60)
    for post in _bot_posts(stack, seen):
        out.write(f"finetune-bot: {post}\n")
        seen += 1

    out.write("\n== 4. The job runs; the poller sees it succeed and the bot swaps its model ==\n")
    for _ in range(30):
        stack.run_schedule(2)
        if stack.services.pipeline.active_model().startswith("ft:"):
            break
    stack.services.notifier.flush()
    for post in _bot_posts(stack, seen):
        out.write(f"finetune-bot: {post}\n")

    out.write("\n== 5. The same question again, now answered by the fine-tuned model ==\n")
    after = _ask(stack, out, FINAL_QUESTION)
    out.write(f"\nbefore: [{_model(before)}] {_short(before['text'], 110)}\n")
    out.write(f"after:  [{_model(after)}] {_short(after['text'], 110)}\n")
    return _model(after)


def _status(stack: LocalStack) -> str:
    answer = stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")
    text = (answer.get("ack") or {}).get("text", "")
    return "alice: /finetune status\n" + "".join(f"  {line}\n" for line in text.splitlines())


def run_demo(out: TextIO) -> int:
    """A throwaway database and a clock the script moves: the transcript is the same on every run."""
    with tempfile.TemporaryDirectory(prefix="finetune-bot-demo-") as tmp:
        stack = sandbox_stack(f"sqlite:///{Path(tmp) / 'demo.db'}", clock=ManualClock(), manual_schedule=True)
        with stack:
            model = play(stack, out)
    ok = model.startswith("ft:")
    out.write("\nThe loop is closed: the last reply came from the fine-tuned model.\n" if ok else "\nThe model was not swapped.\n")
    return 0 if ok else 1
