"""The sandbox found as it was left: both stand-ins saved beside the bot's database and restored on restart.

Everything goes through the real clients over loopback HTTP: the openai SDK against the OpenAI stand-in,
slack_sdk's WebClient against the Slack stand-in, the real bot in a LocalStack, and the playground's JSON API.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
from slack_sdk import WebClient

from sandbox.clock import ManualClock
from sandbox.offline import SANDBOX_DB, SANDBOX_STATE, sandbox_database_url, sandbox_stack, sandbox_state_path
from sandbox.openai_stub import OpenAIStub
from sandbox.persistence import StatePersister
from sandbox.playground.server import Playground
from sandbox.slack_stub import SlackStub
from sandbox.stack import LocalStack
from tests.support.products import PRODUCTS
from tests.support.slack import wait_for_approved

pytestmark = pytest.mark.timeout(120)

STYLE = "Arr, {product} be a fine treasure for any crew!"


def roundtrip(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What the file holds: proves the snapshot is plain JSON."""
    return json.loads(json.dumps(snapshot))


def training_jsonl() -> bytes:
    lines = [json.dumps({"messages": [
        {"role": "user", "content": f"Review this product: {product}"},
        {"role": "assistant", "content": STYLE.format(product=product)},
    ]}) for product in PRODUCTS]
    return ("\n".join(lines) + "\n").encode()


def sdk(stub: OpenAIStub) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)


def ask_model(client: openai.OpenAI, model: str, text: str) -> str:
    completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return completion.choices[0].message.content or ""


def bot_notifications(stack: LocalStack, channel: str = "C0GENERAL") -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel) if m.get("bot_id") and "thread_ts" not in m]


def answered_by(message: dict) -> str:
    return json.dumps(message.get("blocks") or [])


# ----------------------------------------------------------------------------- the OpenAI stand-in


def test_openai_stub_round_trip_keeps_files_jobs_and_the_fine_tuned_model(tmp_path: Path) -> None:
    clock = ManualClock()
    with OpenAIStub(clock).start() as first, sdk(first) as client:
        uploaded = client.files.create(file=("train.jsonl", training_jsonl()), purpose="fine-tune")
        done = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=uploaded.id, suffix="pirate")
        clock.advance(30)
        done = client.fine_tuning.jobs.retrieve(done.id)
        running = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=uploaded.id)
        clock.advance(7)  # the second job is queued
        cancelled = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=uploaded.id)
        client.fine_tuning.jobs.cancel(cancelled.id)
        jobs_before = [job.model_dump() for job in client.fine_tuning.jobs.list()]
        events_before = [e.model_dump() for e in client.fine_tuning.jobs.list_events(done.id)]
        reply_before = ask_model(client, done.fine_tuned_model or "", "Review this product: a pirate hat")
        state = roundtrip(first.snapshot())
    assert done.status == "succeeded" and done.fine_tuned_model

    # A fresh stand-in on a clock that starts earlier, as after a restart of a test: nothing goes backwards.
    later = ManualClock()
    second = OpenAIStub(later)
    second.restore(state)  # before start, as the sandbox does
    with second.start(), sdk(second) as client:
        assert [job.model_dump() for job in client.fine_tuning.jobs.list()] == jobs_before
        assert [e.model_dump() for e in client.fine_tuning.jobs.list_events(done.id)] == events_before
        assert client.fine_tuning.jobs.retrieve(running.id).status == "queued"
        assert client.fine_tuning.jobs.retrieve(cancelled.id).status == "cancelled"
        assert client.files.content(uploaded.id).content == training_jsonl()
        assert {f.id for f in client.files.list()} == {uploaded.id, *done.result_files}
        assert client.models.retrieve(done.fine_tuned_model).owned_by == "sandbox-org"
        reply = ask_model(client, done.fine_tuned_model, "Review this product: a pirate hat")
        assert reply == reply_before and reply.startswith("Arr, a pirate hat be a fine treasure")

        # New ids continue the old sequence instead of repeating it.
        again = client.files.create(file=("more.jsonl", training_jsonl()), purpose="fine-tune")
        assert again.id not in {uploaded.id, *done.result_files}
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=again.id, suffix="pirate")
        assert job.id not in {j["id"] for j in jobs_before}

        # The queued job carries on from where it was once time moves on.
        later.set(clock.now() + timedelta(seconds=30))
        finished = client.fine_tuning.jobs.retrieve(running.id)
        assert finished.status == "succeeded" and finished.fine_tuned_model not in (None, done.fine_tuned_model)


