"""The reliability run sorts what pytest reports into its areas, and a scenario that did not hold is named."""
from __future__ import annotations

from pathlib import Path

from bench.reliability_bench import AREAS, area_of, picked_tests, render, tally_scenarios

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="tests.bot.test_what_gets_in" name="test_a_forged_request_is_one_log_line[sqlite]"/>
  <testcase classname="tests.bot.test_what_gets_in" name="test_a_forged_request_is_one_log_line[postgresql]">
    <skipped message="PostgreSQL variant skipped"/></testcase>
  <testcase classname="tests.bot.test_reply_restart" name="test_the_sweep_after_the_restart[sqlite]">
    <failure message="assert 'Thinking' not in text"/></testcase>
  <testcase classname="tests.bot.test_reply_restart" name="test_slacks_redelivery_of_an_event[sqlite]"/>
  <testcase classname="tests.bot.test_core_loop" name="test_a_direct_message_is_answered_without_a_mention[sqlite]"/>
</testsuite></testsuites>
"""


def test_each_scenario_counts_in_its_area_and_a_failure_is_named(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(REPORT)

    tallies = tally_scenarios(report)

    forged, restart, replays = (tallies["forged and malformed requests"], tallies["kill -9 during a reply"],
                                tallies["redeliveries and replays"])
    assert (forged.tried, forged.held, forged.skipped) == (1, 1, 1)
    assert (restart.tried, restart.held) == (1, 0)
    assert restart.failed == ["tests/bot/test_reply_restart.py::test_the_sweep_after_the_restart[sqlite]"]
    assert (replays.tried, replays.held) == (1, 1)  # the first area that picks a test takes it
    assert sum(t.tried for t in tallies.values()) == 3  # the direct message is no attack: in no area
    table = render(tallies, [])
    assert "Did not hold: tests/bot/test_reply_restart.py::test_the_sweep_after_the_restart[sqlite]" in table


def test_every_area_picks_tests_that_exist() -> None:
    picked = picked_tests()

    for area in AREAS:
        assert any(area_of(*node.split("::", 1)) == area for node in picked), f"{area.name} picks no test"
