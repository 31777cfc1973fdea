"""The web playground: its JSON API over urllib, and the whole loop in a real browser (Debian's Chromium).

The browser test runs the offline sandbox as a person would: ten questions typed into the composer,
ten approvals with the 👍 button, `/finetune run`, the fine-tuned model's announcement, a question
answered by the `ft:` model, a follow-up in its thread and `/finetune status` — all on a real clock
and the real APScheduler schedule, with the page updating itself over Server-Sent Events.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.offline import sandbox_stack
from sandbox.playground.server import Playground
from sandbox.stack import LocalStack

IN_CI = os.environ.get("CI", "").lower() == "true"
WAIT_MS = 30_000
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
PRODUCTS = [
    "a portable Bluetooth speaker", "a stainless steel kettle", "noise-cancelling headphones", "an ergonomic office chair",
    "a robot vacuum", "a mechanical keyboard", "a cast iron skillet", "a trail running shoe", "a smart thermostat",
    "an electric toothbrush",
]


# ----------------------------------------------------------------------------- helpers


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def start_sandbox(db_path: Path) -> tuple[LocalStack, Playground]:
    stack = sandbox_stack(f"sqlite:///{db_path}")
    stack.start()
    try:
        return stack, Playground(stack, port=0).start()
    except BaseException:
        stack.stop()
        raise


def call(base: str, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path.lstrip("/"), data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until(check, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: last value {value!r}")
        time.sleep(0.05)


# ----------------------------------------------------------------------------- the JSON API


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Playground]]:
    stack, playground = start_sandbox(tmp_path_factory.mktemp("playground-api") / "sandbox.db")
    yield stack, playground
    playground.stop()
    stack.stop()


@pytest.fixture
def base(sandbox: tuple[LocalStack, Playground]) -> str:
    return sandbox[1].url


@pytest.mark.timeout(60)
def test_the_page_and_its_static_files_are_served(base: str) -> None:
    with urllib.request.urlopen(base, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.read().decode()
    assert 'id="composer"' in page and "/app.js" in page and "/emoji.js" in page and "/style.css" in page
    assert "http" not in page.replace("http-equiv", ""), "the page must not load anything from outside"
    for path, kind in (("app.js", "text/javascript"), ("emoji.js", "text/javascript"), ("style.css", "text/css")):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert response.headers["Content-Type"].startswith(kind)
            assert response.read()


@pytest.mark.timeout(60)
def test_state_lists_people_channels_and_the_reply_model(sandbox: tuple[LocalStack, Playground], base: str) -> None:
    stack, _ = sandbox
    status, alice = call(base, "GET", "api/state")
    assert status == 200
    assert alice["me"] == "U0ALICE" and alice["channel"] == "C0GENERAL"
    assert {p["name"] for p in alice["people"]} == {"alice", "bob"}
    assert {c["id"] for c in alice["channels"]} == {"C0GENERAL", "D0ALICE"}
    assert alice["model"] == stack.settings.base_model
    assert alice["bot"] == {"id": "U0BOT", "name": "finetune-bot"}
    status, bob = call(base, "GET", "api/state?user=bob&channel=%23general")
    assert status == 200 and bob["me"] == "U0BOB"
    assert {c["id"] for c in bob["channels"]} == {"C0GENERAL"}, "bob has no DM with the bot"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("method", "path", "body", "raw", "content_type", "status", "error"),
    [
        ("POST", "api/messages", None, b"{not json", "application/json", 400, "invalid_json"),
        ("POST", "api/messages", None, b"[1, 2]", "application/json", 400, "invalid_json"),
        ("POST", "api/messages", None, b"\xff\xfe", "application/json", 400, "invalid_json"),
        ("POST", "api/messages", {"channel": "C0NOPE", "text": "hi"}, None, "application/json", 400, "unknown_channel"),
        ("POST", "api/messages", {"channel": "C0GENERAL"}, None, "application/json", 400, "missing_text"),
        ("POST", "api/messages", {"channel": "C0GENERAL", "text": "   "}, None, "application/json", 400, "no_text"),
        ("POST", "api/messages", {"channel": "C0GENERAL", "text": 5}, None, "application/json", 400, "missing_text"),
        ("POST", "api/messages", {"channel": "C0GENERAL", "text": "hi", "user": "U0NOBODY"}, None,
         "application/json", 400, "unknown_user"),
        ("POST", "api/messages", {"channel": "C0GENERAL", "text": "hi", "user": "U0BOT"}, None,
         "application/json", 400, "invalid_user"),
        ("POST", "api/messages", {"channel": "C0GENERAL", "text": "hi", "thread_ts": "123.456"}, None,
         "application/json", 400, "thread_not_found"),
        ("POST", "api/messages", {"channel": "D0ALICE", "text": "hi", "user": "bob"}, None,
         "application/json", 403, "not_in_channel"),
        ("POST", "api/messages", {"channel": "C0GENERAL", "text": "hi"}, None, "text/plain", 415,
         "unsupported_media_type"),
        ("POST", "api/reactions", {"channel": "C0GENERAL", "ts": "1.000001", "name": "+1", "add": True}, None,
         "application/json", 404, "message_not_found"),
        ("POST", "api/reactions", {"channel": "C0GENERAL", "ts": "1.000001", "name": "<b>", "add": True}, None,
         "application/json", 400, "invalid_name"),
        ("POST", "api/reactions", {"channel": "C0GENERAL", "ts": "1.000001", "name": "+1", "add": "yes"}, None,
         "application/json", 400, "invalid_add"),
        ("POST", "api/reactions", {"channel": "#nowhere", "ts": "1.000001", "name": "+1"}, None,
         "application/json", 400, "unknown_channel"),
        ("POST", "api/commands", {"channel": "C0GENERAL", "text": "/deploy now"}, None, "application/json", 400,
         "unknown_command"),
        ("POST", "api/commands", {"channel": "C0GENERAL", "text": "finetune status"}, None, "application/json", 400,
         "not_a_command"),
        ("POST", "api/commands", {"channel": "C0NOPE", "text": "/finetune status"}, None, "application/json", 400,
         "unknown_channel"),
        ("POST", "api/feedback", {"channel": "C0GENERAL", "ts": "1.000001", "positive": True}, None,
         "application/json", 404, "message_not_found"),
        ("POST", "api/feedback", {"channel": "C0GENERAL", "ts": "1.000001", "positive": "yes"}, None,
         "application/json", 400, "invalid_positive"),
        ("POST", "api/actions", {"channel": "C0GENERAL", "ts": "1.000001"}, None, "application/json", 400,
         "missing_action_id"),
        ("POST", "api/views/submit", {"values": {"part_0": 3}}, None, "application/json", 400, "invalid_values"),
        ("POST", "api/views/submit", {"values": {}}, None, "application/json", 409, "no_view"),
        ("GET", "api/state?channel=C0NOPE", None, None, "application/json", 400, "unknown_channel"),
        ("GET", "api/state?user=mallory", None, None, "application/json", 400, "unknown_user"),
        ("GET", "api/nothing-here", None, None, "application/json", 404, "not_found"),
        ("POST", "api/nothing-here", {}, None, "application/json", 404, "not_found"),
    ],
)
def test_bad_input_gets_a_clear_error_not_a_crash(
    base: str, method: str, path: str, body: Any, raw: bytes | None, content_type: str, status: int, error: str
) -> None:
    got_status, got = call(base, method, path, body, raw=raw, content_type=content_type)
    assert (got_status, got["ok"], got["error"]) == (status, False, error)
    assert isinstance(got["message"], str) and len(got["message"]) > 10
    assert call(base, "GET", "api/state")[0] == 200, "the server is still answering"


@pytest.mark.timeout(60)
def test_a_posted_question_reaches_the_bot_and_its_reply_appears(
    sandbox: tuple[LocalStack, Playground], base: str
) -> None:
    stack, _ = sandbox
    status, posted = call(base, "POST", "api/messages",
                          {"channel": "general", "text": "@finetune-bot Review this product: a desk lamp"})
    assert status == 200 and posted["ok"]
    question = posted["message"]
    assert question["text"] == "<@U0BOT> Review this product: a desk lamp", "a typed @finetune-bot becomes a mention"
    assert any(e["type"] == "app_mention" and e["ts"] == question["ts"] for e in stack.slack.events_of("app_mention"))

    def answered() -> dict | None:
        state = call(base, "GET", "api/state")[1]
        found = next(m for m in state["messages"] if m["ts"] == question["ts"])
        return found if found.get("thread_model") else None

    summary = wait_until(answered)
    assert summary["reply_count"] == 1 and summary["thread_model"] == stack.settings.base_model
    thread = call(base, "GET", f"api/state?thread={question['ts']}")[1]["thread"]
    parent, reply = thread["messages"]
    assert parent["ts"] == question["ts"] and reply["is_bot"] and reply["model"] == stack.settings.base_model
    assert "desk lamp" in reply["text"]

    # a reaction as bob goes to the bot as reaction_added, and shows in the state; then it is taken back
    status, reacted = call(base, "POST", "api/reactions",
                           {"channel": "C0GENERAL", "ts": reply["ts"], "name": "+1", "add": True, "user": "bob"})
    assert status == 200 and reacted["message"]["reactions"] == [{"name": "+1", "count": 1, "users": ["U0BOB"]}]
    assert any(e["item"]["ts"] == reply["ts"] and e["user"] == "U0BOB" for e in stack.slack.events_of("reaction_added"))
    again = call(base, "POST", "api/reactions",
                 {"channel": "C0GENERAL", "ts": reply["ts"], "name": "+1", "add": True, "user": "bob"})
    assert again[0] == 409 and again[1]["error"] == "already_reacted"
    status, removed = call(base, "POST", "api/reactions",
                           {"channel": "C0GENERAL", "ts": reply["ts"], "name": "+1", "add": False, "user": "bob"})
    assert status == 200 and removed["message"]["reactions"] == []


def ask(base: str, product: str) -> dict:
    """alice asks through the page; the bot's reply in its thread, once it is there."""
    posted = call(base, "POST", "api/messages",
                  {"channel": "general", "text": f"@finetune-bot Review this product: {product}"})[1]["message"]

    def reply() -> dict | None:
        thread = call(base, "GET", f"api/state?thread={posted['ts']}")[1]["thread"]
        answers = [m for m in (thread or {}).get("messages", [])[1:] if m["is_bot"] and m["model"]]
        return answers[0] if answers else None

    return wait_until(reply)