def test_openai_restore_is_all_or_nothing() -> None:
    stub = OpenAIStub(ManualClock())
    before = stub.snapshot()
    broken = roundtrip(before)
    broken["jobs"] = [{"id": "ftjob-half"}]
    with pytest.raises((KeyError, TypeError, ValueError)):
        stub.restore(broken)
    assert stub.snapshot() == before


# ----------------------------------------------------------------------------- the Slack stand-in


def test_slack_stub_round_trip_keeps_threads_reactions_edits_and_ts_order() -> None:
    clock = ManualClock()
    first = SlackStub(clock).start()
    try:
        client = WebClient(token=first.bot_token, base_url=first.api_url)
        first.add_user("U0CAROL", "carol", "Carol Example")
        first.add_channel("C0RANDOM", "random")
        question = first.post_as_user("U0ALICE", "C0GENERAL", "Review this product: a kettle")
        answer = client.chat_postMessage(channel="C0GENERAL", thread_ts=question["ts"], text="drafting")["ts"]
        client.chat_update(channel="C0GENERAL", ts=answer, text="A fine kettle.")
        first.add_reaction("U0BOB", "C0GENERAL", answer, "+1")
        first.post_as_user("U0CAROL", "C0RANDOM", "lunch?")
        client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="only you can see this")
        history_before = client.conversations_history(channel="C0GENERAL")["messages"]
        replies_before = client.conversations_replies(channel="C0GENERAL", ts=question["ts"])["messages"]
        ephemerals_before = first.ephemerals
        first_event_ids = {body["event_id"] for body in first.events}
        state = roundtrip(first.snapshot())
    finally:
        first.stop()

    second = SlackStub(ManualClock())  # a clock at the same start: ts must still move past the saved ones
    changes: list[dict] = []
    second.subscribe(changes.append)
    second.restore(state)
    assert changes[-1]["type"] == "workspace_restored"
    second.start()
    try:
        client = WebClient(token=second.bot_token, base_url=second.api_url)
        assert client.conversations_history(channel="C0GENERAL")["messages"] == history_before
        replies = client.conversations_replies(channel="C0GENERAL", ts=question["ts"])["messages"]
        assert replies == replies_before
        assert replies[1]["text"] == "A fine kettle." and replies[1]["edited"]["user"] == second.bot_user_id
        assert replies[1]["reactions"] == [{"name": "+1", "users": ["U0BOB"], "count": 1}]
        assert replies[0]["reply_count"] == 1
        assert client.users_info(user="U0CAROL")["user"]["name"] == "carol"
        assert client.conversations_history(channel="C0RANDOM")["messages"][0]["text"] == "lunch?"
        assert second.ephemerals == ephemerals_before

        newest = max(float(m["ts"]) for m in history_before + replies_before)
        posted = client.chat_postMessage(channel="C0GENERAL", text="after the restart")["ts"]
        assert float(posted) > newest
        follow = second.post_as_user("U0ALICE", "C0GENERAL", "and one more", thread_ts=question["ts"])
        assert float(follow["ts"]) > float(posted)
        # event ids continue too: the bot remembers the ones it has handled and would ignore a repeat
        assert second.events and not {body["event_id"] for body in second.events} & first_event_ids
    finally:
        second.stop()


# ----------------------------------------------------------------------------- the user story


def start_sandbox(db_path: Path, clock: ManualClock) -> tuple[LocalStack, StatePersister]:
    """What `finetune-bot sandbox` does, on a test clock and a manual schedule."""
    stack = sandbox_stack(sandbox_database_url(db_path), clock=clock, manual_schedule=True)
    persister = StatePersister(sandbox_state_path(db_path), stack, interval=0.05).start()
    try:
        stack.start()
    except BaseException:
        persister.stop()
        raise
    return stack, persister


def stop_sandbox(stack: LocalStack, persister: StatePersister) -> None:
    stack.stop()
    persister.stop()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sandbox.db"


def playground_state(stack: LocalStack) -> dict[str, Any]:
    with Playground(stack, port=0) as playground:
        url = playground.url + "api/state?user=U0ALICE&channel=C0GENERAL"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())


