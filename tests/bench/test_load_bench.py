"""Smoke test of the load run's core: a short, light burst with a `/finetune status` in it, in-process client."""
from __future__ import annotations

from pathlib import Path

from bench.ack_bench import running_apps
from bench.load_bench import measure, render
from sandbox.slack_driver import EventsDriver


def test_a_short_burst_sorts_every_question_and_times_the_status_command(tmp_path: Path) -> None:
    with running_apps(tmp_path) as apps:
        result = measure(apps, "sqlite", rate=10, seconds=2)

    assert len(result.mentions.samples) == 20
    assert len(result.commands.samples) == 2  # one per second's worth of mentions
    assert all(s.status == 200 and s.acked for s in result.commands.samples)
    outcomes = result.outcomes
    assert outcomes.answered + outcomes.refused + outcomes.lost == 20
    assert outcomes.lost == 0 and outcomes.drained
    table = render([result], ["PostgreSQL skipped: for this test"], rate=10, seconds=2)
    assert "PostgreSQL skipped" in table and "Goal (" in table


def test_the_command_form_is_the_one_slack_sends_and_the_bot_answers_it_with_the_status(tmp_path: Path) -> None:
    with running_apps(tmp_path) as apps:
        form = apps.stack.slack.command_form("U0ALICE", "C0GENERAL", "/finetune", "status")
        assert form["response_url"].startswith(apps.stack.slack.base_url)
        status, body = EventsDriver(apps.bot.url, apps.signing_secret).post_command(form)
    assert status == 200
    assert "*Fine-tuning status*" in body  # a plain-text ack, as Slack allows for slash commands