def ephemeral_for(base: str, user: str, needle: str) -> dict | None:
    found = call(base, "GET", f"api/state?user={user}")[1]["ephemerals"]
    return next((e for e in found if needle in e["text"]), None)


@pytest.mark.timeout(60)
def test_a_reply_shows_slacks_feedback_buttons_and_a_click_is_answered_only_to_who_clicked(
    sandbox: tuple[LocalStack, Playground], base: str
) -> None:
    stack, _ = sandbox
    reply = ask(base, "a pair of hiking poles")
    assert [(c["kind"], c.get("positive"), c["text"]) for c in reply["controls"]] == [
        ("feedback", True, "Good answer"), ("feedback", False, "Bad answer"), ("button", None, "Improve")]

    status, clicked = call(base, "POST", "api/feedback",
                           {"channel": "C0GENERAL", "ts": reply["ts"], "positive": True, "user": "bob"})
    assert (status, clicked["status"]) == (200, 200)
    assert any(d.kind == "interactive" for d in stack.slack.deliveries), "the bot got Slack's block_actions"
    wait_until(lambda: ephemeral_for(base, "U0BOB", "counts as a good example"))
    assert ephemeral_for(base, "U0ALICE", "counts as a good example") is None, "only bob sees his note"
    # the same click again changes nothing, and says so
    call(base, "POST", "api/feedback", {"channel": "C0GENERAL", "ts": reply["ts"], "positive": True, "user": "bob"})
    wait_until(lambda: ephemeral_for(base, "U0BOB", "Already noted"))


