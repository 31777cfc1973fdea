"""The Web API methods the bot calls (chat.*, conversations.*, reactions.*, users.info, auth.test, ...).

Each method is what Slack does with the workspace, answered as Slack answers: token checks first, then
the scope the method needs (missing_scope when the app was not granted it), {"ok": false, "error"} for
refusals, injected failures (429 with Retry-After) for testing retries. Modals (views.*) and files
(files.*, conversations.open) live in their own modules and are answered here.
Calls the bot makes also cause the events Slack would send (its own messages, edits, reactions),
delivered in the background so the API response is never held up by the app.
"""
from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.slack_socket import SocketModeServer
from sandbox.slack_stub_delivery import EventDelivery
from sandbox.slack_stub_events import SlackEvents
from sandbox.slack_stub_files import Files
from sandbox.slack_stub_objects import SlackObjects
from sandbox.slack_stub_scopes import needed_scope
from sandbox.slack_stub_views import Views
from sandbox.slack_stub_wire import (
    ApiError,
    arg,
    error_body,
    flag,
    in_range,
    json_arg,
    paginate,
    strip_metadata,
    without,
)

log = logging.getLogger("sandbox.slack_stub")

HOLD_LIMIT = 30.0  # seconds a held answer waits at most for its release


@dataclass(frozen=True)
class ApiCall:
    """One Web API request as the stub saw it (token removed from args)."""

    method: str
    args: dict
    token: str | None
    response: dict
    status: int
    scope: str | None = None  # the OAuth scope the call needed, if any


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    after: bool = False  # the call is carried out first, then answered with the failure (a lost answer)


