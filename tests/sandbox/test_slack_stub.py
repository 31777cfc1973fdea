"""The Slack stub against the real slack_sdk WebClient and a real slack_bolt App, over HTTP and Socket Mode."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from sandbox.clock import ManualClock
from sandbox.slack_driver import EventsDriver
from sandbox.slack_stub import SlackStub

pytestmark = pytest.mark.timeout(30)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    s = SlackStub(ManualClock()).start()
    yield s
    s.stop()


@pytest.fixture
def client(stub: SlackStub) -> WebClient:
    return WebClient(token=stub.bot_token, base_url=stub.api_url)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Recorder:
    """What the Bolt app saw: event bodies per type and request headers, safe across Bolt's worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict] = []
        self.headers: list[dict] = []

    def add(self, body: dict, headers: dict | None = None) -> None:
        with self.lock:
            self.bodies.append(body)
            self.headers.append(headers or {})

    def events(self, event_type: str) -> list[dict]:
        with self.lock:
            return [b["event"] for b in self.bodies if b.get("event", {}).get("type") == event_type]


def make_app(stub: SlackStub, recorder: Recorder) -> App:
    """A minimal bot: answers mentions in thread, acks /ask and follows up through respond()."""
    app = App(client=WebClient(token=stub.bot_token, base_url=stub.api_url), signing_secret=stub.signing_secret)

    @app.event("app_mention")
    def on_mention(body: dict, event: dict, say: Callable[..., Any]) -> None:
        recorder.add(body)
        say(text=f"echo: {event['text']}", thread_ts=event.get("thread_ts") or event["ts"])

    @app.event("message")
    def on_message(body: dict) -> None:
        recorder.add(body)

    @app.event("reaction_added")
    def on_reaction_added(body: dict) -> None:
        recorder.add(body)

    @app.event("reaction_removed")
    def on_reaction_removed(body: dict) -> None:
        recorder.add(body)

    @app.command("/ask")
    def on_ask(ack: Callable[..., Any], command: dict, respond: Callable[..., Any]) -> None:
        ack(f"Thinking about: {command['text']}")
        respond(f"Answer for {command['user_name']}")

    return app


@pytest.fixture
def http_app(stub: SlackStub) -> Iterator[tuple[App, Recorder, str]]:
    """The Bolt app behind bolt's WSGI adapter on loopback, with the stub POSTing events to it."""
    recorder = Recorder()
    app = make_app(stub, recorder)
    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), _ThreadingWSGIServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/slack/events"
    stub.deliver_to(url)
    yield app, recorder, url
    server.shutdown()
    server.server_close()


@pytest.fixture
def socket_app(stub: SlackStub) -> Iterator[tuple[App, Recorder, SocketModeHandler]]:
    """The Bolt app connected through apps.connections.open and the stub's WebSocket server."""
    recorder = Recorder()
    app = make_app(stub, recorder)
    handler = SocketModeHandler(app, stub.app_token)
    handler.connect()
    stub.wait_for(lambda: stub.socket.connected)
    yield app, recorder, handler
    close_socket_app(stub, handler)


def close_socket_app(stub: SlackStub, handler: SocketModeHandler) -> None:
    """Shut the client down without sitting out slack_sdk's 3 s blocking receive."""
    handler.client.auto_reconnect_enabled = False
    stub.socket.close_connections()
    handler.close()


def wait_for_thread(stub: SlackStub, channel: str, ts: str, *, length: int) -> list[dict]:
    """The thread once it has `length` messages (the app replies after its ack)."""

    def thread_when_complete() -> list[dict]:
        thread = stub.thread(channel, ts)
        return thread if len(thread) >= length else []

    return stub.wait_for(thread_when_complete)


# ----------------------------------------------------------------------------- Web API


