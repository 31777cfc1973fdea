"""`finetune-bot sandbox --demo`: the whole loop played by script through the stand-ins, as a transcript."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TextIO

from sandbox.clock import ManualClock
from sandbox.offline import sandbox_stack
from sandbox.reply_metadata import answered_by
from sandbox.stack import LocalStack

# What the team would rather read: the seed article's enthusiastic reviewer, written by hand.
TEAM_ANSWERS = {
    "a portable Bluetooth speaker": "Get ready to be blown away by this portable Bluetooth speaker! The sound is OUTSTANDING "
    "for its size, crisp highs and surprisingly deep bass, and the battery lasts for hours. Your new best friend!",
    "a new ergonomic office chair": "Oh my goodness, this ergonomic office chair is an absolute DREAM! The lumbar support "
    "is just chef's kiss, and the armrests? Pure genius! If you sit all day, you NEED this chair!",
    "a stainless steel water bottle": "This stainless steel water bottle is a total game-changer! Ice-cold water all day, "
    "not a single leak, and it looks gorgeous. Hydration has never been this fun!",
    "a mechanical keyboard": "Typing on this mechanical keyboard is pure JOY! Every key has the most satisfying click, "
    "and the build feels rock solid. You'll want to write novels just to use it!",
    "a robot vacuum cleaner": "This robot vacuum cleaner is my new favourite housemate! It glides around, dodges every "
    "obstacle and leaves the floors spotless. Coming home to clean floors is pure bliss!",
    "a pair of trail running shoes": "These trail running shoes are INCREDIBLE! The grip is unreal on mud and rock, and "
    "the cushioning makes every mile feel effortless. Adventure is calling!",
    "a cast iron skillet": "This cast iron skillet is a kitchen HERO! The sear it gives a steak is phenomenal, and it "
    "only gets better with every use. A true heirloom in the making!",
    "a smart LED desk lamp": "This smart LED desk lamp is brilliant, literally! The light is soft on the eyes, the "
    "colours are gorgeous, and it dims with a tap. My desk has never looked better!",
    "a waterproof hiking backpack": "This waterproof hiking backpack is an adventurer's DREAM! It shrugged off a "
    "downpour, fits everything, and feels weightless on the trail. Pack it and go!",
    "an electric kettle": "This electric kettle is FAST! Boiling water in a flash, a sleek look, and the auto shut-off "
    "gives total peace of mind. Tea time just became the best part of the day!",
}
PRODUCTS = list(TEAM_ANSWERS)
FINAL_QUESTION = "Review this product: a noise-cancelling headphone"


def _model(message: dict) -> str:
    """The model named in the reply's metadata, never read off its text."""
    return answered_by(message) or "?"


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

    out.write("\n== 2. Bob finds them bland and replies `better: …` in each thread; Alice approves with :+1: ==\n")
    for product, reply in zip(PRODUCTS, replies, strict=True):
        better = stack.slack.post_as_user("U0BOB", "C0GENERAL", f"better: {TEAM_ANSWERS[product]}", thread_ts=reply["thread_ts"])
        posted = stack.reply_to("C0GENERAL", better["ts"])
        stack.approve(posted, user="U0ALICE")
        out.write(f"bob: better: {_short(TEAM_ANSWERS[product], 100)}\n  alice reacted :+1:\n")
    stack.slack.wait_for(lambda: stack.services.pipeline.status().counts.approved == len(replies), timeout=10)
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
        if stack.services.reply_model.current().startswith("ft:"):
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
