"""A local stand-in for Slack that speaks Slack's wire formats on 127.0.0.1.

The real slack_sdk WebClient (base_url=stub.api_url) and a real slack_bolt App talk to it
unchanged: the Web API over HTTP, events and slash commands either POSTed (signed) to the app's
request URL or sent as Socket Mode envelopes. The workspace (users, channels, messages, threads,
reactions, ephemerals) is plain state behind one lock, with a change hook for UIs.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from finetune.clock import Clock, SystemClock
from sandbox.httpserver import QuietThreadingHTTPServer
from sandbox.slack_driver import EventsDriver, parse_body
from sandbox.slack_socket import SocketModeServer

log = logging.getLogger(__name__)

Listener = Callable[[dict], None]
MAX_RETRIES = 3  # Slack redelivers an event at most three times


class ApiError(Exception):
    """A Slack Web API error code, answered as {"ok": false, "error": code}."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class ApiCall:
    """One Web API request as the stub saw it (token removed from args)."""

    method: str
    args: dict
    token: str | None
    response: dict
    status: int


@dataclass(frozen=True)
class Delivery:
    """One attempt at handing an event or command to the app."""

    kind: str  # "events_api" | "slash_commands"
    transport: str  # "http" | "socket" | "none" (no app attached) | "filtered" (not a subscribed event type)
    event_id: str | None
    attempt: int  # 0 for the first try, 1..3 for Slack's redeliveries
    retry_reason: str | None
    status: int  # HTTP status, 200 for a socket ack, 0 when nothing answered
    timed_out: bool
    response: Any  # parsed HTTP body or the ack's payload
    body: dict


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None


# ======================================================================= workspace