@pytest.mark.timeout(60)
def test_improve_opens_the_answer_in_a_form_and_saving_it_notes_the_correction_in_the_thread(
    sandbox: tuple[LocalStack, Playground], base: str
) -> None:
    reply = ask(base, "a folding bike")
    improve = next(c for c in reply["controls"] if c["text"] == "Improve")

    status, _ = call(base, "POST", "api/actions",
                     {"channel": "C0GENERAL", "ts": reply["ts"], "action_id": improve["action_id"], "user": "bob"})
    assert status == 200
    view = wait_until(lambda: call(base, "GET", "api/state?user=bob")[1]["view"])
    assert view["title"] == "Improve this answer" and view["submit"] == "Save"
    [box] = view["inputs"]
    assert box["multiline"] and box["max_length"] == 3000 and box["value"] == reply["text"]
    assert call(base, "GET", "api/state")[1]["view"] is None, "the form is bob's alone"

    # an empty answer is refused beside the box, and the form stays open
    status, refused = call(base, "POST", "api/views/submit", {"values": {box["block_id"]: " "}, "user": "bob"})
    assert status == 200 and refused["view"]["errors"] == {box["block_id"]: "The answer cannot be empty."}

    better = "Folds in ten seconds, rides like a full-size bike, and at 11 kg it goes up the stairs with you."
    status, saved = call(base, "POST", "api/views/submit", {"values": {box["block_id"]: better}, "user": "bob"})
    assert status == 200 and saved["view"] is None, "saving closes the form"

    def noted() -> dict | None:
        thread = call(base, "GET", f"api/state?thread={reply['thread_ts']}")[1]["thread"]
        return next((m for m in thread["messages"] if "improved this answer" in m["text"]), None)

    assert wait_until(noted)["text"].startswith(":pencil2: <@U0BOB> improved this answer.")


