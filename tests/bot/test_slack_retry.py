"""SlackRetry with a real WebClient against the Slack stand-in: which failures wait, how long, and when it stops."""
from __future__ import annotations

import socket

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack_retry import RETRY_DEADLINE, SlackGaveUp, SlackRetry
from sandbox.slack_stub import SlackStub


@pytest.fixture
def stub(clock):
    with SlackStub(clock) as running:
        yield running


@pytest.fixture
def client(stub):
    return WebClient(token=stub.bot_token, base_url=stub.api_url, retry_handlers=[])


def test_retry_after_is_honoured_and_the_call_goes_through(stub, client, clock):
    stub.fail_next("chat.postMessage", retry_after=12, count=2)
    retry = SlackRetry(clock)
    posted = retry.call("posting", lambda: client.chat_postMessage(channel="C0GENERAL", text="hi"))
    assert posted["ok"] and clock.slept == [12.0, 12.0]


def test_a_retry_after_past_the_deadline_gives_up_at_once_without_waiting(stub, client, clock):
    stub.fail_next("chat.update", retry_after=int(RETRY_DEADLINE.total_seconds()) + 1)
    with pytest.raises(SlackGaveUp) as gave_up:
        SlackRetry(clock).call("updating", lambda: client.chat_update(channel="C0GENERAL", ts="1.1", text="x"))
    assert clock.slept == [] and gave_up.value.attempts == 1 and "HTTP 429 ratelimited" in gave_up.value.reason


def test_an_error_that_will_not_pass_is_raised_at_once(stub, client, clock):
    with pytest.raises(SlackApiError):
        SlackRetry(clock).call("posting", lambda: client.chat_postMessage(channel="C0NOWHERE", text="hi"))
    assert clock.slept == []


def test_an_unreachable_slack_is_tried_with_growing_waits_until_the_deadline(clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    client = WebClient(token="xoxb-1", base_url=f"http://127.0.0.1:{closed}/api/", retry_handlers=[])
    with pytest.raises(SlackGaveUp) as gave_up:
        SlackRetry(clock).call("posting", lambda: client.chat_postMessage(channel="C0GENERAL", text="hi"))
    assert clock.slept == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # the next 30 s would pass 2 minutes
    assert sum(clock.slept) <= RETRY_DEADLINE.total_seconds() and "URLError" in gave_up.value.reason