class Workspace:
    """Users, conversations, messages and ephemerals, shaped like Slack's objects.

    Every read returns deep copies, so callers can never mutate state behind the lock.
    """

    def __init__(self, clock: Clock, team_id: str) -> None:
        self.clock = clock
        self.team_id = team_id
        self._lock = threading.RLock()
        self._users: dict[str, dict] = {}
        self._channels: dict[str, dict] = {}
        self._messages: dict[str, dict[str, dict]] = {}  # channel -> ts -> message, in ts order
        self._ephemerals: list[dict] = []
        self._listeners: list[Listener] = []
        self._last_micros = 0

    # ------------------------------------------------------------- change hook

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def _emit(self, record: dict) -> None:
        """Call listeners outside the lock so they may read the workspace back."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(copy.deepcopy(record))
            except Exception:  # a broken UI must not break Slack
                log.exception("workspace listener failed")

    # ------------------------------------------------------------- saved state

    def snapshot(self) -> dict:
        """Users, channels, messages (threads, reactions and edits included), ephemerals and the ts counter."""
        with self._lock:
            return copy.deepcopy({
                "users": list(self._users.values()),
                "channels": list(self._channels.values()),
                "messages": {cid: list(store.values()) for cid, store in self._messages.items()},
                "ephemerals": self._ephemerals,
                "last_micros": self._last_micros,
            })

    def restore(self, state: dict) -> None:
        """Replace the workspace with a snapshot's; all or nothing (KeyError/TypeError/ValueError if malformed).

        The ts counter never goes below a restored ts, so new messages sort after the old ones.
        """
        state = copy.deepcopy(state)
        users = {user["id"]: user for user in state["users"]}
        channels = {channel["id"]: channel for channel in state["channels"]}
        messages: dict[str, dict[str, dict]] = {cid: {} for cid in channels}
        last_micros = int(state["last_micros"])
        for cid, items in state["messages"].items():
            if cid not in channels:
                raise ValueError(f"messages for unknown channel {cid}")
            for message in sorted(items, key=lambda m: _ts_key(m["ts"])):
                messages[cid][message["ts"]] = message
                last_micros = max(last_micros, _ts_micros(message["ts"]))
        ephemerals = list(state["ephemerals"])
        for ephemeral in ephemerals:
            last_micros = max(last_micros, _ts_micros(ephemeral["ts"]))
        with self._lock:
            self._users, self._channels, self._messages = users, channels, messages
            self._ephemerals = ephemerals
            self._last_micros = max(self._last_micros, last_micros)
        self._emit({"type": "workspace_restored"})

    # ------------------------------------------------------------- time

    def next_ts(self) -> str:
        """Slack-style "seconds.micros" from the clock, strictly increasing even when the clock stands still."""
        micros = int(round(self.clock.now().timestamp() * 1_000_000))
        with self._lock:
            micros = max(micros, self._last_micros + 100)
            self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    # ------------------------------------------------------------- users & channels

    def add_user(self, user: dict) -> dict:
        with self._lock:
            self._users[user["id"]] = user
        self._emit({"type": "user_added", "user": user})
        return copy.deepcopy(user)

    def add_channel(self, channel: dict) -> dict:
        with self._lock:
            self._channels[channel["id"]] = channel
            self._messages.setdefault(channel["id"], {})
        self._emit({"type": "channel_added", "channel": channel})
        return copy.deepcopy(channel)

    def user(self, user_id: str) -> dict | None:
        with self._lock:
            found = self._users.get(user_id)
            return copy.deepcopy(found) if found else None

    def users(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._users.values()))

    def channel(self, channel_id: str) -> dict | None:
        with self._lock:
            found = self._channels.get(channel_id)
            return copy.deepcopy(found) if found else None

    def channels(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._channels.values()))

    def resolve_channel(self, ref: str) -> str | None:
        """Channel ID from an ID, a "#name"/"name", or a user ID (their DM), like chat.postMessage accepts."""
        with self._lock:
            if ref in self._channels:
                return ref
            name = ref.lstrip("#")
            for cid, info in self._channels.items():
                if info.get("name") == name or (info.get("is_im") and info.get("user") == ref):
                    return cid
        return None

    def channel_type(self, channel_id: str) -> str:
        """The channel_type field of message events: channel, group, im or mpim."""
        info = self.channel(channel_id) or {}
        if info.get("is_im"):
            return "im"
        if info.get("is_mpim"):
            return "mpim"
        return "group" if info.get("is_private") else "channel"

    # ------------------------------------------------------------- messages

    def post(self, channel: str, message: dict, thread_ts: str | None = None) -> tuple[dict, dict | None]:
        """Store a message (a reply when thread_ts is set); returns (message, updated parent)."""
        with self._lock:
            store = self._require_channel(channel)
            parent = None
            if thread_ts:
                parent = store.get(self._thread_root(store, thread_ts))
                if parent is None:
                    raise ApiError("thread_not_found")
                message["thread_ts"] = parent["ts"]
                message["parent_user_id"] = parent.get("user")
                self._count_reply(parent, message)
            store[message["ts"]] = message
            result = copy.deepcopy(message), copy.deepcopy(parent) if parent else None
        self._emit({"type": "message_posted", "channel": channel, "ts": message["ts"],
                    "thread_ts": message.get("thread_ts"), "message": result[0], "parent": result[1]})
        return result

    def update(self, channel: str, ts: str, changes: dict, by_user: str) -> tuple[dict, dict]:
        """Edit a message in place (text/blocks/attachments); returns (previous, updated)."""
        with self._lock:
            stored = self._require_message(channel, ts)
            if stored.get("user") != by_user:
                raise ApiError("cant_update_message")
            previous = copy.deepcopy(stored)
            stored.update(changes)
            stored["edited"] = {"user": by_user, "ts": self.next_ts()}
            updated = copy.deepcopy(stored)
        self._emit({"type": "message_updated", "channel": channel, "ts": ts, "message": updated})
        return previous, updated

    def delete(self, channel: str, ts: str, by_user: str) -> dict:
        with self._lock:
            stored = self._require_message(channel, ts)
            if stored.get("user") != by_user:
                raise ApiError("cant_delete_message")
            del self._messages[channel][ts]
            previous = copy.deepcopy(stored)
        self._emit({"type": "message_deleted", "channel": channel, "ts": ts})
        return previous

    def message(self, channel: str, ts: str) -> dict | None:
        with self._lock:
            found = self._messages.get(channel, {}).get(ts)
            return copy.deepcopy(found) if found else None

    def messages(self, channel: str) -> list[dict]:
        """Top-level messages (and broadcast replies), oldest first."""
        with self._lock:
            store = self._messages.get(channel, {})
            return [copy.deepcopy(m) for m in store.values() if _is_top_level(m)]

    def thread(self, channel: str, ts: str) -> list[dict]:
        """Parent + replies, oldest first; empty when ts is unknown. A reply's ts finds its thread."""
        with self._lock:
            store = self._messages.get(channel, {})
            if ts not in store:
                return []
            root = self._thread_root(store, ts)
            return [copy.deepcopy(m) for m in store.values() if m["ts"] == root or m.get("thread_ts") == root]

    # ------------------------------------------------------------- reactions & ephemerals

    def react(self, user: str, channel: str, ts: str, name: str, add: bool) -> dict:
        """Add or remove one user's reaction; returns the message as it now is."""
        with self._lock:
            stored = self._require_message(channel, ts)
            reactions: list[dict] = stored.setdefault("reactions", [])
            entry = next((r for r in reactions if r["name"] == name), None)
            if add:
                if entry is not None and user in entry["users"]:
                    raise ApiError("already_reacted")
                if entry is None:
                    entry = {"name": name, "users": [], "count": 0}
                    reactions.append(entry)
                entry["users"].append(user)
            else:
                if entry is None or user not in entry["users"]:
                    raise ApiError("no_reaction")
                entry["users"].remove(user)
                if not entry["users"]:
                    reactions.remove(entry)
            if entry in reactions:
                entry["count"] = len(entry["users"])
            if not reactions:
                del stored["reactions"]
            result = copy.deepcopy(stored)
        kind = "reaction_added" if add else "reaction_removed"
        self._emit({"type": kind, "channel": channel, "ts": ts, "user": user, "reaction": name, "message": result})
        return result

    def add_ephemeral(self, ephemeral: dict) -> dict:
        with self._lock:
            self._ephemerals.append(ephemeral)
        self._emit({"type": "ephemeral", "ephemeral": ephemeral})
        return copy.deepcopy(ephemeral)

    def ephemerals(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    # ------------------------------------------------------------- internals (lock held)

    def _require_channel(self, channel: str) -> dict[str, dict]:
        if channel not in self._channels:
            raise ApiError("channel_not_found")
        return self._messages[channel]

    def _require_message(self, channel: str, ts: str) -> dict:
        stored = self._require_channel(channel).get(ts)
        if stored is None:
            raise ApiError("message_not_found")
        return stored

    @staticmethod
    def _thread_root(store: dict[str, dict], ts: str) -> str:
        found = store.get(ts)
        return found.get("thread_ts", ts) if found else ts

    @staticmethod
    def _count_reply(parent: dict, reply: dict) -> None:
        parent["thread_ts"] = parent["ts"]
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        users = parent.setdefault("reply_users", [])
        if reply.get("user") and reply["user"] not in users:
            users.append(reply["user"])
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = reply["ts"]
        parent.setdefault("is_locked", False)
        parent.setdefault("subscribed", False)


def _is_top_level(message: dict) -> bool:
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"


# ======================================================================= the stub


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
        self.team_id, self.team_name, self.team_domain = team_id, team_name, _domain(team_name)
        self.bot_user_id, self.bot_id, self.app_id, self.bot_name = bot_user_id, bot_id, app_id, bot_name
        self.verification_token = verification_token
        self.ack_timeout = ack_timeout  # Slack's 3 s; shorten in tests of redelivery
        self.workspace = Workspace(self.clock, team_id)
        self.socket = SocketModeServer(app_id)
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []
        self._deliveries: list[Delivery] = []
        self._events: list[dict] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._commands: dict[str, dict] = {}  # response_url id -> who/where
        self._counter = 0
        self._request_url: str | None = None
        self._event_types: set[str] | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._background: set[threading.Thread] = set()
        self._stopped = threading.Event()
        self.api_url = ""
        self.base_url = ""
        self._seed()

    # ------------------------------------------------------------- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SlackStub:
        """Serve the Web API (and response_urls) over HTTP, plus the Socket Mode WebSocket server."""
        if self._http is not None:
            raise RuntimeError("SlackStub already started")
        self._http = _StubHTTPServer((host, port), _Handler, self)
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
        with self._lock:
            pending = list(self._background)
        for thread in pending:
            thread.join(timeout=1)

    def __enter__(self) -> SlackStub:
        return self.start() if not self.api_url else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- workspace API

    def add_user(self, user_id: str, name: str, real_name: str | None = None, *, is_bot: bool = False) -> dict:
        return self.workspace.add_user(self._user_object(user_id, name, real_name, is_bot))

    def add_channel(
        self, channel_id: str, name: str, *, is_im: bool = False, user: str | None = None, is_private: bool = False
    ) -> dict:
        """A public/private channel, or (is_im) a DM between `user` and the bot; IM objects carry no name."""
        if is_im:
            if not user:
                raise ValueError("a DM channel needs the user it is with")
            return self.workspace.add_channel(self._im_object(channel_id, user))
        return self.workspace.add_channel(self._channel_object(channel_id, name, is_private))

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
        with self._lock:
            counter, commands = self._counter, copy.deepcopy(self._commands)
        return {"workspace": self.workspace.snapshot(), "counter": counter, "commands": commands}

    def restore(self, state: dict) -> None:
        """Replace the workspace, counter and response_urls with a snapshot's; before start() or while serving."""
        counter = int(state["counter"])
        commands = {str(hook): dict(context) for hook, context in state["commands"].items()}
        self.workspace.restore(state["workspace"])
        with self._lock:
            self._counter = max(self._counter, counter)
            self._commands = commands

    # ------------------------------------------------------------- observation

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def deliveries(self) -> list[Delivery]:
        """Every attempt to hand an event or command to the app, retries included."""
        with self._lock:
            return list(self._deliveries)

    @property
    def events(self) -> list[dict]:
        """Every event_callback body generated, delivered or not (e.g. while no app is attached)."""
        with self._lock:
            return copy.deepcopy(self._events)

    def events_of(self, event_type: str) -> list[dict]:
        return [b["event"] for b in self.events if b["event"].get("type") == event_type]

    def fail_next(
        self, method: str, error: str = "ratelimited", *, status: int = 200, retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Make the next `count` calls to `method` fail; "ratelimited" answers HTTP 429 with Retry-After."""
        if error == "ratelimited":
            status = 429 if status == 200 else status
            retry_after = 1 if retry_after is None else retry_after
        with self._lock:
            self._failures.setdefault(method, []).extend(_Failure(error, status, retry_after) for _ in range(count))

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
            f"  delivering to: {'socket mode' if self.socket.connected else self._request_url or 'nowhere'}"
        )

    # ------------------------------------------------------------- where events go

    def deliver_to(self, request_url: str | None) -> None:
        """HTTP mode: POST events and commands (signed) there. A connected socket-mode app takes precedence."""
        self._request_url = request_url

    def set_event_subscriptions(self, event_types: set[str] | list[str] | None) -> None:
        """Only deliver these event types, like an app's Event Subscriptions; None (default) delivers all."""
        self._event_types = set(event_types) if event_types is not None else None

    def disconnect_socket_mode(self, reason: str = "refresh_requested") -> None:
        """Send Slack's {"type": "disconnect"} so socket-mode apps reconnect through apps.connections.open."""
        self.socket.disconnect_all(reason)

    # ------------------------------------------------------------- user actions

    def post_as_user(self, user: str, channel: str, text: str, *, thread_ts: str | None = None) -> dict:
        """Store a user's message and deliver `message` (+ `app_mention` when the bot is mentioned)."""
        self._require_user(user)
        channel = self._require_channel(channel)
        ts = self.workspace.next_ts()
        message = {
            "user": user, "type": "message", "ts": ts, "client_msg_id": str(uuid.uuid4()), "text": text,
            "team": self.team_id, "blocks": _rich_text_blocks(text, ts),
        }
        stored, _ = self._post(channel, message, thread_ts)
        self._deliver_event(self._message_event(channel, stored))
        if f"<@{self.bot_user_id}>" in text:
            self._deliver_event(self._app_mention_event(channel, stored))
        return stored

    def add_reaction(self, user: str, channel: str, ts: str, name: str) -> None:
        """A user reacts (e.g. approving a bot reply); delivers reaction_added."""
        self._require_user(user)
        channel = self._require_channel(channel)
        message = self.workspace.react(user, channel, ts, name, add=True)
        self._deliver_event(self._reaction_event("reaction_added", user, channel, message, name))

    def remove_reaction(self, user: str, channel: str, ts: str, name: str) -> None:
        """A user takes a reaction back; delivers reaction_removed."""
        self._require_user(user)
        channel = self._require_channel(channel)
        message = self.workspace.react(user, channel, ts, name, add=False)
        self._deliver_event(self._reaction_event("reaction_removed", user, channel, message, name))

    def slash_command(self, user: str, channel: str, command: str, text: str = "") -> dict:
        """Invoke a slash command; returns {"status", "ack", "response_url"}; the ack shows as an ephemeral."""
        user_obj = self._require_user(user)
        channel = self._require_channel(channel)
        info = self.workspace.channel(channel) or {}
        hook = f"{self.team_id}/{self._next_id('')}/{uuid.uuid4().hex[:24]}"
        response_url = f"{self.base_url}commands/{hook}"
        with self._lock:
            self._commands[hook] = {"channel": channel, "user": user, "command": command}
        form = self._command_form(user_obj, info, command, text, response_url)
        status, ack = self._deliver_command(form)
        if ack:
            self._record_response({"channel": channel, "user": user}, ack, source="ack")
        return {"status": status, "ack": ack, "response_url": response_url}

    # ------------------------------------------------------------- low-level event delivery

    def send_event(
        self, event: dict, *, event_id: str | None = None, retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> int:
        """Wrap `event` in an event_callback body and deliver it; returns the final status (0 = no answer)."""
        body = self.event_body(event, event_id=event_id)
        return self._deliver_body(body, retry_num or 0, retry_reason).status

    def event_body(self, event: dict, *, event_id: str | None = None) -> dict:
        """The event_callback envelope Slack wraps around every event."""
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self._next_id("Ev0"),
            "event_time": self.workspace.now(),
            "authorizations": [{
                "enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id,
                "is_bot": True, "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
            "event_context": _event_context(event, self.team_id, self.app_id),
        }

    def _deliver_event(self, event: dict) -> int:
        return self._deliver_body(self.event_body(event), 0, None).status

    def _deliver_event_async(self, event: dict) -> None:
        """Events caused by the app's own Web API calls: never hold up the API response."""
        body = self.event_body(event)
        thread = threading.Thread(target=self._run_background, args=(body,), name="slack-stub-event", daemon=True)
        with self._lock:
            self._background.add(thread)
        thread.start()

    def _run_background(self, body: dict) -> None:
        try:
            self._deliver_body(body, 0, None)
        except Exception:
            log.exception("background delivery failed")
        finally:
            with self._lock:
                self._background.discard(threading.current_thread())

    def _deliver_body(self, body: dict, attempt: int, reason: str | None) -> Delivery:
        """Deliver, redelivering with the same event_id when the app does not ack in time (up to 3 retries)."""
        with self._lock:
            self._events.append(copy.deepcopy(body))
        if self._event_types is not None and body["event"].get("type") not in self._event_types:
            return self._record_delivery("events_api", "filtered", body, attempt, reason, 0, False, None)
        while True:
            delivery = self._attempt_event(body, attempt, reason)
            if not delivery.timed_out or attempt >= MAX_RETRIES or self._stopped.is_set():
                return delivery
            attempt += 1
            reason = "timeout" if delivery.transport == "socket" else "http_timeout"

    def _attempt_event(self, body: dict, attempt: int, reason: str | None) -> Delivery:
        if self.socket.connected:
            ack = self.socket.send_envelope(
                "events_api", body, timeout=self.ack_timeout, retry_attempt=attempt, retry_reason=reason or "",
            )
            status = 200 if ack is not None else 0
            payload = ack.get("payload") if ack else None
            return self._record_delivery("events_api", "socket", body, attempt, reason, status, ack is None, payload)
        if self._request_url and not self._stopped.is_set():
            driver = EventsDriver(self._request_url, self.signing_secret, timeout=self.ack_timeout)
            try:
                status, response = driver.post_event(body, retry_num=attempt or None, retry_reason=reason)
            except TimeoutError:
                return self._record_delivery("events_api", "http", body, attempt, reason, 0, True, None)
            except ConnectionError as e:
                return self._record_delivery("events_api", "http", body, attempt, reason, 0, False, str(e))
            return self._record_delivery("events_api", "http", body, attempt, reason, status, False, response)
        return self._record_delivery("events_api", "none", body, attempt, reason, 0, False, None)

    def _deliver_command(self, form: dict) -> tuple[int, dict | None]:
        """Slash commands are never retried: no ack within the timeout is a failed command."""
        status, payload, timed_out, transport = 0, None, False, "none"
        if self.socket.connected:
            transport = "socket"
            ack = self.socket.send_envelope("slash_commands", form, timeout=self.ack_timeout,
                                            accepts_response_payload=True)
            status, timed_out = (200, False) if ack is not None else (0, True)
            payload = (ack or {}).get("payload")
        elif self._request_url and not self._stopped.is_set():
            transport = "http"
            driver = EventsDriver(self._request_url, self.signing_secret, timeout=self.ack_timeout)
            try:
                status, payload = driver.post_command(form)
            except TimeoutError:
                timed_out = True
            except ConnectionError as e:
                payload = str(e)
        self._record_delivery("slash_commands", transport, form, 0, None, status, timed_out, payload)
        if status != 200:
            return status, None
        if isinstance(payload, str):  # a plain-text ack body is the message text
            payload = {"text": payload} if payload else None
        return status, payload if isinstance(payload, dict) and payload else None

    def _record_delivery(
        self, kind: str, transport: str, body: dict, attempt: int, reason: str | None, status: int,
        timed_out: bool, response: Any,
    ) -> Delivery:
        delivery = Delivery(kind, transport, body.get("event_id"), attempt, reason, status, timed_out, response,
                            copy.deepcopy(body))
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    # ------------------------------------------------------------- Web API

    def call_api(self, method: str, args: dict, token: str | None) -> tuple[int, dict, dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers). Also used by the HTTP front."""
        handler = self._api_methods().get(method)
        headers: dict[str, str] = {}
        failure = self._take_failure(method) if handler else None
        if handler is None:
            status, body = 200, {"ok": False, "error": "unknown_method", "req_method": method}
        elif failure is not None:
            status, body = failure.status, {"ok": False, "error": failure.error}
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
        elif (auth_error := self._auth_error(method, token)) is not None:
            status, body = 200, {"ok": False, "error": auth_error}
        else:
            status, body = 200, self._run_method(handler, args)
        with self._lock:
            self._calls.append(ApiCall(method, copy.deepcopy(args), token, copy.deepcopy(body), status))
        return status, body, headers

    def _run_method(self, handler: Callable[[dict], dict], args: dict) -> dict:
        try:
            return {"ok": True, **handler(args)}
        except ApiError as e:
            return {"ok": False, "error": e.error}
        except (TypeError, ValueError):
            log.exception("bad arguments for a Web API call: %r", args)
            return {"ok": False, "error": "invalid_arguments"}
        except Exception:
            log.exception("Web API method failed")
            return {"ok": False, "error": "internal_error"}

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(method)
            return queue.pop(0) if queue else None

    def _auth_error(self, method: str, token: str | None) -> str | None:
        if method == "api.test":  # the one method Slack answers without a token
            return None
        if not token:
            return "not_authed"
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token == wanted:
            return None
        # a real token of the wrong kind is refused the way Slack refuses it
        return "not_allowed_token_type" if token in (self.app_token, self.bot_token) else "invalid_auth"

    def _api_methods(self) -> dict[str, Callable[[dict], dict]]:
        return {
            "api.test": lambda args: {"args": args} if args else {},
            "auth.test": self._auth_test,
            "apps.connections.open": lambda args: {"url": self.socket.issue_url()},
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "reactions.get": self._reactions_get,
            "reactions.add": lambda args: self._bot_reaction(args, add=True),
            "reactions.remove": lambda args: self._bot_reaction(args, add=False),
        }

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": f"https://{self.team_domain}.slack.com/", "team": self.team_name, "user": self.bot_name,
            "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        text, blocks, attachments = args.get("text"), _json_arg(args.get("blocks")), _json_arg(args.get("attachments"))
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
        message = self._bot_message(text or "", blocks, attachments, _json_arg(args.get("metadata")))
        thread_ts = _arg(args, "thread_ts") or None
        if thread_ts and _bool(args.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
        stored, _ = self._post(channel, message, thread_ts)
        self._deliver_event_async(self._message_event(channel, stored))
        return {"channel": channel, "ts": stored["ts"], "message": stored}

    def _chat_update(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), _arg(args, "ts")
        changes: dict[str, Any] = {}
        if "text" in args:
            changes["text"] = args["text"] or ""
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                changes[key] = _json_arg(args[key])
        if not changes:
            raise ApiError("no_text")
        if self.workspace.message(channel, ts) is None:
            raise ApiError("message_not_found")
        previous, updated = self.workspace.update(channel, ts, changes, self.bot_user_id)
        self._deliver_event_async(self._changed_event(channel, previous, updated))
        return {"channel": channel, "ts": ts, "text": updated.get("text", ""), "message": _without(updated, "ts")}

    def _chat_delete(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), _arg(args, "ts")
        previous = self.workspace.delete(channel, ts, self.bot_user_id)
        event_ts = self.workspace.next_ts()
        self._deliver_event_async({
            "type": "message", "subtype": "message_deleted", "hidden": True, "deleted_ts": ts,
            "channel": channel, "previous_message": previous, "event_ts": event_ts, "ts": event_ts,
            "channel_type": self.workspace.channel_type(channel),
        })
        return {"channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        user = _arg(args, "user")
        if self.workspace.user(user) is None:
            raise ApiError("user_not_found")
        text, blocks = args.get("text"), _json_arg(args.get("blocks"))
        if not text and not blocks and not args.get("attachments"):
            raise ApiError("no_text")
        ephemeral = self._ephemeral(channel, user, text or "", blocks, "chat.postEphemeral", args.get("thread_ts"))
        return {"message_ts": ephemeral["ts"]}

    def _chat_get_permalink(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), _arg(args, "message_ts")
        if self.workspace.message(channel, ts) is None:
            raise ApiError("message_not_found")
        return {"channel": channel,
                "permalink": f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _conversations_history(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        items = list(reversed(_in_range(self.workspace.messages(channel), args)))  # newest first, like Slack
        page, has_more, cursor = _paginate(items, args, default_limit=100, newest_first=True)
        return {
            "messages": _strip_metadata(page, args), "has_more": has_more, "pin_count": 0,
            "channel_actions_ts": None, "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        thread = self.workspace.thread(channel, _arg(args, "ts"))
        if not thread:
            raise ApiError("thread_not_found")
        items = thread[:1] + _in_range(thread[1:], args)
        page, has_more, cursor = _paginate(items, args, default_limit=1000, newest_first=False)
        return {"messages": _strip_metadata(page, args), "has_more": has_more,
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_info(self, args: dict) -> dict:
        return {"channel": self.workspace.channel(self._channel_arg(args))}

    def _users_info(self, args: dict) -> dict:
        user = self.workspace.user(_arg(args, "user"))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user}

    def _reactions_get(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), _arg(args, "timestamp")
        message = self.workspace.message(channel, ts)
        if message is None:
            raise ApiError("message_not_found")
        return {"type": "message", "channel": channel, "message": message}

    def _bot_reaction(self, args: dict, *, add: bool) -> dict:
        channel, ts, name = self._channel_arg(args), _arg(args, "timestamp"), _arg(args, "name")
        if not name:
            raise ApiError("invalid_name")
        message = self.workspace.react(self.bot_user_id, channel, ts, name, add)
        kind = "reaction_added" if add else "reaction_removed"
        self._deliver_event_async(self._reaction_event(kind, self.bot_user_id, channel, message, name))
        return {}

    def _channel_arg(self, args: dict) -> str:
        channel = self.workspace.resolve_channel(_arg(args, "channel"))
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    # ------------------------------------------------------------- response_url

    def post_response_url(self, hook: str, payload: dict) -> bool:
        """A response_url POST (hook = the path after /commands/): ephemeral unless response_type in_channel."""
        with self._lock:
            context = self._commands.get(hook.strip("/"))
        if context is None:
            return False
        self._record_response(context, payload, source="response_url")
        return True

    def _record_response(self, context: dict, payload: dict, *, source: str) -> None:
        text, blocks = payload.get("text") or "", payload.get("blocks")
        if payload.get("response_type") == "in_channel":
            message = self._bot_message(text, blocks, payload.get("attachments"), None)
            stored, _ = self._post(context["channel"], message, payload.get("thread_ts"))
            self._deliver_event_async(self._message_event(context["channel"], stored))
        elif text or blocks:
            self._ephemeral(context["channel"], context["user"], text, blocks, source, payload.get("thread_ts"))

    # ------------------------------------------------------------- building Slack objects

    def _seed(self) -> None:
        self.add_user(self.bot_user_id, self.bot_name, self.bot_name, is_bot=True)
        self.add_user("U0ALICE", "alice", "Alice Example")
        self.add_user("U0BOB", "bob", "Bob Example")
        self.add_channel("C0GENERAL", "general")
        self.add_channel("D0ALICE", "alice", is_im=True, user="U0ALICE")

    def _user_object(self, user_id: str, name: str, real_name: str | None, is_bot: bool) -> dict:
        real = real_name or name
        profile: dict[str, Any] = {
            "real_name": real, "display_name": name, "real_name_normalized": real, "display_name_normalized": name,
            "status_text": "", "status_emoji": "", "team": self.team_id,
            "image_48": f"https://avatars.slack-edge.invalid/{user_id}_48.png",
        }
        if is_bot:
            profile.update({"bot_id": self.bot_id, "api_app_id": self.app_id, "always_active": True})
        return {
            "id": user_id, "team_id": self.team_id, "name": name, "deleted": False, "color": "9f69e7",
            "real_name": real, "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0,
            "profile": profile, "is_admin": False, "is_owner": False, "is_primary_owner": False,
            "is_restricted": False, "is_ultra_restricted": False, "is_bot": is_bot, "is_app_user": False,
            "updated": self.workspace.now(),
        }

    def _channel_object(self, channel_id: str, name: str, is_private: bool) -> dict:
        now = self.workspace.now()
        return {
            "id": channel_id, "name": name, "is_channel": not is_private, "is_group": is_private, "is_im": False,
            "is_mpim": False, "is_private": is_private, "created": now, "is_archived": False,
            "is_general": name == "general", "unlinked": 0, "name_normalized": name, "is_shared": False,
            "is_org_shared": False, "is_pending_ext_shared": False, "is_ext_shared": False, "is_member": True,
            "creator": self.bot_user_id, "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": [],
        }

    def _im_object(self, channel_id: str, user: str) -> dict:
        return {
            "id": channel_id, "created": self.workspace.now(), "is_im": True, "is_org_shared": False, "user": user,
            "is_user_deleted": False, "priority": 0, "is_channel": False, "is_group": False, "is_mpim": False,
            "is_private": True, "is_archived": False,
        }

    def _bot_message(self, text: str, blocks: Any, attachments: Any, metadata: Any) -> dict:
        message: dict[str, Any] = {
            "user": self.bot_user_id, "type": "message", "ts": self.workspace.next_ts(), "bot_id": self.bot_id,
            "app_id": self.app_id, "text": text, "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id, "deleted": False, "name": self.bot_name, "updated": self.workspace.now(),
                "app_id": self.app_id, "icons": {"image_48": "https://avatars.slack-edge.invalid/bot_48.png"},
                "team_id": self.team_id,
            },
        }
        for key, value in (("blocks", blocks), ("attachments", attachments), ("metadata", metadata)):
            if value:
                message[key] = value
        return message

    def _ephemeral(self, channel: str, user: str, text: str, blocks: Any, source: str, thread_ts: Any) -> dict:
        return self.workspace.add_ephemeral({
            "channel": channel, "user": user, "text": text, "blocks": blocks, "ts": self.workspace.next_ts(),
            "thread_ts": thread_ts or None, "source": source,
        })

    def _command_form(self, user: dict, channel: dict, command: str, text: str, response_url: str) -> dict:
        if channel.get("is_im"):
            channel_name = "directmessage"
        else:
            channel_name = "privategroup" if channel.get("is_private") else channel["name"]
        return {
            "token": self.verification_token, "team_id": self.team_id, "team_domain": self.team_domain,
            "channel_id": channel["id"], "channel_name": channel_name, "user_id": user["id"],
            "user_name": user["name"], "command": command, "text": text, "api_app_id": self.app_id,
            "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": f"{self.workspace.now()}.{self._next_id('')}.{uuid.uuid4().hex}",
        }

    # ------------------------------------------------------------- events

    def _message_event(self, channel: str, message: dict) -> dict:
        event = dict(message, channel=channel, event_ts=message["ts"])
        event["channel_type"] = self.workspace.channel_type(channel)
        return event

    def _app_mention_event(self, channel: str, message: dict) -> dict:
        event: dict[str, Any] = {"type": "app_mention"}
        event.update((k, message[k]) for k in ("user", "ts", "client_msg_id", "text", "team", "blocks") if k in message)
        event.update(channel=channel, event_ts=message["ts"])
        if message.get("thread_ts"):
            event["thread_ts"] = message["thread_ts"]
        return event

    def _reaction_event(self, kind: str, user: str, channel: str, message: dict, name: str) -> dict:
        event = {"type": kind, "user": user, "reaction": name, "item": {"type": "message", "channel": channel,
                                                                           "ts": message["ts"]}}
        if message.get("user"):
            event["item_user"] = message["user"]
        event["event_ts"] = self.workspace.next_ts()
        return event

    def _changed_event(self, channel: str, previous: dict, updated: dict) -> dict:
        event_ts = self.workspace.next_ts()
        return {
            "type": "message", "subtype": "message_changed", "hidden": True, "message": updated,
            "channel": channel, "previous_message": previous, "event_ts": event_ts, "ts": event_ts,
            "channel_type": self.workspace.channel_type(channel),
        }

    # ------------------------------------------------------------- small helpers

    def _post(self, channel_ref: str, message: dict, thread_ts: str | None) -> tuple[dict, dict | None]:
        channel = self.workspace.resolve_channel(channel_ref)
        if channel is None:
            raise ApiError("channel_not_found")
        return self.workspace.post(channel, message, thread_ts)

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

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}{self._counter:08d}" if prefix else str(self._counter)


# ======================================================================= module helpers


def _domain(team_name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", team_name.lower()) or "sandbox"


def _arg(args: dict, key: str) -> str:
    """A string argument whether it came form-encoded or as JSON (where ts may arrive as a number)."""
    value = args.get(key)
    return "" if value is None else str(value)


def _ts_key(ts: Any) -> tuple[int, int]:
    """Compare "seconds.micros" exactly; floats blur microseconds at today's epoch."""
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds or 0), int((fraction + "000000")[:6])


def _ts_micros(ts: Any) -> int:
    seconds, micros = _ts_key(ts)
    return seconds * 1_000_000 + micros


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes")


def _json_arg(value: Any) -> Any:
    """Form-encoded calls carry blocks/metadata as JSON strings; JSON calls carry them as objects."""
    if isinstance(value, str) and value.strip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError("invalid_arguments") from None
    return value


def _without(message: dict, *keys: str) -> dict:
    return {k: v for k, v in message.items() if k not in keys}


def _strip_metadata(messages: list[dict], args: dict) -> list[dict]:
    """Slack returns message metadata only when include_all_metadata is set."""
    if _bool(args.get("include_all_metadata")):
        return messages
    return [_without(m, "metadata") for m in messages]


def _in_range(messages: list[dict], args: dict) -> list[dict]:
    """Apply oldest/latest/inclusive the way conversations.* do (exclusive unless inclusive)."""
    oldest, latest, inclusive = args.get("oldest"), args.get("latest"), _bool(args.get("inclusive"))

    def keep(m: dict) -> bool:
        ts = _ts_key(m["ts"])
        if oldest and (ts < _ts_key(oldest) or (ts == _ts_key(oldest) and not inclusive)):
            return False
        if latest and (ts > _ts_key(latest) or (ts == _ts_key(latest) and not inclusive)):
            return False
        return True

    return [m for m in messages if keep(m)]


def _paginate(items: list[dict], args: dict, *, default_limit: int, newest_first: bool) -> tuple[list[dict], bool, str]:
    """Cursor pagination; the cursor is base64("next_ts:<ts>") like Slack's, so inserts don't shift pages."""
    try:
        limit = int(args.get("limit") or default_limit)
    except (TypeError, ValueError):
        raise ApiError("invalid_limit") from None
    limit = max(1, min(limit, 1000))
    cursor = args.get("cursor")
    if cursor:
        next_ts = _decode_cursor(str(cursor))
        if newest_first:
            items = [m for m in items if _ts_key(m["ts"]) <= next_ts]
        else:
            items = [m for m in items if _ts_key(m["ts"]) >= next_ts]
    page, rest = items[:limit], items[limit:]
    next_cursor = base64.b64encode(f"next_ts:{rest[0]['ts']}".encode()).decode() if rest else ""
    return page, bool(rest), next_cursor


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        kind, _, ts = base64.b64decode(cursor.encode()).decode().partition(":")
        if kind != "next_ts":
            raise ValueError(kind)
        return _ts_key(ts)
    except ValueError:
        raise ApiError("invalid_cursor") from None


def _rich_text_blocks(text: str, ts: str) -> list[dict]:
    """The rich_text block Slack clients attach to typed messages; mentions become user elements."""
    elements: list[dict] = []
    for part in re.split(r"(<@[UW][A-Z0-9]+>)", text):
        mention = re.fullmatch(r"<@([UW][A-Z0-9]+)>", part)
        if mention:
            elements.append({"type": "user", "user_id": mention.group(1)})
        elif part:
            elements.append({"type": "text", "text": part})
    block_id = base64.b64encode(hashlib.sha1(ts.encode()).digest()).decode()[:5]
    return [{"type": "rich_text", "block_id": block_id,
             "elements": [{"type": "rich_text_section", "elements": elements}]}]


def _event_context(event: dict, team_id: str, app_id: str) -> str:
    """Opaque like Slack's "4-eyJ..."; apps must not parse it."""
    channel = event.get("channel") or event.get("item", {}).get("channel", "")
    raw = json.dumps({"et": event.get("type"), "tid": team_id, "aid": app_id, "cid": channel}, separators=(",", ":"))
    return "4-" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# ======================================================================= HTTP front


class _StubHTTPServer(QuietThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], stub: SlackStub) -> None:
        super().__init__(address, handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    """POST|GET /api/{method} (form or JSON) and POST /commands/... (response_url)."""

    server: _StubHTTPServer
    server_version = "SandboxSlack/1.0"

    def do_POST(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("slack stub http: " + format, *args)

    def _route(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/api/"):
            self._api(parts.path[len("/api/"):], parts.query)
        elif parts.path.startswith("/commands/") and self.command == "POST":
            self._response_url(parts.path[len("/commands/"):])
        else:
            self._reply(404, b"not found", "text/plain")

    def _api(self, method: str, query: str) -> None:
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        try:
            args.update(self._body_args())
        except ValueError as e:
            self._json(200, {"ok": False, "error": str(e)})
            return
        token = self._bearer() or args.get("token")
        args.pop("token", None)
        status, body, headers = self.server.stub.call_api(method, args, token)
        self._json(status, body, headers)

    def _body_args(self) -> dict[str, Any]:
        raw = self._read()
        if not raw:
            return {}
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/"):
            raise ValueError("invalid_form_data")  # file uploads are not simulated
        if content_type.startswith("application/json"):
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise ValueError("invalid_json") from None
            if not isinstance(parsed, dict):
                raise ValueError("invalid_json")
            return parsed
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return header[len("Bearer "):].strip() or None

    def _response_url(self, hook: str) -> None:
        payload = parse_body(self._read(), self.headers.get("Content-Type", ""))
        if isinstance(payload, str):
            payload = {"text": payload}
        if not isinstance(payload, dict) or not self.server.stub.post_response_url(hook, payload):
            self._reply(404, b"no_active_hooks", "text/plain")
            return
        self._json(200, {"ok": True})

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self._reply(status, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _reply(self, status: int, raw: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)