@pytest.mark.timeout(60)
def test_a_form_closed_with_cancel_is_gone_and_nothing_is_saved(sandbox: tuple[LocalStack, Playground], base: str) -> None:
    reply = ask(base, "a rice cooker")
    call(base, "POST", "api/actions",
         {"channel": "C0GENERAL", "ts": reply["ts"], "action_id": "improve_reply", "user": "alice"})
    assert wait_until(lambda: call(base, "GET", "api/state")[1]["view"])
    status, closed = call(base, "POST", "api/views/close", {})
    assert status == 200 and closed["view"] is None
    again = call(base, "POST", "api/views/close", {})
    assert again[0] == 409 and again[1]["error"] == "no_view"
    thread = call(base, "GET", f"api/state?thread={reply['thread_ts']}")[1]["thread"]
    assert not any("improved this answer" in m["text"] for m in thread["messages"])


@pytest.mark.timeout(60)
def test_the_model_badge_comes_from_the_reply_metadata_not_its_text(
    sandbox: tuple[LocalStack, Playground], base: str
) -> None:
    stack, _ = sandbox
    slack = stack.slack
    question = slack.post_as_user("U0ALICE", "C0GENERAL", "a question nobody mentioned the bot in")

    def bot_reply(text: str, footer: str, metadata: dict | None) -> str:
        args: dict[str, Any] = {
            "channel": "C0GENERAL", "thread_ts": question["ts"], "text": text,
            "blocks": [{"type": "markdown", "text": text},
                       {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]}],
        }
        if metadata is not None:
            args["metadata"] = metadata
        status, body, _ = slack.call_api("chat.postMessage", args, slack.bot_token)
        assert status == 200 and body["ok"], body
        return body["ts"]

    answer = bot_reply("An answer.", "Answered by `gpt-named-in-the-text` · react :+1:",
                       {"event_type": "finetune_bot_reply",
                        "event_payload": {"reply_id": 1, "model": "ft:gpt-from-metadata:sandbox", "author": "model"}})
    better = bot_reply("A better answer.", "Better answer suggested by <@U0BOB> · react :+1:",
                       {"event_type": "finetune_bot_reply",
                        "event_payload": {"reply_id": 2, "model": "ft:gpt-from-metadata:sandbox", "author": "U0BOB"}})
    unlabelled = bot_reply("No metadata.", "Answered by `gpt-only-in-the-text`", None)

    thread = call(base, "GET", f"api/state?thread={question['ts']}")[1]["thread"]
    models = {m["ts"]: m["model"] for m in thread["messages"]}
    assert models[answer] == "ft:gpt-from-metadata:sandbox", "the metadata wins over the footer's text"
    assert models[better] is None, "a person's better answer was not written by a model"
    assert models[unlabelled] is None, "no metadata, no model: the text is never parsed"
    summary = next(m for m in call(base, "GET", "api/state")[1]["messages"] if m["ts"] == question["ts"])
    assert summary["thread_model"] == "ft:gpt-from-metadata:sandbox"