def test_a_lost_answer_posts_the_message_and_a_held_answer_waits_for_its_release(stub: SlackStub,
                                                                                 client: WebClient) -> None:
    stub.fail_next("chat.postMessage", "internal_error", status=500, after=True)
    with pytest.raises(SlackApiError) as lost:
        client.chat_postMessage(channel="C0GENERAL", text="taken, answer lost")
    assert lost.value.response.status_code == 500 and lost.value.response["error"] == "internal_error"
    assert [m["text"] for m in stub.messages("C0GENERAL")] == ["taken, answer lost"]
    release = stub.hold_next("chat.postMessage")
    answers: list[Any] = []
    caller = threading.Thread(target=lambda: answers.append(client.chat_postMessage(channel="C0GENERAL", text="held")))
    caller.start()
    stub.wait_for(lambda: len(stub.messages("C0GENERAL")) == 2)  # posted at once...
    assert answers == []  # ...its answer not yet back
    release.set()
    caller.join(10)
    assert answers[0]["ok"] is True and answers[0]["ts"] == stub.messages("C0GENERAL")[-1]["ts"]


def test_auth_test_and_post_message_shapes(stub: SlackStub, client: WebClient) -> None:
    auth = client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"], auth["is_enterprise_install"]) == (
        "U0BOT", "B0BOT", "T0SANDBOX", False)

    resp = client.chat_postMessage(channel="C0GENERAL", text="hello", metadata={
        "event_type": "draft", "event_payload": {"id": 1}})
    message = resp["message"]
    assert resp["channel"] == "C0GENERAL" and resp["ts"] == message["ts"]
    assert (message["user"], message["bot_id"], message["app_id"], message["team"]) == (
        "U0BOT", "B0BOT", "A0SANDBOX", "T0SANDBOX")
    assert message["bot_profile"]["name"] == "finetune-bot"
    assert stub.messages("C0GENERAL")[-1]["text"] == "hello"
    # the bot's own post is delivered back as a message event carrying bot_id, as Slack does
    event = stub.wait_for(lambda: stub.events_of("message"))[0]
    assert event["bot_id"] == "B0BOT" and event["channel_type"] == "channel"

    second = client.chat_postMessage(channel="#general", text="again")
    assert float(second["ts"]) > float(resp["ts"]), "ts must strictly increase even on a stopped clock"
    history = client.conversations_history(channel="C0GENERAL")
    assert [m["text"] for m in history["messages"]] == ["again", "hello"]  # newest first
    assert "metadata" not in history["messages"][1]
    with_meta = client.conversations_history(channel="C0GENERAL", include_all_metadata=True)
    assert with_meta["messages"][1]["metadata"]["event_type"] == "draft"

    assert client.users_info(user="U0ALICE")["user"]["name"] == "alice"
    assert client.conversations_info(channel="D0ALICE")["channel"]["is_im"] is True
    dm = client.chat_postMessage(channel="U0ALICE", text="psst")  # a user ID posts into their DM
    assert dm["channel"] == "D0ALICE"


