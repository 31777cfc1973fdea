"""Socket Mode, the default for users: events and commands arrive over the WebSocket and are acknowledged."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.stack import LocalStack


@pytest.fixture
def socket_stack(tmp_path, clock) -> Iterator[LocalStack]:
    with LocalStack(f"sqlite:///{tmp_path / 'bot.db'}", clock=clock, socket_mode=True) as running:
        yield running


def test_a_mention_over_socket_mode_is_answered_and_acknowledged(socket_stack):
    assert socket_stack.slack.calls_to("apps.connections.open")
    reply = socket_stack.ask("Review this product: a portable Bluetooth speaker")
    assert "portable Bluetooth speaker" in reply["text"]
    assert socket_stack.server is None  # no HTTP endpoint in this mode
    deliveries = socket_stack.slack.deliveries
    assert deliveries and all(d.transport == "socket" and d.status == 200 and not d.timed_out for d in deliveries)


def test_slash_commands_over_socket_mode_answer_in_the_ack(socket_stack):
    answer = socket_stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")
    assert "Fine-tuning status" in answer["ack"]["text"]