class WebApi:
    """Answers Web API calls against the workspace; records every call for tests."""

    def __init__(self, objects: SlackObjects, events: SlackEvents, delivery: EventDelivery,
                 socket: SocketModeServer, views: Views, files: Files, *, bot_token: str, app_token: str) -> None:
        self.objects = objects
        self.identity = objects.identity
        self.workspace = objects.workspace
        self.events = events
        self.delivery = delivery
        self.socket = socket
        self.views, self.files = views, files
        self.bot_token, self.app_token = bot_token, app_token
        self.scopes: frozenset[str] | None = None  # the bot token's scopes; None grants every scope
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: dict[str, list[threading.Event]] = {}

    # ------------------------------------------------------------- dispatch

    def call(self, method: str, args: dict, token: str | None) -> tuple[int, dict, dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
        handler = self._methods().get(method)
        headers: dict[str, str] = {}
        failure = self._take_failure(method) if handler else None
        scope = needed_scope(method, self._conversation_type(method, args)) if handler else None
        if self.scopes is not None and token == self.bot_token:
            headers["X-OAuth-Scopes"] = ",".join(sorted(self.scopes))
        if handler is None:
            status, body = 200, error_body("unknown_method", req_method=method)
        elif failure is not None:
            if failure.after:
                self._run(handler, args)
            status, body = failure.status, error_body(failure.error)
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
        elif (auth_error := self._auth_error(method, token)) is not None:
            status, body = 200, error_body(auth_error)
        elif scope and self.scopes is not None and scope not in self.scopes:
            status, body = 200, error_body("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))
        else:
            status, body = 200, self._run(handler, args)
        with self._lock:
            self._calls.append(ApiCall(method, copy.deepcopy(args), token, copy.deepcopy(body), status, scope))
            holds = self._holds.get(method)
            hold = holds.pop(0) if holds and handler else None
        if hold is not None:
            hold.wait(HOLD_LIMIT)
        return status, body, headers

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def fail_next(self, method: str, error: str, status: int, retry_after: int | None, count: int,
                  after: bool = False) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend(
                _Failure(error, status, retry_after, after) for _ in range(count))

    def hold_next(self, method: str) -> threading.Event:
        """The next call to `method` happens at once; its answer waits until the returned event is set."""
        release = threading.Event()
        with self._lock:
            self._holds.setdefault(method, []).append(release)
        return release

    def _run(self, handler: Callable[[dict], dict], args: dict) -> dict:
        try:
            return {"ok": True, **handler(args)}
        except ApiError as e:
            return error_body(e.error, **e.extra)
        except (TypeError, ValueError):
            log.exception("bad arguments for a Web API call: %r", args)
            return error_body("invalid_arguments")
        except Exception:
            log.exception("Web API method failed")
            return error_body("internal_error")

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

    def _conversation_type(self, method: str, args: dict) -> str | None:
        """Which kind of conversation a call is about: the scope of conversations.* depends on it."""
        if method == "conversations.open":
            return "mpim" if "," in arg(args, "users") else "im"
        channel = self.workspace.resolve_channel(arg(args, "channel")) if args.get("channel") else None
        return self.workspace.channel_type(channel) if channel else None

    def _methods(self) -> dict[str, Callable[[dict], dict]]:
        return {
            **self.views.methods(),
            **self.files.methods(),
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

    # ------------------------------------------------------------- auth.*

    def _auth_test(self, args: dict) -> dict:
        me = self.identity
        return {
            "url": f"https://{me.team_domain}.slack.com/", "team": me.team_name, "user": me.bot_name,
            "team_id": me.team_id, "user_id": me.bot_user_id, "bot_id": me.bot_id,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------- chat.*

    def _chat_post_message(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        text, blocks, attachments = args.get("text"), json_arg(args.get("blocks")), json_arg(args.get("attachments"))
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
        message = self.objects.bot_message(text or "", blocks, attachments, json_arg(args.get("metadata")))
        thread_ts = arg(args, "thread_ts") or None
        if thread_ts and flag(args.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
        stored, _ = self.workspace.post(channel, message, thread_ts)
        self._announce(self.events.message(channel, stored))
        return {"channel": channel, "ts": stored["ts"], "message": stored}

    def _chat_update(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), arg(args, "ts")
        changes: dict[str, Any] = {}
        if "text" in args:
            changes["text"] = args["text"] or ""
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                changes[key] = json_arg(args[key])
        if not changes:
            raise ApiError("no_text")
        if self.workspace.message(channel, ts) is None:
            raise ApiError("message_not_found")
        previous, updated = self.workspace.update(channel, ts, changes, self.identity.bot_user_id)
        self._announce(self.events.changed(channel, previous, updated))
        return {"channel": channel, "ts": ts, "text": updated.get("text", ""), "message": without(updated, "ts")}

    def _chat_delete(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), arg(args, "ts")
        previous = self.workspace.delete(channel, ts, self.identity.bot_user_id)
        self._announce(self.events.deleted(channel, ts, previous))
        return {"channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        user = arg(args, "user")
        if self.workspace.user(user) is None:
            raise ApiError("user_not_found")
        text, blocks = args.get("text"), json_arg(args.get("blocks"))
        if not text and not blocks and not args.get("attachments"):
            raise ApiError("no_text")
        ephemeral = self.objects.ephemeral(channel, user, text or "", blocks, "chat.postEphemeral",
                                           args.get("thread_ts"))
        return {"message_ts": ephemeral["ts"]}

    def _chat_get_permalink(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), arg(args, "message_ts")
        if self.workspace.message(channel, ts) is None:
            raise ApiError("message_not_found")
        return {"channel": channel,
                "permalink": f"https://{self.identity.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    # ------------------------------------------------------------- conversations.* and users.*

    def _conversations_history(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        items = list(reversed(in_range(self.workspace.messages(channel), args)))  # newest first, like Slack
        page, has_more, cursor = paginate(items, args, default_limit=100, newest_first=True)
        return {
            "messages": strip_metadata(page, args), "has_more": has_more, "pin_count": 0,
            "channel_actions_ts": None, "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        thread = self.workspace.thread(channel, arg(args, "ts"))
        if not thread:
            raise ApiError("thread_not_found")
        items = thread[:1] + in_range(thread[1:], args)
        page, has_more, cursor = paginate(items, args, default_limit=1000, newest_first=False)
        return {"messages": strip_metadata(page, args), "has_more": has_more,
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_info(self, args: dict) -> dict:
        return {"channel": self.workspace.channel(self._channel_arg(args))}

    def _users_info(self, args: dict) -> dict:
        user = self.workspace.user(arg(args, "user"))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user}

    # ------------------------------------------------------------- reactions.*

    def _reactions_get(self, args: dict) -> dict:
        channel, ts = self._channel_arg(args), arg(args, "timestamp")
        message = self.workspace.message(channel, ts)
        if message is None:
            raise ApiError("message_not_found")
        return {"type": "message", "channel": channel, "message": message}

    def _bot_reaction(self, args: dict, *, add: bool) -> dict:
        channel, ts, name = self._channel_arg(args), arg(args, "timestamp"), arg(args, "name")
        if not name:
            raise ApiError("invalid_name")
        bot = self.identity.bot_user_id
        message = self.workspace.react(bot, channel, ts, name, add)
        kind = "reaction_added" if add else "reaction_removed"
        self._announce(self.events.reaction(kind, bot, channel, message, name))
        return {}

    # ------------------------------------------------------------- helpers

    def _announce(self, event: dict) -> None:
        """The event the app's own call causes, wrapped now (its event_id is taken now) and sent later."""
        self.delivery.deliver_later(self.events.envelope(event))

    def _channel_arg(self, args: dict) -> str:
        channel = self.workspace.resolve_channel(arg(args, "channel"))
        if channel is None:
            raise ApiError("channel_not_found")
        return channel
