"""The Slack stub's interactivity, files and scopes against a real slack_bolt App and slack_sdk WebClient.

Clicks, message shortcuts and modal submissions reach the app in Slack's wire formats (a signed,
form-encoded `payload=` over HTTP; an `interactive` envelope over Socket Mode); views.open checks
trigger_ids as Slack does; files_upload_v2 runs its three real steps; a missing scope is refused.
"""
from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, InputBlock, PlainTextInputElement
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from sandbox.clock import ManualClock
from sandbox.slack_stub import SlackStub
from tests.sandbox.test_slack_stub import _QuietHandler, _ThreadingWSGIServer, close_socket_app

pytestmark = pytest.mark.timeout(30)

FEEDBACK = {"type": "context_actions", "elements": [{
    "type": "feedback_buttons", "action_id": "rate",
    "positive_button": {"text": {"type": "plain_text", "text": "Good"}, "value": "up"},
    "negative_button": {"text": {"type": "plain_text", "text": "Bad"}, "value": "down"},
}]}


def modal(text: str = "draft") -> View:
    return View(type="modal", callback_id="edit", title="Edit it", submit="Save", private_metadata="meta-1", blocks=[
        InputBlock(block_id="answer", label="Answer",
                   element=PlainTextInputElement(action_id="text", multiline=True, initial_value=text, max_length=3000)),
    ])


