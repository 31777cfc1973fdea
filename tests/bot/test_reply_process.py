"""`finetune-bot run` answers in a reply process of its own, so its acks never wait behind answers.

The bot is the real `python -m bot run` against the stand-ins; the reply process is its forked child.
It answers the questions; if it ends, the bot says so once and answers in its own process; it never
outlives the bot (kill -9 included); a clean stop ends both.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time

import pytest

from bot.questions import Question
from bot.replies import ReplyOrder
from bot.reply_process import ReplyProcess
from sandbox.stack import LocalStack
from tests.support.bot_process import BotProcess

STARTED = re.compile(r"reply process started \(pid (\d+)\)")


def reply_pid(bot: BotProcess) -> int:
    found = STARTED.search(bot.output())
    assert found, bot.output()[-3000:]
    return int(found.group(1))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped) has gone too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # waiting for a real process to end
    return True


def ask(stack: LocalStack, product: str) -> dict:
    question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}> Review this product: {product}")
    return stack.slack.wait_for(lambda: next((m for m in stack.slack.thread("C0GENERAL", question["ts"])
                                              if m.get("bot_id") and product in m.get("text", "")), None), timeout=20)


@pytest.fixture
def standins(database_url):
    """The stand-ins alone: the bot is the process each test starts."""
    started = LocalStack(database_url).start(bot=False)
    yield started
    started.stop()


def test_questions_are_answered_and_when_the_reply_process_ends_the_bot_answers_itself(standins, tmp_path):
    with BotProcess(standins, tmp_path) as bot:
        pid = reply_pid(bot)
        assert pid != bot._process.pid and alive(pid)
        assert "a desk lamp" in ask(standins, "a desk lamp")["text"]

        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        assert "a tea kettle" in ask(standins, "a tea kettle")["text"], "no question is dropped"
        assert "a yoga mat" in ask(standins, "a yoga mat")["text"]
        output = bot.output()
        assert output.count("the reply process has ended") == 1, output[-3000:]
        assert "Traceback" not in output


def test_the_reply_process_never_outlives_the_bot(standins, tmp_path):
    with BotProcess(standins, tmp_path) as bot:
        pid = reply_pid(bot)
        ask(standins, "a bike helmet")
        bot.kill()
    assert wait_gone(pid), "kill -9 of the bot left its reply process running"


def test_a_clean_stop_ends_both_processes(standins, tmp_path):
    bot = BotProcess(standins, tmp_path).start()
    pid = reply_pid(bot)
    ask(standins, "a rice cooker")
    bot.stop()
    assert bot._process.returncode == 0 and wait_gone(pid)
    assert "Traceback" not in bot.output()


def test_reply_process_false_answers_in_the_serving_process(standins, tmp_path):
    bot = BotProcess(standins, tmp_path)
    bot.env["REPLY_PROCESS"] = "false"
    with bot:
        assert "a sleep mask" in ask(standins, "a sleep mask")["text"]
        assert not STARTED.search(bot.output())


def test_orders_the_reply_process_never_read_are_taken_again_here_when_it_ends():
    """A process that ends with orders unread in its pipe: each is taken again in the serving process
    (there the event-id claim skips any it had finished), without waiting for the next question."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    ends_unread = context.Process(target=time.sleep, args=(0.5,), daemon=True)  # holds the pipe, reads nothing
    ends_unread.start()
    receiver.close()
    taken_here: list[ReplyOrder] = []

    class Here:
        def take(self, order: ReplyOrder) -> None:
            taken_here.append(order)

    replies = ReplyProcess(ends_unread, sender)
    replies.answer_here_if_gone(Here())
    orders = [ReplyOrder(f"Ev{n}", Question("C0GENERAL", "U0ALICE", f"question {n}", f"1.00000{n}", None, "T0"), "U0BOT")
              for n in range(3)]
    for order in orders:
        replies.take(order)
    deadline = time.monotonic() + 10
    while len(taken_here) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # the watcher notices the process end
    assert taken_here == orders
    replies.take(late := ReplyOrder("Ev9", orders[0].question, "U0BOT"))
    assert taken_here[-1] == late, "later orders are answered here"