def test_a_restarted_sandbox_answers_with_the_fine_tuned_model_under_the_same_channel(db_path: Path) -> None:
    clock = ManualClock()
    stack, persister = start_sandbox(db_path, clock)
    try:
        replies = [stack.ask(f"Review this product: {product}") for product in PRODUCTS]
        for reply in replies:
            stack.approve(reply)
        wait_for_approved(stack, 10)
        stack.run_schedule(60)  # the sandbox ticks every minute
        stack.slack.wait_for(lambda: [t for t in bot_notifications(stack) if "started" in t])
        for _ in range(10):  # polls every 2 s; the job takes 8 s
            stack.run_schedule(2)
            if stack.services.reply_model.current().startswith("ft:"):
                break
        ft_model = stack.services.reply_model.current()
        assert ft_model.startswith("ft:gpt-4.1-mini-2025-04-14:sandbox-org:sandbox:")
        stack.slack.wait_for(lambda: [t for t in bot_notifications(stack) if "is now answering" in t])
        messages_before = stack.slack.messages("C0GENERAL")
        approved_reply = replies[0]
    finally:
        stop_sandbox(stack, persister)
    assert sandbox_state_path(db_path).exists()

    # A new process: fresh stand-ins, a fresh bot, the same two files; time has moved on.
    later = ManualClock(clock.now())
    later.advance(600)
    stack, persister = start_sandbox(db_path, later)
    try:
        assert stack.slack.messages("C0GENERAL") == messages_before
        thread = stack.slack.thread("C0GENERAL", approved_reply["ts"])
        assert thread[-1]["reactions"][0]["name"] == "+1"
        page = playground_state(stack)
        assert len(page["messages"]) == len(messages_before) and page["model"] == ft_model

        after = stack.ask("Review this product: a noise-cancelling headphone")
        sent = stack.openai.requests_to("POST", "/v1/chat/completions")[-1]
        assert sent.status == 200 and sent.json["model"] == ft_model
        assert ft_model in answered_by(after)
        assert "noise-cancelling headphone" in after["text"] and "sorry" not in after["text"].lower()
        assert float(after["ts"]) > max(float(m["ts"]) for m in messages_before)
    finally:
        stop_sandbox(stack, persister)


def test_reset_deletes_the_stand_ins_state_with_the_database(db_path: Path) -> None:
    assert sandbox_state_path(SANDBOX_DB) == SANDBOX_STATE
    state = sandbox_state_path(db_path)
    sandbox_database_url(db_path)
    for leftover in (db_path, state, state.with_name(state.name + ".corrupt")):
        leftover.write_text("x")
    sandbox_database_url(db_path, reset=True)
    assert list(db_path.parent.iterdir()) == []


def test_changes_are_saved_while_running_without_waiting_for_stop(db_path: Path) -> None:
    stack, persister = start_sandbox(db_path, ManualClock())
    try:
        stack.slack.post_as_user("U0BOB", "C0GENERAL", "lunch anyone?")
        state_path = sandbox_state_path(db_path)

        def saved_texts() -> list[str]:
            if not state_path.exists():
                return []
            saved = json.loads(state_path.read_text())
            return [m["text"] for m in saved["slack"]["workspace"]["messages"]["C0GENERAL"]]

        stack.slack.wait_for(lambda: "lunch anyone?" in saved_texts())
        assert not list(state_path.parent.glob("*.tmp"))  # written through a temp file, then replaced
        mtime = state_path.stat().st_mtime_ns
        time.sleep(0.3)  # nothing changed: nothing written
        assert state_path.stat().st_mtime_ns == mtime
    finally:
        stop_sandbox(stack, persister)


# ----------------------------------------------------------------------------- a damaged file


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"version": 1, "openai": {}, "slack": {}}',
                                     b"[]"])
def test_a_corrupt_state_file_is_set_aside_with_a_warning_and_the_sandbox_starts(
        db_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    state = sandbox_state_path(db_path)
    state.parent.mkdir(parents=True)
    state.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="sandbox.persistence"):
        stack, persister = start_sandbox(db_path, ManualClock())
    try:
        warnings = [r for r in caplog.records if r.name == "sandbox.persistence" and r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(state) in warnings[0].getMessage()
        aside = state.with_name(state.name + ".corrupt")
        assert aside.read_bytes() == content
        assert stack.openai.jobs() == [] and stack.slack.messages("C0GENERAL") == []
        reply = stack.ask("Review this product: a yoga mat")
        assert "yoga mat" in reply["text"]
    finally:
        stop_sandbox(stack, persister)
    assert json.loads(state.read_text())["version"] == 1  # a good file replaced the bad one
