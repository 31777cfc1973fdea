"""Smoke test of the ack benchmark's core: one low rate, about a second per app, in-process client."""
from __future__ import annotations

from pathlib import Path

from bench.ack_bench import measure_rate, render, running_apps
from bench.ack_client import send_open_loop


def test_one_low_rate_gives_a_latency_per_request_and_an_outcome_per_question(tmp_path: Path) -> None:
    with running_apps(tmp_path) as apps:
        result = measure_rate(apps, rate=5, seconds=1, client=send_open_loop)

    for load in (result.bare, result.bot):
        assert len(load.samples) == 5
        assert all(s.latency_ms > 0 for s in load.samples)
        assert sorted(s.due for s in load.samples) == [s.due for s in load.samples]
    outcomes = result.outcomes
    assert outcomes.answered + outcomes.refused + outcomes.lost == len(result.bot.samples)
    assert outcomes.drained
    assert "Goal (" in render([result], seconds=1)
