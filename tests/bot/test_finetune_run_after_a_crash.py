"""After a crash, `/finetune run` waits out the dead process's lease instead of saying another process works."""
from __future__ import annotations

import logging

from storage.models import Notification
from tests.support.processes import BotProcess
from tests.support.products import PRODUCTS
from tests.support.slack import wait_for_approved
from tests.support.waiting import wait_until


def test_finetune_run_right_after_a_crash_starts_the_job_instead_of_claiming_another_process_works(
        stack, database_url, clock, caplog):
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)
    crashed = BotProcess("lease", database_url, clock.now().isoformat())  # the old bot, mid-step...
    crashed.go()
    assert crashed.said() == "held"
    crashed.kill9()  # ...killed: its lease stays behind, unrenewed
    caplog.set_level(logging.INFO)
    before = len(stack.slack.ephemerals)
    stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "run")

    def answers() -> list[str]:
        return [e["text"] for e in stack.slack.ephemerals[before:] if e["source"] != "ack"]

    wait_until(lambda: "another bot process is working" in caplog.text.lower() or answers())  # it met the lease
    assert answers() == []  # no "another bot process is working" for a process that is gone: it waits
    clock.advance(16)  # the dead holder's heartbeat stays silent: its lease runs out within seconds
    [answer] = stack.slack.wait_for(answers, timeout=20)
    assert "submitted" in answer, answer
    assert len(stack.openai.jobs()) == 1
    wait_until(lambda: _sent(stack) == ["job_submitted"])  # and the listener's last step, the notification, is done


def _sent(stack) -> list[str]:
    with stack.services.db.session() as session:
        return [n.kind for n in session.query(Notification).filter(Notification.sent_at.is_not(None))]
