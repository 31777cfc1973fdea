"""A local stand-in for Slack that speaks Slack's wire formats on 127.0.0.1.

The real slack_sdk WebClient (base_url=stub.api_url) and a real slack_bolt App talk to it
unchanged: the Web API over HTTP, events and slash commands either POSTed (signed) to the app's
request URL or sent as Socket Mode envelopes. `SlackStub` is the front door tests, the sandbox
and the playground use; the parts live beside it, one concern each:

    slack_stub_workspace  users, channels, messages, threads, reactions, ephemerals (plain state)
    slack_stub_objects    the shapes of Slack's users, channels, messages and command forms
    slack_stub_events     Events API payloads and their event_callback envelope
    slack_stub_delivery   handing events/commands to the app: HTTP or socket, ack timeout, redelivery
    slack_stub_commands   slash commands, their acks and response_urls
    slack_stub_api        the Web API methods
    slack_stub_wire       argument parsing, error bodies, ts comparison, cursors
    slack_stub_http       the HTTP server in front of the Web API and response_urls
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from finetune.clock import Clock, SystemClock
from sandbox.slack_socket import SocketModeServer
from sandbox.slack_stub_api import ApiCall, WebApi
from sandbox.slack_stub_commands import SlashCommands
from sandbox.slack_stub_delivery import MAX_RETRIES, Delivery, EventDelivery
from sandbox.slack_stub_events import SlackEvents
from sandbox.slack_stub_http import SlackHTTPServer
from sandbox.slack_stub_objects import IdCounter, Identity, SlackObjects, team_domain
from sandbox.slack_stub_wire import ApiError
from sandbox.slack_stub_workspace import Listener, Workspace

__all__ = ["SlackStub", "ApiCall", "ApiError", "Delivery", "Listener", "MAX_RETRIES", "Workspace"]


class SlackStub:
    """Slack for one workspace and one app: Web API, Events API delivery, Socket Mode, user actions."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        bot_token: str = "xoxb-sandbox-bot-token",
        app_token: str = "xapp-sandbox-app-token",
        signing_secret: str = "sandbox-signing-secret",
        team_id: str = "T0SANDBOX",
        team_name: str = "Sandbox",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0SANDBOX",
        bot_name: str = "finetune-bot",
        ack_timeout: float = 3.0,
        verification_token: str = "sandbox-verification-token",
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.bot_token, self.app_token, self.signing_secret = bot_token, app_token, signing_secret
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain(team_name)
        self.bot_user_id, self.bot_id, self.app_id, self.bot_name = bot_user_id, bot_id, app_id, bot_name
        self.verification_token = verification_token
        identity = Identity(team_id, team_name, self.team_domain, bot_user_id, bot_id, app_id, bot_name,
                            verification_token)
        self.workspace = Workspace(self.clock, team_id)
        self.socket = SocketModeServer(app_id)
        self._stopped = threading.Event()
        self._ids = IdCounter()
        self._objects = SlackObjects(identity, self.workspace, self._ids)
        self._events = SlackEvents(identity, self.workspace, self._ids)
        self._delivery = EventDelivery(self.socket, signing_secret, ack_timeout, self._stopped)
        self._commands = SlashCommands(self._objects, self._events, self._delivery)
        self._api = WebApi(self._objects, self._events, self._delivery, self.socket,
                           bot_token=bot_token, app_token=app_token)
        self._http: SlackHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self.api_url = ""
        self.base_url = ""
        self._seed()

    @property
    def ack_timeout(self) -> float:
        """Slack's 3 s to ack an event or command; shorten in tests of redelivery."""
        return self._delivery.ack_timeout

    @ack_timeout.setter
    def ack_timeout(self, seconds: float) -> None:
        self._delivery.ack_timeout = seconds

    # ------------------------------------------------------------- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SlackStub:
        """Serve the Web API (and response_urls) over HTTP, plus the Socket Mode WebSocket server."""
        if self._http is not None:
            raise RuntimeError("SlackStub already started")
        self._http = SlackHTTPServer((host, port), self.call_api, self.post_response_url)
        bound_host, bound_port = self._http.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}/"
        self.api_url = self.base_url + "api/"
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-stub-http", daemon=True
        )
        self._http_thread.start()
        self.socket.start(host, 0)
        return self

    def stop(self) -> None:
        """Close sockets, stop servers and let in-flight deliveries finish briefly. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.socket.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
        self._delivery.join_background(timeout=1)

    def __enter__(self) -> SlackStub:
        return self.start() if not self.api_url else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- workspace API

    def add_user(self, user_id: str, name: str, real_name: str | None = None, *, is_bot: bool = False) -> dict:
        return self.workspace.add_user(self._objects.user(user_id, name, real_name, is_bot))

    def add_channel(
        self, channel_id: str, name: str, *, is_im: bool = False, user: str | None = None, is_private: bool = False
    ) -> dict:
        """A public/private channel, or (is_im) a DM between `user` and the bot; IM objects carry no name."""
        if is_im:
            if not user:
                raise ValueError("a DM channel needs the user it is with")
            return self.workspace.add_channel(self._objects.im(channel_id, user))
        return self.workspace.add_channel(self._objects.channel(channel_id, name, is_private))

    def messages(self, channel: str) -> list[dict]:
        return self.workspace.messages(channel)

    def thread(self, channel: str, ts: str) -> list[dict]:
        return self.workspace.thread(channel, ts)

    def message(self, channel: str, ts: str) -> dict | None:
        return self.workspace.message(channel, ts)

    @property
    def ephemerals(self) -> list[dict]:
        """chat.postEphemeral posts and slash-command responses: {channel, user, text, blocks, ts, ...}."""
        return self.workspace.ephemerals()

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(record)` on every workspace change; returns the unsubscribe function."""
        return self.workspace.subscribe(callback)

    # ------------------------------------------------------------- saved state

    def snapshot(self) -> dict:
        """The workspace plus the id counter and open response_urls, as plain JSON, for a sandbox restart.

        The id counter matters: the bot remembers event_ids it has handled, so a restarted stub must not
        hand out Ev00000001 again. Calls, deliveries and events are test observation and are left out.
        """
        return {"workspace": self.workspace.snapshot(), "counter": self._ids.value,
                "commands": self._commands.snapshot()}

    def restore(self, state: dict) -> None:
        """Replace the workspace, counter and response_urls with a snapshot's; before start() or while serving."""
        counter = int(state["counter"])
        commands = {str(hook): dict(context) for hook, context in state["commands"].items()}
        self.workspace.restore(state["workspace"])
        self._ids.at_least(counter)
        self._commands.restore(commands)

    # ------------------------------------------------------------- observation

    @property
    def calls(self) -> list[ApiCall]:
        return self._api.calls

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def deliveries(self) -> list[Delivery]:
        """Every attempt to hand an event or command to the app, retries included."""
        return self._delivery.deliveries

    @property
    def events(self) -> list[dict]:
        """Every event_callback body generated, delivered or not (e.g. while no app is attached)."""
        return self._delivery.events

    def events_of(self, event_type: str) -> list[dict]:
        return [b["event"] for b in self.events if b["event"].get("type") == event_type]

    def fail_next(
        self, method: str, error: str = "ratelimited", *, status: int = 200, retry_after: int | None = None,
        count: int = 1, after: bool = False,
    ) -> None:
        """Make the next `count` calls to `method` fail; "ratelimited" answers HTTP 429 with Retry-After.

        status=500 answers HTTP 500 with {"ok": false, "error": error}; after=True carries the call out
        first and then answers the failure, as when Slack posted the message but its answer was lost."""
        if error == "ratelimited":
            status = 429 if status == 200 else status
            retry_after = 1 if retry_after is None else retry_after
        self._api.fail_next(method, error, status, retry_after, count, after)

    def hold_next(self, method: str) -> threading.Event:
        """The next call to `method` is performed at once, but its answer waits until the returned event is set
        (at most 30 s): a caller slow to hear back, or killed before it did."""
        return self._api.hold_next(method)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, *, interval: float = 0.01) -> Any:
        """Poll until predicate() is truthy (the app works after its ack); AssertionError with context otherwise."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = predicate()
            if last:
                return last
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_report(predicate, timeout, last))
            time.sleep(interval)

    def _timeout_report(self, predicate: Callable[[], Any], timeout: float, last: Any) -> str:
        name = getattr(predicate, "__qualname__", repr(predicate))
        calls = [f"{c.method} -> {c.response.get('error') or 'ok'}" for c in self.calls[-8:]]
        deliveries = [
            f"{d.body.get('event', {}).get('type') or d.body.get('command')} {d.event_id or ''} "
            f"attempt={d.attempt} via {d.transport}: {'timeout' if d.timed_out else d.status}"
            for d in self.deliveries[-8:]
        ]
        return (
            f"wait_for({name}) still falsy after {timeout}s (last value: {last!r}).\n"
            f"  recent Web API calls: {calls or 'none'}\n  recent deliveries: {deliveries or 'none'}\n"
            f"  delivering to: {self._delivery.target()}"
        )

    # ------------------------------------------------------------- where events go

    def deliver_to(self, request_url: str | None) -> None:
        """HTTP mode: POST events and commands (signed) there. A connected socket-mode app takes precedence."""
        self._delivery.request_url = request_url

    def set_event_subscriptions(self, event_types: set[str] | list[str] | None) -> None:
        """Only deliver these event types, like an app's Event Subscriptions; None (default) delivers all."""
        self._delivery.event_types = set(event_types) if event_types is not None else None

    def disconnect_socket_mode(self, reason: str = "refresh_requested") -> None:
        """Send Slack's {"type": "disconnect"} so socket-mode apps reconnect through apps.connections.open."""
        self.socket.disconnect_all(reason)

    # ------------------------------------------------------------- user actions

    def post_as_user(self, user: str, channel: str, text: str, *, thread_ts: str | None = None) -> dict:
        """Store a user's message and deliver `message` (+ `app_mention` when the bot is mentioned)."""
        self._require_user(user)
        channel = self._require_channel(channel)
        stored, _ = self.workspace.post(channel, self._objects.user_message(user, text), thread_ts)
        self._deliver_event(self._events.message(channel, stored))
        if f"<@{self.bot_user_id}>" in text:
            self._deliver_event(self._events.app_mention(channel, stored))
        return stored

    def add_reaction(self, user: str, channel: str, ts: str, name: str) -> None:
        """A user reacts (e.g. approving a bot reply); delivers reaction_added."""
        self._require_user(user)
        channel = self._require_channel(channel)
        message = self.workspace.react(user, channel, ts, name, add=True)
        self._deliver_event(self._events.reaction("reaction_added", user, channel, message, name))

    def remove_reaction(self, user: str, channel: str, ts: str, name: str) -> None:
        """A user takes a reaction back; delivers reaction_removed."""
        self._require_user(user)
        channel = self._require_channel(channel)
        message = self.workspace.react(user, channel, ts, name, add=False)
        self._deliver_event(self._events.reaction("reaction_removed", user, channel, message, name))

    def slash_command(self, user: str, channel: str, command: str, text: str = "") -> dict:
        """Invoke a slash command; returns {"status", "ack", "response_url"}; the ack shows as an ephemeral."""
        user_obj = self._require_user(user)
        channel = self._require_channel(channel)
        return self._commands.invoke(user_obj, channel, command, text, self.base_url)

    # ------------------------------------------------------------- low-level event delivery

    def send_event(
        self, event: dict, *, event_id: str | None = None, retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> int:
        """Wrap `event` in an event_callback body and deliver it; returns the final status (0 = no answer)."""
        body = self.event_body(event, event_id=event_id)
        return self._delivery.deliver(body, retry_num or 0, retry_reason).status

    def event_body(self, event: dict, *, event_id: str | None = None) -> dict:
        """The event_callback envelope Slack wraps around every event."""
        return self._events.envelope(event, event_id=event_id)

    def _deliver_event(self, event: dict) -> int:
        return self._delivery.deliver(self._events.envelope(event)).status

    # ------------------------------------------------------------- Web API and response_url

    def call_api(self, method: str, args: dict, token: str | None) -> tuple[int, dict, dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers). Also used by the HTTP front."""
        return self._api.call(method, args, token)

    def post_response_url(self, hook: str, payload: dict) -> bool:
        """A response_url POST (hook = the path after /commands/): ephemeral unless response_type in_channel."""
        return self._commands.post_response_url(hook, payload)

    # ------------------------------------------------------------- helpers

    def _seed(self) -> None:
        self.add_user(self.bot_user_id, self.bot_name, self.bot_name, is_bot=True)
        self.add_user("U0ALICE", "alice", "Alice Example")
        self.add_user("U0BOB", "bob", "Bob Example")
        self.add_channel("C0GENERAL", "general")
        self.add_channel("D0ALICE", "alice", is_im=True, user="U0ALICE")

    def _require_channel(self, channel_ref: str) -> str:
        channel = self.workspace.resolve_channel(channel_ref)
        if channel is None:
            raise ValueError(f"unknown channel {channel_ref}")
        return channel

    def _require_user(self, user: str) -> dict:
        found = self.workspace.user(user)
        if found is None:
            raise ValueError(f"unknown user {user}")
        return found