def test_update_and_ephemeral(stub: SlackStub, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0GENERAL", text="draft")["ts"]
    updated = client.chat_update(channel="C0GENERAL", ts=ts, text="final")
    assert updated["text"] == "final"
    stored = stub.message("C0GENERAL", ts)
    assert stored is not None and stored["text"] == "final" and stored["edited"]["user"] == "U0BOT"

    alice_msg = stub.post_as_user("U0ALICE", "C0GENERAL", "mine")
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C0GENERAL", ts=alice_msg["ts"], text="hijack")
    assert err.value.response["error"] == "cant_update_message"
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C0GENERAL", ts="1.000001", text="nothing")
    assert err.value.response["error"] == "message_not_found"

    eph = client.chat_postEphemeral(channel="C0GENERAL", user="U0BOB", text="only you")
    assert stub.ephemerals[-1]["user"] == "U0BOB" and stub.ephemerals[-1]["text"] == "only you"
    assert stub.ephemerals[-1]["ts"] == eph["message_ts"]
    assert all(m["text"] != "only you" for m in stub.messages("C0GENERAL"))


def test_web_api_error_shapes(stub: SlackStub, client: WebClient) -> None:
    def error_of(call: Callable[[], Any]) -> str:
        with pytest.raises(SlackApiError) as err:
            call()
        assert err.value.response.status_code == 200
        return err.value.response["error"]

    assert error_of(lambda: client.chat_postMessage(channel="C0NOPE", text="x")) == "channel_not_found"
    with pytest.warns(UserWarning):  # slack_sdk itself warns about a missing text
        assert error_of(lambda: client.chat_postMessage(channel="C0GENERAL")) == "no_text"
    assert error_of(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"
    assert error_of(lambda: client.conversations_replies(channel="C0GENERAL", ts="1.000001")) == "thread_not_found"
    assert error_of(lambda: client.api_call("does.notExist")) == "unknown_method"
    wrong = WebClient(token="xoxb-wrong", base_url=stub.api_url)
    assert error_of(wrong.auth_test) == "invalid_auth"
    anonymous = WebClient(base_url=stub.api_url)
    assert error_of(anonymous.auth_test) == "not_authed"
    assert error_of(lambda: client.apps_connections_open(app_token=stub.bot_token)) == "not_allowed_token_type"
    assert error_of(lambda: client.apps_connections_open(app_token="xapp-wrong")) == "invalid_auth"
    assert client.apps_connections_open(app_token=stub.app_token)["url"].startswith("ws://127.0.0.1:")

    stub.fail_next("users.info", "fatal_error")
    assert error_of(lambda: client.users_info(user="U0ALICE")) == "fatal_error"
    assert client.users_info(user="U0ALICE")["ok"] is True
    assert [c.response["ok"] for c in stub.calls_to("users.info")] == [False, False, True]
    assert stub.calls_to("auth.test")[0].token == "xoxb-wrong"


def test_rate_limit_answers_429_with_retry_after(stub: SlackStub, client: WebClient) -> None:
    stub.fail_next("chat.postMessage", retry_after=7, count=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel="C0GENERAL", text="too fast")
        assert err.value.response.status_code == 429
        assert err.value.response["error"] == "ratelimited"
        assert err.value.response.headers["Retry-After"] == "7"
    assert client.chat_postMessage(channel="C0GENERAL", text="now fine")["ok"]
    assert [c.status for c in stub.calls_to("chat.postMessage")] == [429, 429, 200]
    assert [m["text"] for m in stub.messages("C0GENERAL")] == ["now fine"]


def test_a_500_answers_slacks_error_body_and_can_come_after_the_call_was_carried_out(stub: SlackStub,
                                                                                     client: WebClient) -> None:
    stub.fail_next("chat.postMessage", "internal_error", status=500)
    stub.fail_next("chat.postMessage", "internal_error", status=500, after=True)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel="C0GENERAL", text="lost answer")
        assert err.value.response.status_code == 500
        assert err.value.response.data == {"ok": False, "error": "internal_error"}
    assert [m["text"] for m in stub.messages("C0GENERAL")] == ["lost answer"]  # only the second was carried out


def test_form_encoded_calls_and_token_param(stub: SlackStub) -> None:
    """Form bodies with the token as a parameter work like JSON bodies with a Bearer header."""
    plain = WebClient(base_url=stub.api_url)
    resp = plain.api_call("chat.postMessage", params={"token": stub.bot_token, "channel": "C0GENERAL",
                                                       "text": "form", "blocks": '[{"type": "divider"}]'})
    assert resp["message"]["blocks"] == [{"type": "divider"}]
    assert stub.calls_to("chat.postMessage")[0].args["channel"] == "C0GENERAL"
    assert "token" not in stub.calls_to("chat.postMessage")[0].args


def test_thread_bookkeeping_and_replies_pagination(stub: SlackStub, client: WebClient) -> None:
    parent = stub.post_as_user("U0ALICE", "C0GENERAL", "question")
    replies = [stub.post_as_user("U0BOB" if i % 2 else "U0ALICE", "C0GENERAL", f"r{i}", thread_ts=parent["ts"])
               for i in range(4)]
    bot_reply = client.chat_postMessage(channel="C0GENERAL", text="r4", thread_ts=parent["ts"])["message"]
    assert bot_reply["thread_ts"] == parent["ts"] and bot_reply["parent_user_id"] == "U0ALICE"

    stored_parent = stub.message("C0GENERAL", parent["ts"])
    assert stored_parent is not None
    assert stored_parent["reply_count"] == 5
    assert stored_parent["reply_users"] == ["U0ALICE", "U0BOB", "U0BOT"]
    assert stored_parent["latest_reply"] == bot_reply["ts"]
    assert [m["text"] for m in stub.messages("C0GENERAL")] == ["question"]  # replies stay in the thread

    pages, cursor = [], None
    while True:
        page = client.conversations_replies(channel="C0GENERAL", ts=parent["ts"], limit=2, cursor=cursor)
        pages.append([m["text"] for m in page["messages"]])
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert pages == [["question", "r0"], ["r1", "r2"], ["r3", "r4"]]
    # slack_sdk's own iterator follows next_cursor the same way
    texts = [m["text"] for p in client.conversations_replies(channel="C0GENERAL", ts=parent["ts"], limit=4)
             for m in p["messages"]]
    assert texts == ["question", "r0", "r1", "r2", "r3", "r4"]
    # a reply's ts finds the whole thread, parent first
    by_reply = client.conversations_replies(channel="C0GENERAL", ts=replies[2]["ts"])
    assert by_reply["messages"][0]["ts"] == parent["ts"]
    assert [m["ts"] for m in stub.thread("C0GENERAL", parent["ts"])] == [m["ts"] for m in by_reply["messages"]]


def test_bot_reactions_and_reactions_get(stub: SlackStub, client: WebClient) -> None:
    msg = stub.post_as_user("U0ALICE", "C0GENERAL", "rate me")
    client.reactions_add(channel="C0GENERAL", timestamp=msg["ts"], name="eyes")
    stub.add_reaction("U0BOB", "C0GENERAL", msg["ts"], "eyes")
    got = client.reactions_get(channel="C0GENERAL", timestamp=msg["ts"])
    assert got["message"]["reactions"] == [{"name": "eyes", "users": ["U0BOT", "U0BOB"], "count": 2}]
    with pytest.raises(SlackApiError) as err:
        client.reactions_add(channel="C0GENERAL", timestamp=msg["ts"], name="eyes")
    assert err.value.response["error"] == "already_reacted"
    client.reactions_remove(channel="C0GENERAL", timestamp=msg["ts"], name="eyes")
    with pytest.raises(SlackApiError) as err:
        client.reactions_remove(channel="C0GENERAL", timestamp=msg["ts"], name="eyes")
    assert err.value.response["error"] == "no_reaction"
    # the bot's own reactions come back as events with the bot as user
    bot_events = stub.wait_for(lambda: [e for e in stub.events if e["event"]["user"] == "U0BOT"
                                        and e["event"]["type"].startswith("reaction_")])
    assert {e["event"]["type"] for e in bot_events} == {"reaction_added", "reaction_removed"}


def test_subscribe_reports_changes_until_unsubscribed(stub: SlackStub, client: WebClient) -> None:
    records: list[dict] = []
    unsubscribe = stub.subscribe(records.append)
    msg = stub.post_as_user("U0ALICE", "C0GENERAL", "hi")
    stub.add_reaction("U0BOB", "C0GENERAL", msg["ts"], "wave")
    client.chat_update(channel="C0GENERAL", ts=client.chat_postMessage(channel="C0GENERAL", text="a")["ts"], text="b")
    client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="psst")
    assert [r["type"] for r in records] == [
        "message_posted", "reaction_added", "message_posted", "message_updated", "ephemeral"]
    assert records[0]["message"]["text"] == "hi" and records[1]["reaction"] == "wave"
    unsubscribe()
    stub.post_as_user("U0ALICE", "C0GENERAL", "unheard")
    assert len(records) == 5


