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
    slack_stub_interactions  button clicks, message shortcuts, modal submissions; trigger_ids; their response_urls
    slack_stub_views      modals: views.open/update/push and what submitting one does
    slack_stub_files      files_upload_v2's three steps, shared files, conversations.open
    slack_stub_scopes     the OAuth scope each Web API method needs
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
from sandbox.slack_stub_files import Files
from sandbox.slack_stub_http import SlackHTTPServer
from sandbox.slack_stub_interactions import ActionHooks, Interaction, InteractionPayloads, Triggers, find_action
from sandbox.slack_stub_objects import IdCounter, Identity, SlackObjects, team_domain
from sandbox.slack_stub_views import Views
from sandbox.slack_stub_wire import ApiError
from sandbox.slack_stub_workspace import Listener, Workspace

__all__ = ["SlackStub", "ApiCall", "ApiError", "Delivery", "Interaction", "Listener", "MAX_RETRIES", "Workspace"]


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
        self._triggers = Triggers(self._objects)
        self._commands = SlashCommands(self._objects, self._events, self._delivery, self._triggers)
        self._payloads = InteractionPayloads(self._objects)
        self._action_hooks = ActionHooks(self._objects, self._events, self._delivery)
        self._views = Views(self._objects, self._triggers, self._payloads, self._delivery)
        self._files = Files(self._objects, self._events, self._delivery)
        self._api = WebApi(self._objects, self._events, self._delivery, self.socket, self._views, self._files,
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
        self._http = SlackHTTPServer((host, port), self.call_api, self.post_response_url, self._action_hooks.post,
                                     self._files.receive)
        bound_host, bound_port = self._http.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}/"
        self._files.base_url = self.base_url
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

    def add_user(self, user_id: str, name: str, real_name: str | None = None, *, is_bot: bool = False,
                 is_admin: bool = False, is_owner: bool = False, is_primary_owner: bool = False) -> dict:
        """A member (users.info shows is_admin/is_owner as given; an owner is an admin too)."""
        return self.workspace.add_user(self._objects.user(user_id, name, real_name, is_bot, is_admin=is_admin,
                                                          is_owner=is_owner, is_primary_owner=is_primary_owner))

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

    def ephemerals_for(self, user: str, channel: str | None = None) -> list[dict]:
        """What only `user` was shown (optionally in one conversation), oldest first; `source` says how it came."""
        return [e for e in self.workspace.ephemerals() if e["user"] == user and channel in (None, e["channel"])]

    def open_views(self, user: str) -> list[dict]:
        """The modal views `user` has open, the one on top last (empty when none is open)."""
        return self._views.open_views(user)

    def view_errors(self, view_id: str) -> dict[str, str]:
        """The errors (block_id -> message) the app's last response_action showed beside a view's inputs."""
        return dict(self._views.errors.get(view_id, {}))

    def files_in(self, channel: str) -> list[dict]:
        """Files shared in a conversation, oldest first, each file object with its bytes under "content"."""
        return self._files.shared_in(channel)

    def dm_with(self, user: str) -> str | None:
        """The id of the bot's DM with `user`, if one is open."""
        return next((c["id"] for c in self.workspace.channels() if c.get("is_im") and c.get("user") == user), None)

    def dm_files(self, user: str) -> list[dict]:
        """Files the bot sent `user` in their DM."""
        dm = self.dm_with(user)
        return self.files_in(dm) if dm else []

    def grant_scopes(self, scopes: set[str] | frozenset[str] | None) -> None:
        """The bot token's OAuth scopes, as the installed app's manifest granted them; None (default) grants all."""
        self._api.scopes = frozenset(scopes) if scopes is not None else None

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
            f"{d.body.get('event', {}).get('type') or d.body.get('command') or d.body.get('type')} {d.event_id or ''} "
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

    def slash_command(self, user: str, channel: str, command: str, text: str = "", *, team_id: str | None = None) -> dict:
        """Invoke a slash command; returns {"status", "ack", "response_url"}; the ack shows as an ephemeral.

        team_id: as if sent from another workspace (a distributed app's other installs), for tests of who may steer.
        """
        user_obj = self._require_user(user)
        channel = self._require_channel(channel)
        return self._commands.invoke(user_obj, channel, command, text, self.base_url, team_id=team_id)

    def command_form(self, user: str, channel: str, command: str, text: str = "") -> dict:
        """The form slash_command would send, with its response_url open, for a caller that sends it itself
        (the load benchmark times each request); what the app posts to the response_url is shown as usual."""
        user_obj = self._require_user(user)
        channel = self._require_channel(channel)
        return self._commands.form(user_obj, channel, command, text, self.base_url)

    def click(self, user: str, channel: str, ts: str, action_id: str, *, value: str | None = None,
              team_id: str | None = None) -> Interaction:
        """A person clicks a button the message shows; sends block_actions and returns what became of it."""
        return self._block_action(user, channel, ts, action_id, value, None, team_id)

    def feedback(self, user: str, channel: str, ts: str, *, positive: bool = True, action_id: str | None = None,
                 team_id: str | None = None) -> Interaction:
        """A click on the message's feedback buttons (context_actions): the positive or the negative one."""
        message = self._require_message(channel, ts)
        _, element = find_action(message, action_id, None, kind="feedback_buttons")
        side = next(b for b in self._feedback_buttons(message, element["action_id"]) if b[0] == positive)
        return self._block_action(user, channel, ts, element["action_id"], side[1], "feedback_buttons", team_id)

    def shortcut(self, user: str, channel: str, ts: str, callback_id: str, *, team_id: str | None = None) -> Interaction:
        """A message shortcut from the message's "more actions" menu; sends message_action."""
        user_obj = self._require_user(user)
        channel = self._require_channel(channel)
        message = self._require_message(channel, ts)
        payload = self._payloads.message_action(
            user_obj, channel, message, callback_id, trigger_id=self._triggers.issue(user),
            response_url=self._action_hooks.open(self.base_url, self._hook_context(user, channel, message)),
            team_id=team_id,
        )
        return Interaction(payload, *self._delivery.deliver_interaction(payload))

    def submit_view(self, user: str, values: dict[str, str] | None = None) -> Interaction:
        """Submit the modal on top of `user`'s stack: inputs as shown, `values` (block_id -> text) typed over them."""
        return self._views.submit(self._require_user(user), values)

    def close_view(self, user: str) -> Interaction | None:
        """Close the modal on top (Cancel); view_closed goes to the app only when the view asked to be told."""
        return self._views.close(self._require_user(user))

    # ------------------------------------------------------------- low-level event delivery

    def send_event(
        self, event: dict, *, event_id: str | None = None, retry_num: int | None = None,
        retry_reason: str | None = None, team_id: str | None = None,
    ) -> int:
        """Wrap `event` in an event_callback body and deliver it; returns the final status (0 = no answer)."""
        body = self.event_body(event, event_id=event_id, team_id=team_id)
        return self._delivery.deliver(body, retry_num or 0, retry_reason).status

    def event_body(self, event: dict, *, event_id: str | None = None, team_id: str | None = None) -> dict:
        """The event_callback envelope Slack wraps around every event (team_id: another workspace's)."""
        return self._events.envelope(event, event_id=event_id, team_id=team_id)

    def _deliver_event(self, event: dict) -> int:
        return self._delivery.deliver(self._events.envelope(event)).status

    # ------------------------------------------------------------- Web API and response_url

    def call_api(self, method: str, args: dict, token: str | None) -> tuple[int, dict, dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers). Also used by the HTTP front."""
        return self._api.call(method, args, token)

    def post_response_url(self, hook: str, payload: dict) -> bool:
        """A response_url POST (hook = the path after /commands/): ephemeral unless response_type in_channel."""
        return self._commands.post_response_url(hook, payload)

    # ------------------------------------------------------------- interactions

    def _block_action(self, user: str, channel_ref: str, ts: str, action_id: str, value: str | None,
                      kind: str | None, team_id: str | None) -> Interaction:
        user_obj = self._require_user(user)
        channel = self._require_channel(channel_ref)
        message = self._require_message(channel, ts)
        _, action = find_action(message, action_id, value, kind=kind)
        action["action_ts"] = self.workspace.next_ts()
        payload = self._payloads.block_actions(
            user_obj, channel, message, action, trigger_id=self._triggers.issue(user),
            response_url=self._action_hooks.open(self.base_url, self._hook_context(user, channel, message)),
            team_id=team_id,
        )
        return Interaction(payload, *self._delivery.deliver_interaction(payload))

    @staticmethod
    def _hook_context(user: str, channel: str, message: dict) -> dict:
        return {"channel": channel, "user": user, "message_ts": message["ts"], "thread_ts": message.get("thread_ts")}

    @staticmethod
    def _feedback_buttons(message: dict, action_id: str) -> list[tuple[bool, str]]:
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if element.get("type") == "feedback_buttons" and element.get("action_id") == action_id:
                    return [(True, element["positive_button"]["value"]), (False, element["negative_button"]["value"])]
        return []

    def _require_message(self, channel: str, ts: str) -> dict:
        message = self.workspace.message(self._require_channel(channel), ts)
        if message is None:
            raise ValueError(f"no message {ts} in {channel}")
        return message

    # ------------------------------------------------------------- helpers

    def _seed(self) -> None:
        self.add_user(self.bot_user_id, self.bot_name, self.bot_name, is_bot=True)
        self.add_user("U0ALICE", "alice", "Alice Example", is_primary_owner=True)  # who made the workspace
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