class Seen:
    """Payloads the app received, by type, safe across Bolt's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict] = []

    def add(self, body: dict) -> None:
        with self.lock:
            self.bodies.append(body)

    def of(self, kind: str) -> list[dict]:
        with self.lock:
            return [b for b in self.bodies if b.get("type") == kind]


def make_app(stub: SlackStub, seen: Seen) -> App:
    app = App(client=WebClient(token=stub.bot_token, base_url=stub.api_url), signing_secret=stub.signing_secret)

    @app.action("rate")
    def on_rate(ack: Callable[..., Any], body: dict, action: dict, respond: Callable[..., Any]) -> None:
        ack()
        seen.add(body)
        respond(text=f"you said {action['value']}", response_type="ephemeral", replace_original=False)

    @app.action("edit")
    def on_edit(ack: Callable[..., Any], body: dict, client: WebClient) -> None:
        ack()
        seen.add(body)
        client.views_open(trigger_id=body["trigger_id"], view=modal())

    @app.shortcut("edit_shortcut")
    def on_shortcut(ack: Callable[..., Any], shortcut: dict, client: WebClient) -> None:
        ack()
        seen.add(shortcut)
        client.views_open(trigger_id=shortcut["trigger_id"], view=modal(shortcut["message"]["text"]))

    @app.view("edit")
    def on_submit(ack: Callable[..., Any], body: dict, view: dict) -> None:
        seen.add(body)
        value = view["state"]["values"]["answer"]["text"]["value"]
        if value == "nope":
            ack(response_action="errors", errors={"answer": "Not that."})
        else:
            ack()

    return app


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    s = SlackStub(ManualClock()).start()
    yield s
    s.stop()


@pytest.fixture
def client(stub: SlackStub) -> WebClient:
    return WebClient(token=stub.bot_token, base_url=stub.api_url)


@pytest.fixture(params=["http", "socket"])
def app(request: pytest.FixtureRequest, stub: SlackStub) -> Iterator[Seen]:
    """The same Bolt app, reached over HTTP (signed POSTs) and over Socket Mode."""
    seen = Seen()
    bolt = make_app(stub, seen)
    if request.param == "http":
        server = make_server("127.0.0.1", 0, SlackRequestHandler(bolt), _ThreadingWSGIServer, _QuietHandler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        stub.deliver_to(f"http://127.0.0.1:{server.server_port}/slack/events")
        yield seen
        server.shutdown()
        server.server_close()
    else:
        handler = SocketModeHandler(bolt, stub.app_token)
        handler.connect()
        stub.wait_for(lambda: stub.socket.connected)
        yield seen
        close_socket_app(stub, handler)


def post_with_buttons(client: WebClient, stub: SlackStub) -> dict:
    parent = stub.post_as_user("U0ALICE", "C0GENERAL", "question")
    blocks = [FEEDBACK, ActionsBlock(elements=[ButtonElement(text="Edit", action_id="edit", value="e1")]).to_dict()]
    return client.chat_postMessage(channel="C0GENERAL", thread_ts=parent["ts"], text="an answer", blocks=blocks)["message"]


def test_a_feedback_click_sends_block_actions_and_the_answer_through_response_url_is_only_for_the_clicker(
    stub: SlackStub, client: WebClient, app: Seen
) -> None:
    answer = post_with_buttons(client, stub)
    clicked = stub.feedback("U0BOB", "C0GENERAL", answer["ts"], positive=False)
    assert clicked.acked
    [body] = stub.wait_for(lambda: app.of("block_actions"))
    assert body["user"]["id"] == "U0BOB" and body["team"]["id"] == stub.team_id
    assert body["container"] == {"type": "message", "message_ts": answer["ts"], "channel_id": "C0GENERAL",
                                 "is_ephemeral": False, "thread_ts": answer["thread_ts"]}
    [action] = body["actions"]
    assert action["type"] == "feedback_buttons" and action["action_id"] == "rate" and action["value"] == "down"
    assert action["block_id"] == body["message"]["blocks"][0]["block_id"] and action["action_ts"]
    assert body["response_url"].startswith(stub.base_url + "actions/")
    note = stub.wait_for(lambda: stub.ephemerals_for("U0BOB"))
    assert note[0]["text"] == "you said down" and note[0]["thread_ts"] == answer["thread_ts"]
    assert stub.ephemerals_for("U0ALICE") == []
    with pytest.raises(ValueError, match="no clickable"):
        stub.click("U0BOB", "C0GENERAL", answer["ts"], "delete")  # the message shows no such button


def test_over_http_an_interaction_is_a_signed_form_with_one_payload_field(stub: SlackStub, client: WebClient) -> None:
    requests: list[tuple[dict, bytes]] = []

    def wsgi(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        requests.append(({k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))}, raw))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    server = make_server("127.0.0.1", 0, wsgi, _ThreadingWSGIServer, _QuietHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        stub.deliver_to(f"http://127.0.0.1:{server.server_port}/slack/events")
        answer = post_with_buttons(client, stub)
        assert stub.feedback("U0BOB", "C0GENERAL", answer["ts"]).acked
    finally:
        server.shutdown()
        server.server_close()
    [(headers, raw)] = [r for r in requests if not r[1].startswith(b"{")]  # events (the messages) are JSON
    assert headers["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    form = urllib.parse.parse_qs(raw.decode())
    assert list(form) == ["payload"] and json.loads(form["payload"][0])["type"] == "block_actions"
    verifier = SignatureVerifier(stub.signing_secret)
    assert verifier.is_valid(raw, headers["HTTP_X_SLACK_REQUEST_TIMESTAMP"], headers["HTTP_X_SLACK_SIGNATURE"])
    assert "HTTP_X_SLACK_RETRY_NUM" not in headers  # interactions are never redelivered
    # the message events the post set off are delivered on their own threads, so they may be recorded after it
    assert [d.kind for d in stub.deliveries if d.kind != "events_api"] == ["interactive"]


def test_a_button_opens_a_modal_with_its_trigger_and_submitting_it_reaches_the_app(
    stub: SlackStub, client: WebClient, app: Seen
) -> None:
    answer = post_with_buttons(client, stub)
    stub.click("U0ALICE", "C0GENERAL", answer["ts"], "edit")
    [view] = stub.wait_for(lambda: stub.open_views("U0ALICE"))
    assert view["callback_id"] == "edit" and view["private_metadata"] == "meta-1" and view["id"].startswith("V")
    assert view["blocks"][0]["element"]["initial_value"] == "draft"

    refused = stub.submit_view("U0ALICE", {"answer": "nope"})
    assert refused.response == {"response_action": "errors", "errors": {"answer": "Not that."}}
    assert stub.view_errors(view["id"]) == {"answer": "Not that."} and stub.open_views("U0ALICE")

    saved = stub.submit_view("U0ALICE", {"answer": "better"})
    assert saved.acked and stub.open_views("U0ALICE") == []
    submitted = app.of("view_submission")[-1]
    assert submitted["view"]["state"]["values"] == {"answer": {"text": {"type": "plain_text_input", "value": "better"}}}
    assert submitted["user"]["id"] == "U0ALICE" and submitted["view"]["private_metadata"] == "meta-1"
    stub.click("U0ALICE", "C0GENERAL", answer["ts"], "edit")
    stub.wait_for(lambda: stub.open_views("U0ALICE"))
    with pytest.raises(ValueError, match="required and empty"):
        stub.submit_view("U0ALICE", {"answer": ""})  # a Slack client does not send an empty required input
    with pytest.raises(ValueError, match="over its 3000"):
        stub.submit_view("U0ALICE", {"answer": "x" * 3001})
    assert stub.close_view("U0ALICE") is None and stub.open_views("U0ALICE") == []  # no notify_on_close


def test_a_message_shortcut_sends_message_action_with_the_message(stub: SlackStub, client: WebClient, app: Seen) -> None:
    answer = post_with_buttons(client, stub)
    stub.shortcut("U0BOB", "C0GENERAL", answer["ts"], "edit_shortcut")
    [body] = stub.wait_for(lambda: app.of("message_action"))
    assert body["callback_id"] == "edit_shortcut" and body["message_ts"] == answer["ts"]
    assert body["message"]["text"] == "an answer" and body["channel"] == {"id": "C0GENERAL", "name": "general"}
    assert body["response_url"] and body["trigger_id"]
    [view] = stub.wait_for(lambda: stub.open_views("U0BOB"))
    assert view["blocks"][0]["element"]["initial_value"] == "an answer"


def test_trigger_ids_are_good_once_for_three_seconds(stub: SlackStub, client: WebClient) -> None:
    trigger = stub._triggers.issue("U0ALICE")
    assert client.views_open(trigger_id=trigger, view=modal())["view"]["id"]
    with pytest.raises(SlackApiError) as used:
        client.views_open(trigger_id=trigger, view=modal())
    assert used.value.response["error"] == "exchanged_trigger_id"
    stale = stub._triggers.issue("U0ALICE")
    stub.clock.advance(3.5)  # type: ignore[attr-defined]
    with pytest.raises(SlackApiError) as expired:
        client.views_open(trigger_id=stale, view=modal())
    assert expired.value.response["error"] == "expired_trigger_id"
    with pytest.raises(SlackApiError) as made_up:
        client.views_open(trigger_id="123.456.abc", view=modal())
    assert made_up.value.response["error"] == "invalid_trigger_id"


def test_views_are_checked_like_slack_checks_them_and_update_and_push_change_the_stack(
    stub: SlackStub, client: WebClient
) -> None:
    with pytest.raises(SlackApiError) as long_title:
        raw = dict(modal().to_dict(), title={"type": "plain_text", "text": "A title longer than twenty-four"})
        client.views_open(trigger_id=stub._triggers.issue("U0ALICE"), view=raw)  # the SDK would refuse it as a View
    assert long_title.value.response["error"] == "invalid_arguments"
    assert "json-pointer:/view/title/text" in long_title.value.response["response_metadata"]["messages"][0]
    with pytest.raises(SlackApiError) as too_long:
        raw = modal().to_dict()
        raw["blocks"][0]["element"]["initial_value"] = "x" * 3001
        client.views_open(trigger_id=stub._triggers.issue("U0ALICE"), view=raw)
    assert "initial_value" in too_long.value.response["response_metadata"]["messages"][0]

    opened = client.views_open(trigger_id=stub._triggers.issue("U0ALICE"), view=modal())["view"]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("second"))["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    with pytest.raises(SlackApiError) as conflict:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("third"))
    assert conflict.value.response["error"] == "hash_conflict"
    for _ in range(2):
        client.views_push(trigger_id=stub._triggers.issue("U0ALICE"), view=modal("pushed"))
    with pytest.raises(SlackApiError) as limit:
        client.views_push(trigger_id=stub._triggers.issue("U0ALICE"), view=modal("fourth"))
    assert limit.value.response["error"] == "push_limit_reached"
    stack = stub.open_views("U0ALICE")
    assert len(stack) == 3 and stack[-1]["previous_view_id"] == stack[1]["id"]
    assert stack[-1]["root_view_id"] == opened["id"]


def test_response_urls_of_interactions_take_five_posts_in_thirty_minutes(stub: SlackStub, client: WebClient) -> None:
    answer = post_with_buttons(client, stub)
    hook = stub._action_hooks.open(stub.base_url, {"channel": "C0GENERAL", "user": "U0BOB", "message_ts": answer["ts"]})
    webhook = WebhookClient(hook)
    for n in range(5):
        assert webhook.send(text=f"note {n}", response_type="ephemeral", replace_original=False).status_code == 200
    sixth = webhook.send(text="one too many")
    assert sixth.status_code == 404 and sixth.body == "used_url"
    late = WebhookClient(stub._action_hooks.open(stub.base_url, {"channel": "C0GENERAL", "user": "U0BOB"}))
    stub.clock.advance(31 * 60)  # type: ignore[attr-defined]
    assert late.send(text="too late").body == "expired_url"
    replaced = WebhookClient(stub._action_hooks.open(stub.base_url, {"channel": "C0GENERAL", "user": "U0BOB",
                                                                      "message_ts": answer["ts"]}))
    assert replaced.send(text="replaced", replace_original=True).status_code == 200
    assert stub.message("C0GENERAL", answer["ts"])["text"] == "replaced"


def test_files_upload_v2_shares_the_file_in_a_dm_conversations_open_made(stub: SlackStub, client: WebClient) -> None:
    opened = client.conversations_open(users="U0BOB")
    dm = opened["channel"]["id"]
    assert dm.startswith("D") and "already_open" not in opened.data
    assert client.conversations_open(users="U0BOB")["already_open"] is True
    sent = client.files_upload_v2(channel=dm, content='{"a": 1}\n', filename="train.jsonl", title="train.jsonl",
                                  initial_comment="here it is")
    assert sent["file"]["id"].startswith("F")
    [shared] = stub.dm_files("U0BOB")
    assert shared["content"] == b'{"a": 1}\n' and shared["name"] == "train.jsonl" and shared["ims"] == [dm]
    [message] = stub.messages(dm)
    assert message["subtype"] == "file_share" and message["text"] == "here it is"
    called = [c.method for c in stub.calls]
    assert called.index("files.getUploadURLExternal") < called.index("files.completeUploadExternal")
    with pytest.raises(SlackApiError) as unsent:
        url = client.files_getUploadURLExternal(filename="x.txt", length=3)
        client.files_completeUploadExternal(files=[{"id": url["file_id"]}], channel_id=dm)
    assert unsent.value.response["error"] == "file_not_found"  # its bytes never reached the upload URL


def test_a_token_without_the_scope_a_method_needs_is_refused_with_missing_scope(stub: SlackStub, client: WebClient) -> None:
    stub.grant_scopes({"chat:write", "channels:history"})
    assert client.chat_postMessage(channel="C0GENERAL", text="hi")["ok"]
    with pytest.raises(SlackApiError) as refused:
        client.users_info(user="U0ALICE")
    assert refused.value.response.data == {"ok": False, "error": "missing_scope", "needed": "users:read",
                                           "provided": "channels:history,chat:write"}
    with pytest.raises(SlackApiError) as dm_history:
        client.conversations_history(channel="D0ALICE")
    assert dm_history.value.response["needed"] == "im:history"  # the scope depends on the kind of conversation
    assert client.conversations_history(channel="C0GENERAL")["ok"]
    assert [c.scope for c in stub.calls_to("users.info")] == ["users:read"]


def test_users_info_says_who_administers_the_workspace(stub: SlackStub, client: WebClient) -> None:
    stub.add_user("U0CAROL", "carol", is_admin=True)
    owner = client.users_info(user="U0ALICE")["user"]
    assert owner["is_owner"] and owner["is_admin"] and owner["is_primary_owner"]
    assert client.users_info(user="U0CAROL")["user"]["is_admin"] and not client.users_info(user="U0CAROL")["user"]["is_owner"]
    member = client.users_info(user="U0BOB")["user"]
    assert not member["is_admin"] and not member["is_owner"]