# ----------------------------------------------------------------------------- Bolt over HTTP


def test_http_app_mention_is_answered_in_thread(stub: SlackStub, http_app: tuple[App, Recorder, str]) -> None:
    _, recorder, _ = http_app
    msg = stub.post_as_user("U0ALICE", "C0GENERAL", "<@U0BOT> what is 2+2?")
    thread = wait_for_thread(stub, "C0GENERAL", msg["ts"], length=2)
    reply = thread[1]
    assert reply["text"] == "echo: <@U0BOT> what is 2+2?"
    assert (reply["user"], reply["bot_id"], reply["thread_ts"]) == ("U0BOT", "B0BOT", msg["ts"])

    mention = recorder.events("app_mention")[0]
    assert (mention["user"], mention["channel"], mention["ts"]) == ("U0ALICE", "C0GENERAL", msg["ts"])
    body = recorder.bodies[[b["event"]["type"] for b in recorder.bodies].index("app_mention")]
    assert body["type"] == "event_callback" and body["event_id"].startswith("Ev")
    assert body["authorizations"][0]["user_id"] == "U0BOT" and body["api_app_id"] == "A0SANDBOX"
    user_message = stub.wait_for(lambda: recorder.events("message"))[0]
    assert user_message["channel_type"] == "channel" and user_message["text"] == msg["text"]
    assert user_message["blocks"][0]["elements"][0]["elements"][0] == {"type": "user", "user_id": "U0BOT"}
    # the bot's reply came back as an event too, acked by Bolt (which ignores its own messages)
    bot_delivery = stub.wait_for(lambda: [d for d in stub.deliveries if d.body["event"].get("bot_id")])[0]
    assert bot_delivery.status == 200 and bot_delivery.transport == "http"
    assert [e for e in recorder.events("message") if e.get("bot_id")] == []


