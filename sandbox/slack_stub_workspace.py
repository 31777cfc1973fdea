"""The Slack workspace the stand-in serves: users, conversations, messages, threads, reactions, ephemerals.

Plain state behind one lock, shaped like Slack's objects, with a change hook so a UI (the playground)
can follow along. It knows nothing of HTTP or the app: the Web API methods and user actions call it.
"""
from __future__ import annotations

import bisect
import copy
import logging
import threading
from collections.abc import Callable

from finetune.clock import Clock
from sandbox.slack_stub_wire import ApiError, ts_key, ts_micros

log = logging.getLogger("sandbox.slack_stub")

Listener = Callable[[dict], None]


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

    def announce(self, record: dict) -> None:
        """Tell the listeners of a change outside the messages (a modal opened or closed, say)."""
        self._emit(record)

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
            for message in sorted(items, key=lambda m: ts_key(m["ts"])):
                messages[cid][message["ts"]] = message
                last_micros = max(last_micros, ts_micros(message["ts"]))
        ephemerals = list(state["ephemerals"])
        for ephemeral in ephemerals:
            last_micros = max(last_micros, ts_micros(ephemeral["ts"]))
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
            latest = next(reversed(store), None)
            store[message["ts"]] = message
            if latest is not None and ts_key(message["ts"]) < ts_key(latest):
                # a ts taken earlier (a slash command's ack, stamped when the command was sent) sorts where it belongs
                self._messages[channel] = dict(sorted(store.items(), key=lambda item: ts_key(item[0])))
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
            bisect.insort(self._ephemerals, ephemeral, key=lambda e: ts_key(e["ts"]))  # in ts order, like messages
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
        if ts_key(reply["ts"]) > ts_key(parent.get("latest_reply") or 0):
            parent["latest_reply"] = reply["ts"]
        parent.setdefault("is_locked", False)
        parent.setdefault("subscribed", False)


def _is_top_level(message: dict) -> bool:
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"