@pytest.mark.timeout(60)
def test_a_slash_command_answers_only_the_person_who_typed_it(base: str) -> None:
    status, result = call(base, "POST", "api/commands", {"channel": "C0GENERAL", "text": "/finetune status"})
    assert status == 200 and result["command"] == "/finetune" and result["text"] == "status"
    assert "Fine-tuning status" in result["ack"]
    alice = call(base, "GET", "api/state")[1]["ephemerals"]
    assert any("Fine-tuning status" in e["text"] and e["source"] == "ack" for e in alice)
    bob = call(base, "GET", "api/state?user=U0BOB")[1]["ephemerals"]
    assert not any("Fine-tuning status" in e["text"] for e in bob)


@pytest.mark.timeout(60)
def test_the_stream_reports_each_change(base: str) -> None:
    with urllib.request.urlopen(base + "api/stream", timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.readline().startswith(b"retry:")
        assert call(base, "POST", "api/messages", {"channel": "C0GENERAL", "text": "hello, nobody in particular"})[0] == 200
        notes = []
        while not any(n.get("type") == "message_posted" for n in notes):
            line = stream.readline()
            assert line, "the stream ended"
            if line.startswith(b"data: "):
                notes.append(json.loads(line[len(b"data: "):]))
    assert any(n.get("channel") == "C0GENERAL" for n in notes)


@pytest.mark.timeout(60)
def test_a_taken_port_is_an_oserror_and_stop_is_idempotent(sandbox: tuple[LocalStack, Playground]) -> None:
    stack, running = sandbox
    with pytest.raises(OSError):
        Playground(stack, port=running.port).start()
    with pytest.raises(ValueError):
        Playground(stack, user="U0NOBODY")
    extra = Playground(stack, port=0).start()
    assert extra.url.startswith("http://127.0.0.1:") and extra.port != running.port
    extra.stop()
    extra.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", extra.port), timeout=1).close()


# ----------------------------------------------------------------------------- the whole loop in a browser


def _browser_or_skip() -> tuple[str, Any]:
    """Debian's Chromium and Playwright, or a skip with the reason (a failure in CI, which installs both)."""
    executable = chromium_path()
    reason = None
    if executable is None:
        reason = "Chromium is not installed (apt-get install chromium): the playground's browser test needs it"
    try:
        from playwright import sync_api
    except ImportError:
        sync_api, reason = None, "the playwright package is not installed (pip install -e '.[test]')"
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return executable, sync_api


@pytest.mark.timeout(150)
def test_the_whole_loop_in_a_real_browser(tmp_path: Path) -> None:
    executable, sync_api = _browser_or_skip()
    sync_api.expect.set_options(timeout=WAIT_MS)  # auto-waiting assertions, generous for a busy CI machine
    stack, playground = start_sandbox(tmp_path / "sandbox.db")
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.set_default_timeout(WAIT_MS)
                problems: list[str] = []
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
                _play_the_loop(page, sync_api.expect, stack, playground.url, tmp_path)
                assert problems == []
            finally:
                browser.close()
    finally:
        playground.stop()
        stack.stop()


def _assert_emoji_are_inline_glyphs(page, expect, stack: LocalStack, reply, thumbs) -> None:
    """No emoji font on this machine, none needed: the page draws known emoji as inline SVG, others as :name:."""
    glyph = thumbs.locator(".emoji > svg")
    expect(glyph).to_have_count(1)
    box = glyph.bounding_box()
    assert box is not None and box["width"] >= 12 and box["height"] >= 12, box
    assert thumbs.locator(".emoji").inner_text().strip() == "", "no character left for a missing font to draw"
    # the reply's footer says "react :+1: ...": the same glyph inline in the text
    expect(reply.get_by_test_id("message-context").locator('.emoji[data-emoji="+1"] > svg')).to_have_count(1)
    # a name the page has no glyph for shows as its :name: text, as Slack shows an unknown emoji
    stack.slack.add_reaction("U0ALICE", "C0GENERAL", reply.get_attribute("data-ts"), "partyparrot")
    unknown = reply.locator('[data-testid=reaction][data-name="partyparrot"]')
    expect(unknown.locator(".emoji")).to_have_text(":partyparrot:")
    expect(unknown.locator("svg")).to_have_count(0)
    stack.slack.remove_reaction("U0ALICE", "C0GENERAL", reply.get_attribute("data-ts"), "partyparrot")
    expect(unknown).to_have_count(0)
    # and nothing on the page is left to a system emoji font
    text = page.locator("body").inner_text()
    assert not re.search("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u231A-\u23FF]", text), text


def _approve_with_the_good_answer_button(page, expect, reply) -> None:
    """Slack's feedback buttons under the answer: a click is told back to bob alone, as an ephemeral."""
    expect(reply.get_by_test_id("feedback-negative")).to_be_visible()
    reply.get_by_test_id("feedback-positive").click()
    expect(page.get_by_test_id("ephemeral").filter(has_text="counts as a good example")).to_have_count(1)


def _improve_in_the_form(page, expect, stack: LocalStack, pane, reply) -> None:
    """Improve opens the answer in a form; an empty answer is refused beside the box; Save notes it in the thread."""
    stored = stack.slack.message("C0GENERAL", reply.get_attribute("data-ts"))["text"]
    reply.get_by_test_id("button").filter(has_text="Improve").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_be_visible()
    expect(page.get_by_test_id("modal-title")).to_have_text("Improve this answer")
    box = modal.get_by_test_id("modal-input")
    expect(box).to_have_value(stored)
    expect(box).to_be_focused()
    box.fill("   ")
    modal.get_by_test_id("modal-submit").click()
    expect(modal.get_by_test_id("modal-error")).to_have_text("The answer cannot be empty.")
    expect(modal).to_be_visible()
    box.fill(stored + " Worth every cent at this price.")
    modal.get_by_test_id("modal-submit").click()
    expect(modal).to_be_hidden()
    note = pane.locator("[data-testid=message][data-kind=bot]").filter(has_text="improved this answer")
    expect(note).to_have_count(1)
    expect(note.locator('.emoji[data-emoji="pencil2"] > svg')).to_have_count(1)


def _play_the_loop(page, expect, stack: LocalStack, url: str, tmp_path: Path) -> None:
    base_model = stack.settings.base_model
    page.goto(url)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    current_model = page.get_by_test_id("current-model")
    expect(current_model).to_have_text(base_model)
    expect(page.get_by_test_id("channel-title")).to_have_text("# general")

    # alice asks ten questions through the composer; Enter sends
    composer = page.get_by_test_id("composer")
    for product in PRODUCTS:
        composer.fill(f"@finetune-bot Review this product: {product}")
        composer.press("Enter")
        expect(composer).to_have_value("")
    questions = page.locator("#messages [data-testid=message][data-user=U0ALICE]")
    expect(questions).to_have_count(len(PRODUCTS))
    expect(questions.first.locator(".mention")).to_have_text("@finetune-bot")
    assert stack.slack.messages("C0GENERAL")[0]["text"].startswith("<@U0BOT> Review this product:")

    # ten threaded replies from the base model, shown under each question
    answered = page.locator(f'#messages [data-testid=thread-summary][data-model="{base_model}"]')
    expect(answered).to_have_count(len(PRODUCTS))
    expect(answered.first.get_by_test_id("thread-model")).to_have_text(base_model)

    # bob approves each reply with 👍 in its thread
    page.get_by_test_id("user-switch").select_option("U0BOB")
    expect(page.get_by_test_id("user-switch")).to_have_value("U0BOB")
    expect(page.locator('[data-testid=channel-link][data-channel="D0ALICE"]')).to_have_count(0)
    pane = page.get_by_test_id("thread-pane")
    for index in range(len(PRODUCTS)):
        summary = answered.nth(index)
        ts = summary.get_attribute("data-ts")
        summary.click()
        expect(pane).to_have_attribute("data-ts", ts)
        reply = pane.locator("[data-testid=message][data-kind=bot]")
        expect(reply).to_have_count(1)
        expect(reply.get_by_test_id("model-badge")).to_have_text(base_model)
        reply = pane.locator(f'[data-testid=message][data-ts="{reply.get_attribute("data-ts")}"]')
        if index == 1:  # this one bob approves with Slack's own feedback button instead of an emoji
            _approve_with_the_good_answer_button(page, expect, reply)
            continue
        if index == 2:  # this one bob improves in the form first, then approves his version
            _improve_in_the_form(page, expect, stack, pane, reply)
        thumbs = reply.locator('[data-testid=reaction][data-name="+1"]')
        expect(thumbs).to_have_attribute("aria-pressed", "false")
        thumbs.click()
        expect(thumbs).to_have_attribute("aria-pressed", "true")
        expect(thumbs).to_have_attribute("data-count", "1")
        if index == 0:
            _assert_emoji_are_inline_glyphs(page, expect, stack, reply, thumbs)
    # in the last thread bob also teaches a better answer: the bot posts it, and bob approves it too
    thread_composer = page.get_by_test_id("thread-composer")
    thread_composer.fill("better: WOW, this electric toothbrush is AMAZING! My teeth have never felt this clean, a total game-changer!")
    thread_composer.press("Enter")
    suggestion = pane.locator("[data-testid=message][data-kind=bot]").filter(has_text="WOW, this electric toothbrush")
    expect(suggestion).to_have_count(1)
    expect(suggestion).to_contain_text("suggested by")
    better_thumbs = suggestion.locator('[data-testid=reaction][data-name="+1"]')
    better_thumbs.click()
    expect(better_thumbs).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("thread-close").click()
    expect(pane).to_be_hidden()
    page.get_by_test_id("user-switch").select_option("U0ALICE")
    expect(page.locator('[data-testid=channel-link][data-channel="D0ALICE"]')).to_be_visible()

    # /finetune run: the ack, then the follow-up through response_url, both only for alice
    composer.fill("/finetune run")
    composer.press("Enter")
    ephemerals = page.get_by_test_id("ephemeral")
    expect(ephemerals.filter(has_text="Checking for new approved examples")).to_have_count(1)
    expect(page.locator('[data-testid=ephemeral][data-source="response_url"]')).to_have_count(1)
    expect(ephemerals.first).to_contain_text("Only visible to you")
    sources = page.locator("#messages [data-testid=ephemeral]").evaluate_all("els => els.map((e) => e.dataset.source)")
    assert sources == ["ack", "response_url"], "the ack shows before the answer that came through response_url"

    # the job runs (~8 s of phases, 2 s polls) and the bot announces the new model in the channel
    announcement = page.locator("#messages [data-notification=true]").filter(has_text="is now answering")
    expect(announcement).to_have_count(1, timeout=45_000)
    # ten: bob's thumbs on the last reply approved the model's words, not the better answer he wrote after it
    expect(announcement).to_contain_text("trained on 10 examples")
    expect(announcement).to_contain_text("ft:")
    expect(current_model).to_have_text(re.compile(r"^ft:"))
    expect(current_model).to_have_class(re.compile(r"\bft\b"))
    fine_tuned = current_model.inner_text()

    # the next question is answered by the ft: model
    composer.fill("@finetune-bot Review this product: an insulated travel mug")
    composer.press("Enter")
    by_ft = page.locator(f'#messages [data-testid=thread-summary][data-model="{fine_tuned}"]')
    expect(by_ft).to_have_count(1)
    by_ft.click()
    reply = pane.locator("[data-testid=message][data-kind=bot]")
    expect(reply.get_by_test_id("model-badge")).to_have_text(fine_tuned)
    expect(reply.get_by_test_id("model-badge")).to_have_class(re.compile(r"\bft\b"))

    # a follow-up in the thread, no mention needed, answered there by the ft: model too
    thread_composer = page.get_by_test_id("thread-composer")
    expect(thread_composer).to_be_focused()
    thread_composer.fill("Is it dishwasher safe?")
    thread_composer.press("Enter")
    expect(pane.locator("[data-testid=message][data-user=U0ALICE]")).to_have_count(2)
    expect(reply).to_have_count(2)
    expect(reply.nth(1).get_by_test_id("model-badge")).to_have_text(fine_tuned)
    expect(by_ft).to_have_attribute("data-replies", "3")

    # /finetune status names the fine-tuned model
    composer.fill("/finetune status")
    composer.press("Enter")
    status = ephemerals.filter(has_text="Fine-tuning status")
    expect(status).to_have_count(1)
    expect(status).to_contain_text(f"Reply model: {fine_tuned}")

    page.mouse.move(700, 880)  # off the messages, so no hover toolbar shows
    shot = tmp_path / "playground.png"
    page.screenshot(path=str(shot))
    assert shot.is_file() and shot.stat().st_size > 10_000
    try:
        shutil.copyfile(shot, "/tmp/playground.png")  # for a person to look at
    except OSError:
        pass

    # in the DM no mention is needed; the DM is alice's own, so bob switching lands in #general
    page.locator('[data-testid=channel-link][data-channel="D0ALICE"]').click()
    expect(page.get_by_test_id("channel-title")).to_contain_text("finetune-bot")
    expect(pane).to_be_hidden()
    composer.fill("Review this product: a desk fan")
    composer.press("Enter")
    expect(page.locator(f'#messages [data-testid=thread-summary][data-model="{fine_tuned}"]')).to_have_count(1)
    page.get_by_test_id("user-switch").select_option("U0BOB")
    expect(page.get_by_test_id("channel-title")).to_have_text("# general")
    expect(page.get_by_test_id("user-switch")).to_have_value("U0BOB")
    expect(page.locator('[data-testid=channel-link][data-channel="D0ALICE"]')).to_have_count(0)
    # alice's slash-command answers were only visible to her: bob sees only the note on his own click
    expect(ephemerals).to_have_count(1)
    expect(ephemerals).to_contain_text("counts as a good example")
    expect(questions).to_have_count(len(PRODUCTS) + 1)