def test_http_reaction_events_have_slack_shape(stub: SlackStub, http_app: tuple[App, Recorder, str]) -> None:
    _, recorder, _ = http_app
    msg = stub.post_as_user("U0BOB", "C0GENERAL", "answer")
    stub.add_reaction("U0ALICE", "C0GENERAL", msg["ts"], "white_check_mark")
    stub.remove_reaction("U0ALICE", "C0GENERAL", msg["ts"], "white_check_mark")
    added = stub.wait_for(lambda: recorder.events("reaction_added"))[0]
    assert added["user"] == "U0ALICE" and added["reaction"] == "white_check_mark"
    assert added["item_user"] == "U0BOB"
    assert added["item"] == {"type": "message", "channel": "C0GENERAL", "ts": msg["ts"]}
    assert float(added["event_ts"]) > float(msg["ts"])
    removed = stub.wait_for(lambda: recorder.events("reaction_removed"))[0]
    assert removed["item"]["ts"] == msg["ts"]
    assert stub.message("C0GENERAL", msg["ts"]).get("reactions") is None  # type: ignore[union-attr]


def test_http_slash_command_ack_and_respond_become_ephemerals(
    stub: SlackStub, http_app: tuple[App, Recorder, str]
) -> None:
    result = stub.slash_command("U0ALICE", "C0GENERAL", "/ask", "why?")
    assert result["status"] == 200 and result["ack"] == {"text": "Thinking about: why?"}
    assert result["response_url"].startswith(stub.base_url)
    ack = next(e for e in stub.ephemerals if e["source"] == "ack")  # respond() may race the ack
    assert (ack["channel"], ack["user"], ack["text"], ack["source"]) == (
        "C0GENERAL", "U0ALICE", "Thinking about: why?", "ack")
    followup = stub.wait_for(lambda: [e for e in stub.ephemerals if e["source"] == "response_url"])[0]
    assert followup["text"] == "Answer for alice" and followup["user"] == "U0ALICE"
    sent = stub.deliveries[-1]
    assert sent.kind == "slash_commands" and sent.body["command"] == "/ask" and sent.body["channel_name"] == "general"
    assert stub.messages("C0GENERAL") == []


def test_bad_or_stale_signature_is_rejected_by_bolt(stub: SlackStub, http_app: tuple[App, Recorder, str]) -> None:
    _, recorder, url = http_app
    body = stub.event_body({"type": "reaction_added", "user": "U0ALICE", "reaction": "x",
                            "item": {"type": "message", "channel": "C0GENERAL", "ts": "1.000001"},
                            "event_ts": "1.000002"})
    wrong_secret = EventsDriver(url, "not-the-secret")
    assert wrong_secret.post_event(body)[0] == 401
    driver = EventsDriver(url, stub.signing_secret)
    assert driver.post_event(body, timestamp=int(time.time()) - 600)[0] == 401
    assert driver.post_event(body, signature="v0=deadbeef")[0] == 401
    assert recorder.events("reaction_added") == []
    assert driver.post_event(body)[0] == 200
    assert stub.wait_for(lambda: recorder.events("reaction_added"))


def test_http_redelivery_after_ack_timeout_carries_retry_headers(
    stub: SlackStub, http_app: tuple[App, Recorder, str]
) -> None:
    app, _, _ = http_app
    seen = Recorder()
    release = threading.Event()

    @app.middleware
    def slow_first_attempt(req: Any, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        if req.body.get("event", {}).get("type") == "reaction_added":
            headers = {k: v[0] for k, v in req.headers.items() if k.startswith("x-slack-retry")}
            seen.add(req.body, headers)
            if not headers:
                release.wait(10)  # the app is too slow: Slack gives up waiting and redelivers
        return next()

    stub.ack_timeout = 0.5
    try:
        msg = stub.post_as_user("U0BOB", "C0GENERAL", "answer")
        stub.add_reaction("U0ALICE", "C0GENERAL", msg["ts"], "thumbsup")
    finally:
        release.set()
    reactions = list(zip([b["event_id"] for b in seen.bodies], seen.headers, strict=True))
    assert len(reactions) == 2 and reactions[0][0] == reactions[1][0]  # same event_id redelivered
    assert reactions[0][1] == {}
    assert reactions[1][1] == {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    attempts = [(d.attempt, d.timed_out, d.status) for d in stub.deliveries if d.event_id == reactions[0][0]]
    assert attempts == [(0, True, 0), (1, False, 200)]


def test_send_event_with_explicit_retry_num(stub: SlackStub, http_app: tuple[App, Recorder, str]) -> None:
    app, recorder, _ = http_app

    @app.middleware
    def capture(req: Any, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        recorder.add({"probe": True, **req.body}, {k: v[0] for k, v in req.headers.items()})
        return next()

    event = {"type": "reaction_added", "user": "U0ALICE", "reaction": "x",
             "item": {"type": "message", "channel": "C0GENERAL", "ts": "1.000001"}, "event_ts": "1.000002"}
    assert stub.send_event(event, event_id="Ev0SAME") == 200
    assert stub.send_event(event, event_id="Ev0SAME", retry_num=2, retry_reason="http_error") == 200
    probes = [(b["event_id"], h.get("x-slack-retry-num"), h.get("x-slack-retry-reason"), h["content-type"])
              for b, h in zip(recorder.bodies, recorder.headers, strict=True) if b.get("probe")]
    assert probes == [("Ev0SAME", None, None, "application/json"), ("Ev0SAME", "2", "http_error", "application/json")]


# ----------------------------------------------------------------------------- Bolt over Socket Mode


def test_socket_mode_protocol_with_a_raw_websocket(stub: SlackStub, client: WebClient) -> None:
    """hello, envelope fields and acks exactly as a socket-mode client sees them; tickets are one-time."""
    url = client.apps_connections_open(app_token=stub.app_token)["url"]
    with ws_connect(url) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"] == {"app_id": "A0SANDBOX"} and "debug_info" in hello
        result: list[int] = []
        sender = threading.Thread(target=lambda: result.append(stub.send_event({"type": "app_mention", "ts": "1.2"})))
        sender.start()
        envelope = json.loads(ws.recv(timeout=5))
        assert {k: envelope[k] for k in ("type", "accepts_response_payload", "retry_attempt", "retry_reason")} == {
            "type": "events_api", "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": ""}
        assert envelope["payload"]["type"] == "event_callback" and envelope["payload"]["event"]["ts"] == "1.2"
        ws.send(json.dumps({"envelope_id": envelope["envelope_id"]}))
        sender.join(5)
        assert result == [200]
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url).close()  # the ticket was used up
    assert refused.value.response.status_code == 401


def test_socket_mode_app_mention_is_answered_in_thread(
    stub: SlackStub, socket_app: tuple[App, Recorder, SocketModeHandler]
) -> None:
    _, recorder, _ = socket_app
    stub.deliver_to("http://127.0.0.1:9/never-used")  # a connected socket takes precedence over HTTP
    msg = stub.post_as_user("U0ALICE", "C0GENERAL", "<@U0BOT> over the socket")
    thread = wait_for_thread(stub, "C0GENERAL", msg["ts"], length=2)
    assert thread[1]["text"] == "echo: <@U0BOT> over the socket" and thread[1]["thread_ts"] == msg["ts"]
    assert recorder.events("app_mention")[0]["ts"] == msg["ts"]
    mention_delivery = next(d for d in stub.deliveries if d.body["event"]["type"] == "app_mention")
    assert (mention_delivery.transport, mention_delivery.status) == ("socket", 200)
    acked_ids = {m.get("envelope_id") for m in stub.socket.received}
    assert len(acked_ids) >= 2 and None not in acked_ids
    assert [c.token for c in stub.calls_to("apps.connections.open")] == [stub.app_token]


def test_socket_mode_reactions_and_slash_command(
    stub: SlackStub, socket_app: tuple[App, Recorder, SocketModeHandler]
) -> None:
    _, recorder, _ = socket_app
    msg = stub.post_as_user("U0BOB", "D0ALICE", "dm text")
    assert stub.wait_for(lambda: recorder.events("message"))[0]["channel_type"] == "im"
    stub.add_reaction("U0ALICE", "D0ALICE", msg["ts"], "+1")
    added = stub.wait_for(lambda: recorder.events("reaction_added"))[0]
    assert added["item"] == {"type": "message", "channel": "D0ALICE", "ts": msg["ts"]}

    result = stub.slash_command("U0ALICE", "D0ALICE", "/ask", "over socket")
    assert result == {"status": 200, "ack": {"text": "Thinking about: over socket"},
                      "response_url": result["response_url"]}
    assert stub.deliveries[-1].transport == "socket" and stub.deliveries[-1].body["channel_name"] == "directmessage"
    followup = stub.wait_for(lambda: [e for e in stub.ephemerals if e["source"] == "response_url"])[0]
    assert followup["text"] == "Answer for alice" and followup["channel"] == "D0ALICE"


def test_socket_mode_redelivery_uses_retry_attempt(
    stub: SlackStub, socket_app: tuple[App, Recorder, SocketModeHandler]
) -> None:
    app, _, _ = socket_app
    recorder = Recorder()
    release = threading.Event()

    @app.middleware
    def slow_first_attempt(req: Any, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        if req.body.get("event", {}).get("type") == "reaction_added":
            headers = {k: v[0] for k, v in req.headers.items() if k.startswith("x-slack-retry")}
            recorder.add(req.body, headers)
            if headers.get("x-slack-retry-num") == "0":
                release.wait(10)
        return next()

    stub.ack_timeout = 0.5
    try:
        stub.add_reaction("U0ALICE", "C0GENERAL", stub.post_as_user("U0BOB", "C0GENERAL", "x")["ts"], "eyes")
    finally:
        release.set()
    seen = list(zip([b["event_id"] for b in recorder.bodies], recorder.headers, strict=True))
    assert [h for _, h in seen] == [
        {"x-slack-retry-num": "0", "x-slack-retry-reason": ""},
        {"x-slack-retry-num": "1", "x-slack-retry-reason": "timeout"},
    ]
    assert seen[0][0] == seen[1][0]
    # the released first attempt still acks (late); let it land before the socket closes
    stub.wait_for(lambda: len(stub.socket.received) == len([d for d in stub.deliveries if d.transport == "socket"]))


def test_socket_mode_reconnects_after_disconnect_message(
    stub: SlackStub, socket_app: tuple[App, Recorder, SocketModeHandler]
) -> None:
    _, recorder, _ = socket_app
    stub.disconnect_socket_mode()
    stub.wait_for(lambda: len(stub.calls_to("apps.connections.open")) == 2)
    stub.wait_for(lambda: stub.socket.connected)
    msg = stub.post_as_user("U0ALICE", "C0GENERAL", "<@U0BOT> still there?")
    assert len(wait_for_thread(stub, "C0GENERAL", msg["ts"], length=2)) == 2
    assert recorder.events("app_mention")[-1]["ts"] == msg["ts"]


def test_events_without_an_app_are_recorded_not_lost(stub: SlackStub) -> None:
    msg = stub.post_as_user("U0ALICE", "C0GENERAL", "<@U0BOT> anyone?")
    assert [e["event"]["type"] for e in stub.events] == ["message", "app_mention"]
    assert {(d.transport, d.status) for d in stub.deliveries} == {("none", 0)}
    assert stub.send_event({"type": "app_mention", "ts": msg["ts"]}) == 0
    with pytest.raises(AssertionError, match="recent deliveries: .*app_mention"):
        stub.wait_for(lambda: stub.message("C0GENERAL", "1.000001"), timeout=0.05)


def test_event_subscriptions_filter_deliveries(stub: SlackStub, http_app: tuple[App, Recorder, str]) -> None:
    _, recorder, _ = http_app
    stub.set_event_subscriptions({"app_mention"})
    msg = stub.post_as_user("U0ALICE", "C0GENERAL", "<@U0BOT> only the mention please")
    wait_for_thread(stub, "C0GENERAL", msg["ts"], length=2)
    assert recorder.events("message") == []
    alice = [(d.body["event"]["type"], d.transport) for d in stub.deliveries if d.body["event"]["user"] == "U0ALICE"]
    assert alice == [("message", "filtered"), ("app_mention", "http")]


@pytest.mark.parametrize("response_type", ["ephemeral", "in_channel"])
def test_an_ack_sorts_before_what_the_app_answered_through_response_url_before_acking(
    stub: SlackStub, response_type: str
) -> None:
    """respond() often races the ack's HTTP response; here the answer arrives first, every time."""

    def app(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        form = dict(urllib.parse.parse_qsl(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])).decode()))
        assert WebhookClient(form["response_url"]).send(text="Done.", response_type=response_type).status_code == 200
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"text": "Working on it", "response_type": response_type}).encode()]

    server = make_server("127.0.0.1", 0, app, _ThreadingWSGIServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        stub.deliver_to(f"http://127.0.0.1:{server.server_port}/slack/events")
        assert stub.slash_command("U0ALICE", "C0GENERAL", "/ask", "now")["status"] == 200
    finally:
        server.shutdown()
        server.server_close()
    shown = stub.ephemerals if response_type == "ephemeral" else stub.messages("C0GENERAL")
    assert [m["text"] for m in shown] == ["Working on it", "Done."], "the ack first, as Slack shows it"
    assert [m["ts"] for m in shown] == sorted((m["ts"] for m in shown), key=lambda ts: tuple(map(int, ts.split("."))))


def test_response_url_posts_ephemeral_or_in_channel(stub: SlackStub) -> None:
    result = stub.slash_command("U0BOB", "C0GENERAL", "/ask", "no app listening")
    assert (result["status"], result["ack"]) == (0, None)
    hook = WebhookClient(result["response_url"])
    assert hook.send(text="just for bob").status_code == 200
    assert hook.send(text="for everyone", response_type="in_channel").status_code == 200
    assert [(e["user"], e["text"]) for e in stub.ephemerals] == [("U0BOB", "just for bob")]
    public = stub.messages("C0GENERAL")[-1]
    assert (public["text"], public["bot_id"]) == ("for everyone", "B0BOT")
    assert WebhookClient(stub.base_url + "commands/T0SANDBOX/999/nope").send(text="x").status_code == 404
