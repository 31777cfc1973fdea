"""The web playground: a Slack-like page over the SlackStub's workspace, for trying the bot offline.

Every action on the page goes through the stub's user-action methods (post_as_user, add_reaction,
remove_reaction, slash_command, feedback, click, submit_view, close_view), so the bot receives the same
signed events and interactions it would get from Slack.
The page learns about changes from Server-Sent Events fed by `SlackStub.subscribe` and re-reads the
workspace through a small JSON API:

    GET  /api/state?user=U0ALICE&channel=C0GENERAL[&thread=TS]
    GET  /api/stream                                   (text/event-stream; one "change" event per change)
    POST /api/messages   {"channel", "text", "thread_ts"?, "user"?}
    POST /api/reactions  {"channel", "ts", "name", "add": bool, "user"?}
    POST /api/commands   {"channel", "text": "/finetune status", "user"?}
    POST /api/feedback   {"channel", "ts", "positive": bool, "user"?}     (a reply's Good/Bad answer buttons)
    POST /api/actions    {"channel", "ts", "action_id", "value"?, "user"?} (a button, such as Improve)
    POST /api/views/submit {"values": {block_id: text}, "user"?}          (the modal on top, as shown, changed)
    POST /api/views/close  {"user"?}

Errors answer {"ok": false, "error": code, "message": "what to fix"} with a 4xx status, never a crash.
"""
from __future__ import annotations

import json
import logging
import queue
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandbox.reply_metadata import answered_by
from sandbox.slack_stub import ApiError

if TYPE_CHECKING:
    from sandbox.stack import LocalStack

log = logging.getLogger("sandbox.playground")

STATIC_DIR = Path(__file__).resolve().parent
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/emoji.js": ("emoji.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
MAX_BODY = 64 * 1024
MAX_TEXT = 40_000  # Slack's own limit for a message's text
HEARTBEAT_SECONDS = 10.0
CLIENT_QUEUE = 1000
COMMANDS = ("/finetune",)
MODAL_INPUT_LIMIT = 3_000  # Slack's plain_text_input holds this many characters
REACTION_NAME = re.compile(r"[a-z0-9_+'\-]{1,100}(?:::skin-tone-[2-6])?")
_STOP = object()


class BadRequest(Exception):
    """An input problem, answered as {"ok": false, "error", "message"} with `status`."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class Playground:
    """Serves the playground page and its JSON API for one LocalStack, in a daemon thread."""

    def __init__(self, stack: LocalStack, host: str = "127.0.0.1", port: int = 8000, *, user: str = "U0ALICE") -> None:
        self.stack = stack
        self.host = host
        self.port = port
        self.slack = stack.slack
        if self.slack.workspace.user(user) is None:
            raise ValueError(f"unknown user {user!r}: the sandbox workspace has {self._people_ids()}")
        self.user = user
        self._server: _PlaygroundServer | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe = None
        self._clients: set[queue.Queue] = set()
        self._clients_lock = threading.Lock()
        self._stopping = threading.Event()
        self._last_model: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Playground:
        """Binds (OSError when the port is taken) and serves in a daemon thread; port 0 picks a free one."""
        if self._server is not None:
            raise RuntimeError("Playground already started")
        self._server = _PlaygroundServer((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._unsubscribe = self.slack.subscribe(self._on_change)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="playground-http", daemon=True
        )
        self._thread.start()
        log.info("playground at %s", self.url)
        return self

    def stop(self) -> None:
        """Ends the live streams, stops serving and closes the socket. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            _offer(client, _STOP)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Playground:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"
        return f"http://{host}:{self.port}/"

    # ------------------------------------------------------------------ live changes

    def _on_change(self, record: dict) -> None:
        """Called by the stub in whatever thread changed the workspace: hand a small note to each stream."""
        note = {"type": record.get("type")}
        for key in ("channel", "ts", "thread_ts", "user"):
            if record.get(key):
                note[key] = record[key]
        if record.get("type") == "ephemeral":
            eph = record.get("ephemeral") or {}
            note.update(channel=eph.get("channel"), user=eph.get("user"), ts=eph.get("ts"))
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            _offer(client, note)

    def _open_stream(self) -> queue.Queue:
        client: queue.Queue = queue.Queue(maxsize=CLIENT_QUEUE)
        with self._clients_lock:
            self._clients.add(client)
        return client

    def _close_stream(self, client: queue.Queue) -> None:
        with self._clients_lock:
            self._clients.discard(client)

    # ------------------------------------------------------------------ reading

    def state(self, params: dict[str, str]) -> dict:
        me = self._person(params.get("user") or self.user)
        channel = self._channel(params.get("channel") or "C0GENERAL", me)
        thread_ts = params.get("thread") or None
        messages = self.slack.messages(channel)
        thread = None
        if thread_ts:
            replies = self.slack.thread(channel, thread_ts)
            if replies:
                thread = {"ts": replies[0]["ts"], "channel": channel, "messages": [self._view(m) for m in replies]}
        ephemerals = [
            {"kind": "ephemeral", "ts": e["ts"], "text": e.get("text") or "", "source": e.get("source"),
             "thread_ts": e.get("thread_ts"), "user": e["user"], "channel": e["channel"]}
            for e in self.slack.ephemerals if e.get("user") == me and e.get("channel") == channel
        ]
        return {
            "ok": True,
            "me": me,
            "default_user": self.user,
            "bot": {"id": self.slack.bot_user_id, "name": self.slack.bot_name},
            "team": self.slack.team_name,
            "people": self._people(),
            "users": {u["id"]: _user_view(u) for u in self.slack.workspace.users()},
            "channels": self._channels_for(me),
            "channel": channel,
            "messages": [self._view(m, channel) for m in messages],
            "thread": thread,
            "ephemerals": ephemerals,
            "model": self._reply_model(),
            "approve_reactions": list(self._approve_reactions()),
            "view": self._modal(me),
        }

    def _modal(self, me: str) -> dict | None:
        """The modal on top of `me`'s stack, as the page draws it: its texts, its inputs, and the app's errors."""
        views = self.slack.open_views(me)
        if not views:
            return None
        view = views[-1]
        texts: list[str] = []
        inputs: list[dict] = []
        for block in view.get("blocks") or []:
            kind = block.get("type")
            if kind == "input":
                element = block.get("element") or {}
                inputs.append({
                    "block_id": block["block_id"], "label": _plain(block.get("label")),
                    "value": element.get("initial_value") or "", "multiline": bool(element.get("multiline")),
                    "max_length": int(element.get("max_length") or MODAL_INPUT_LIMIT),
                    "optional": bool(block.get("optional")), "hint": _plain(block.get("hint")),
                })
            elif kind == "section":
                texts.append(_plain(block.get("text")))
            elif kind == "context":
                texts.extend(_plain(e) for e in block.get("elements") or [])
        return {"id": view["id"], "hash": view.get("hash"), "title": _plain(view.get("title")),
                "submit": _plain(view.get("submit")) or "Submit", "close": _plain(view.get("close")) or "Cancel",
                "texts": [t for t in texts if t], "inputs": inputs, "errors": self.slack.view_errors(view["id"])}

    def _view(self, message: dict, channel: str | None = None) -> dict:
        """What the page needs of one message; with `channel`, also the model that answered in its thread."""
        view = {
            "kind": "message",
            "ts": message["ts"],
            "user": message.get("user"),
            "is_bot": bool(message.get("bot_id")),
            "text": message.get("text") or "",
            "model": answered_by(message),
            "context": _context_text(message),
            "thread_ts": message.get("thread_ts"),
            "is_reply": bool(message.get("thread_ts")) and message.get("thread_ts") != message["ts"],
            "reply_count": message.get("reply_count", 0),
            "reply_users": message.get("reply_users", []),
            "latest_reply": message.get("latest_reply"),
            "reactions": [{"name": r["name"], "count": r["count"], "users": r["users"]}
                          for r in message.get("reactions", [])],
            "subtype": message.get("subtype"),
            "controls": _controls(message),
        }
        if channel and view["reply_count"]:
            # the channel view shows, under each question, which model answered in its thread
            answers = [answered_by(m) for m in self.slack.thread(channel, message["ts"])[1:] if m.get("bot_id")]
            view["thread_model"] = next((m for m in reversed(answers) if m), None)
        return view

    def _reply_model(self) -> str | None:
        """The model answering now: the pipeline's own answer, else the newest badge seen."""
        services = self.stack.services
        if services is not None:
            try:
                self._last_model = services.reply_model.current()
            except Exception:  # a database hiccup must not break the page
                log.debug("could not read the active model", exc_info=True)
        return self._last_model

    def _approve_reactions(self) -> tuple[str, ...]:
        settings = getattr(self.stack, "settings", None)
        return tuple(getattr(settings, "approve_reactions", ("+1", "white_check_mark", "star")))

    def _people(self) -> list[dict]:
        return [_user_view(u) for u in self.slack.workspace.users() if not u.get("is_bot") and not u.get("deleted")]

    def _people_ids(self) -> list[str]:
        return [u["id"] for u in self.slack.workspace.users() if not u.get("is_bot")]

    def _channels_for(self, me: str) -> list[dict]:
        """Public channels, private ones, and the DM between `me` and the bot, as the sidebar lists them."""
        found = []
        for info in self.slack.workspace.channels():
            if info.get("is_archived"):
                continue
            if info.get("is_im"):
                if info.get("user") != me:
                    continue
                found.append({"id": info["id"], "name": self.slack.bot_name, "is_im": True, "is_private": True})
            else:
                found.append({"id": info["id"], "name": info["name"], "is_im": False,
                              "is_private": bool(info.get("is_private"))})
        return found

    # ------------------------------------------------------------------ acting

    def post_message(self, body: dict) -> dict:
        me = self._person(body.get("user") or self.user)
        channel = self._channel(_required_str(body, "channel"), me)
        text = _required_str(body, "text").strip()
        if not text:
            raise BadRequest(400, "no_text", "Write something before sending.")
        if len(text) > MAX_TEXT:
            raise BadRequest(400, "msg_too_long", f"Messages are limited to {MAX_TEXT} characters.")
        thread_ts = _optional_str(body, "thread_ts")
        if text.startswith("/"):
            raise BadRequest(400, "is_command", "That is a slash command: send it to /api/commands.")
        text = self.convert_mentions(text)
        try:
            message = self.slack.post_as_user(me, channel, text, thread_ts=thread_ts)
        except ApiError as exc:
            raise _api_problem(exc) from None
        return {"ok": True, "channel": channel, "message": self._view(message)}

    def react(self, body: dict) -> dict:
        me = self._person(body.get("user") or self.user)
        channel = self._channel(_required_str(body, "channel"), me)
        ts = _required_str(body, "ts")
        name = _required_str(body, "name").strip().strip(":")
        if not REACTION_NAME.fullmatch(name):
            raise BadRequest(400, "invalid_name", f"{name!r} is not an emoji name like +1 or white_check_mark.")
        add = body.get("add", True)
        if not isinstance(add, bool):
            raise BadRequest(400, "invalid_add", '"add" must be true (react) or false (take the reaction back).')
        if self.slack.message(channel, ts) is None:
            raise BadRequest(404, "message_not_found", f"There is no message {ts} in that conversation.")
        try:
            if add:
                self.slack.add_reaction(me, channel, ts, name)
            else:
                self.slack.remove_reaction(me, channel, ts, name)
        except ApiError as exc:
            raise _api_problem(exc) from None
        return {"ok": True, "message": self._view(self.slack.message(channel, ts) or {"ts": ts})}

    def feedback(self, body: dict) -> dict:
        """A click on a reply's Good answer / Bad answer buttons (Slack's feedback_buttons)."""
        me = self._person(body.get("user") or self.user)
        channel = self._channel(_required_str(body, "channel"), me)
        ts = _required_str(body, "ts")
        positive = body.get("positive")
        if not isinstance(positive, bool):
            raise BadRequest(400, "invalid_positive", '"positive" must be true (Good answer) or false (Bad answer).')
        action_id = next(c["action_id"] for c in self._controls_of(channel, ts, "feedback") if c["kind"] == "feedback")
        return self._interaction(self.slack.feedback(me, channel, ts, positive=positive, action_id=action_id))

    def action(self, body: dict) -> dict:
        """A click on one of a message's buttons (Improve), by its action_id."""
        me = self._person(body.get("user") or self.user)
        channel = self._channel(_required_str(body, "channel"), me)
        ts = _required_str(body, "ts")
        action_id = _required_str(body, "action_id")
        controls = self._controls_of(channel, ts, "button")
        button = next((c for c in controls if c["kind"] == "button" and c["action_id"] == action_id), None)
        if button is None:
            raise BadRequest(404, "no_such_button", f"That message has no button {action_id!r}.")
        value = _optional_str(body, "value") or button.get("value")
        return self._interaction(self.slack.click(me, channel, ts, action_id, value=value))

    def submit_view(self, body: dict) -> dict:
        """Submits the modal on top, as shown, with `values` (block_id -> text) typed over its inputs."""
        me = self._person(body.get("user") or self.user)
        values = body.get("values") or {}
        if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
            raise BadRequest(400, "invalid_values", '"values" must map each input\'s block_id to its text.')
        if not self.slack.open_views(me):
            raise BadRequest(409, "no_view", "There is no form open to submit.")
        try:
            result = self.slack.submit_view(me, values)
        except ValueError as exc:  # what a Slack client would not send: an empty required input, too long a text
            raise BadRequest(400, "not_sent", str(exc)) from None
        self._acked(result)
        return {"ok": True, "view": self._modal(me)}

    def close_view(self, body: dict) -> dict:
        me = self._person(body.get("user") or self.user)
        if not self.slack.open_views(me):
            raise BadRequest(409, "no_view", "There is no form open to close.")
        self.slack.close_view(me)
        return {"ok": True, "view": self._modal(me)}

    def _controls_of(self, channel: str, ts: str, kind: str) -> list[dict]:
        """The message's controls; a clear error when there is no such message or it has none of `kind`."""
        message = self.slack.message(channel, ts)
        if message is None:
            raise BadRequest(404, "message_not_found", f"There is no message {ts} in that conversation.")
        controls = _controls(message)
        if not any(c["kind"] == kind for c in controls):
            what = "feedback buttons" if kind == "feedback" else "buttons"
            raise BadRequest(400, f"no_{kind}", f"That message has no {what}.")
        return controls

    def _interaction(self, result: Any) -> dict:
        self._acked(result)
        return {"ok": True, "status": result.status}

    @staticmethod
    def _acked(result: Any) -> None:
        if not result.acked:
            why = "did not answer in time" if result.status == 0 else f"answered HTTP {result.status}"
            raise BadRequest(502, "interaction_failed", f"The click did not get through: the bot {why}.")

    def command(self, body: dict) -> dict:
        """Runs "/finetune ..." in the request thread: the stub waits for the bot's ack, as Slack does."""
        me = self._person(body.get("user") or self.user)
        channel = self._channel(_required_str(body, "channel"), me)
        typed = _required_str(body, "text").strip()
        if not typed.startswith("/"):
            raise BadRequest(400, "not_a_command", "A slash command starts with /, e.g. /finetune status.")
        command, _, rest = typed.partition(" ")
        command = command.lower()
        if command not in COMMANDS:
            raise BadRequest(400, "unknown_command",
                             f"{command} is not a valid command here. Try /finetune help.")
        result = self.slack.slash_command(me, channel, command, rest.strip())
        if result["status"] != 200:
            why = "did not answer in time" if result["status"] == 0 else f"answered HTTP {result['status']}"
            raise BadRequest(502, "command_failed", f"{command} failed: the bot {why}.")
        ack = result.get("ack") or {}
        return {"ok": True, "command": command, "text": rest.strip(), "ack": ack.get("text", "")}

    def convert_mentions(self, text: str) -> str:
        """A typed @finetune-bot, @bot or @name becomes Slack's <@ID> mention."""
        names = {"bot": self.slack.bot_user_id}
        for user in self.slack.workspace.users():
            names[user["name"].lower()] = user["id"]

        def swap(match: re.Match) -> str:
            found = names.get(match.group(1).lower())
            return f"<@{found}>" if found else match.group(0)

        return re.sub(r"(?<![\w<@])@([A-Za-z0-9][\w.\-]*[A-Za-z0-9]|[A-Za-z0-9])(?![\w\-])", swap, text)

    # ------------------------------------------------------------------ checks

    def _person(self, ref: Any) -> str:
        if not isinstance(ref, str) or not ref.strip():
            raise BadRequest(400, "invalid_user", '"user" must be a user id like U0ALICE or a name like alice.')
        ref = ref.strip().lstrip("@")
        for user in self.slack.workspace.users():
            if ref in (user["id"], user["name"]):
                if user.get("is_bot"):
                    raise BadRequest(400, "invalid_user", "You can't act as the bot; pick alice or bob.")
                return user["id"]
        raise BadRequest(400, "unknown_user", f"Unknown user {ref!r}; try one of {self._people_ids()}.")

    def _channel(self, ref: str, me: str) -> str:
        channel = self.slack.workspace.resolve_channel(ref.strip())
        info = self.slack.workspace.channel(channel) if channel else None
        if info is None:
            known = ", ".join(c["id"] for c in self.slack.workspace.channels())
            raise BadRequest(400, "unknown_channel", f"Unknown channel {ref!r}; known channels: {known}.")
        if info.get("is_im") and info.get("user") != me:
            raise BadRequest(403, "not_in_channel", f"{ref} is another person's direct message with the bot.")
        return channel


# ---------------------------------------------------------------------- helpers


def _offer(client: queue.Queue, item: Any) -> None:
    try:
        client.put_nowait(item)
    except queue.Full:  # a stalled page: it re-reads the whole state on the next note anyway
        pass


def _user_view(user: dict) -> dict:
    return {"id": user["id"], "name": user["name"], "real_name": user.get("real_name") or user["name"],
            "is_bot": bool(user.get("is_bot"))}


def _plain(text: Any) -> str:
    """A Block Kit text object's text (plain_text or mrkdwn), or a bare string as it is."""
    if isinstance(text, dict):
        return str(text.get("text") or "")
    return text if isinstance(text, str) else ""


def _controls(message: dict) -> list[dict]:
    """The interactive elements a message shows, in block order: feedback buttons (one entry a side) and buttons."""
    controls: list[dict] = []
    for block in message.get("blocks") or []:
        if block.get("type") not in ("actions", "context_actions"):
            continue
        for element in block.get("elements") or []:
            if not isinstance(element, dict):
                continue
            if element.get("type") == "feedback_buttons":
                for side, positive in (("positive_button", True), ("negative_button", False)):
                    button = element.get(side) or {}
                    controls.append({"kind": "feedback", "action_id": element.get("action_id") or "", "positive": positive,
                                     "text": _plain(button.get("text")) or ("Good" if positive else "Bad"),
                                     "label": button.get("accessibility_label") or _plain(button.get("text"))})
            elif element.get("type") == "button":
                controls.append({"kind": "button", "action_id": element.get("action_id") or "",
                                 "value": element.get("value"), "text": _plain(element.get("text")),
                                 "label": element.get("accessibility_label") or _plain(element.get("text"))})
    return controls


def _context_text(message: dict) -> str:
    """The text of a message's context blocks (the bot's "Answered by ..." footer), joined."""
    texts = [element.get("text") or "" for block in message.get("blocks") or [] if block.get("type") == "context"
             for element in block.get("elements") or [] if isinstance(element, dict)]
    return " ".join(t for t in texts if t)


def _required_str(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(400, f"missing_{key}", f'"{key}" is required and must be a non-empty string.')
    return value


def _optional_str(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRequest(400, f"invalid_{key}", f'"{key}" must be a string such as "1700000000.000100".')
    return value


def _api_problem(exc: ApiError) -> BadRequest:
    messages = {
        "thread_not_found": (400, "That thread does not exist in this conversation."),
        "message_not_found": (404, "That message does not exist in this conversation."),
        "channel_not_found": (400, "Unknown channel."),
        "already_reacted": (409, "You already reacted with that emoji."),
        "no_reaction": (409, "You have not reacted with that emoji."),
    }
    status, message = messages.get(exc.error, (400, f"Slack said {exc.error}."))
    return BadRequest(status, exc.error, message)


# ---------------------------------------------------------------------- HTTP


class _PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], playground: Playground) -> None:
        super().__init__(address, handler)
        self.playground = playground


class _Handler(BaseHTTPRequestHandler):
    server: _PlaygroundServer
    server_version = "SandboxPlayground/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("playground http: " + format, *args)

    @property
    def playground(self) -> Playground:
        return self.server.playground

    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_HEAD(self) -> None:
        if urlsplit(self.path).path == "/api/stream":
            self._reply(200, b"", "text/event-stream")
            return
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _guarded(self, handle) -> None:
        try:
            handle()
        except BadRequest as exc:
            self._json(exc.status, {"ok": False, "error": exc.error, "message": exc.message})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:
            log.exception("playground request %s %s failed", self.command, self.path)
            try:
                self._json(500, {"ok": False, "error": "internal_error", "message": f"The playground failed: {exc}"})
            except OSError:
                pass

    def _get(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            self._reply(200, (STATIC_DIR / name).read_bytes(), content_type)
        elif path == "/api/state":
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            self._json(200, self.playground.state(params))
        elif path == "/api/stream":
            self._stream()
        elif path == "/favicon.ico":
            self._reply(204, b"", "image/x-icon")
        else:
            raise BadRequest(404, "not_found", f"Nothing at {path}.")

    def _post(self) -> None:
        routes = {
            "/api/messages": self.playground.post_message,
            "/api/reactions": self.playground.react,
            "/api/commands": self.playground.command,
            "/api/feedback": self.playground.feedback,
            "/api/actions": self.playground.action,
            "/api/views/submit": self.playground.submit_view,
            "/api/views/close": self.playground.close_view,
        }
        path = urlsplit(self.path).path
        action = routes.get(path)
        if action is None:
            raise BadRequest(404, "not_found", f"No POST route {path}; use one of {sorted(routes)}.")
        self._json(200, action(self._body()))

    def _body(self) -> dict:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":  # also keeps other web pages from posting here (CORS preflight)
            raise BadRequest(415, "unsupported_media_type", "Send the request body as application/json.")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadRequest(400, "invalid_length", "Content-Length must be a number.") from None
        if length > MAX_BODY:
            raise BadRequest(413, "too_large", f"The request body is limited to {MAX_BODY} bytes.")
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRequest(400, "invalid_json", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise BadRequest(400, "invalid_json", "The request body must be a JSON object.")
        return body

    def _stream(self) -> None:
        """Server-Sent Events: a "change" event per workspace change, a comment as heartbeat."""
        playground = self.playground
        client = playground._open_stream()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            self.wfile.write(b"retry: 1000\nevent: hello\ndata: {}\n\n")
            self.wfile.flush()
            while not playground._stopping.is_set():
                try:
                    note = client.get(timeout=HEARTBEAT_SECONDS)
                except queue.Empty:
                    self.wfile.write(b": ping\n\n")
                    self.wfile.flush()
                    continue
                if note is _STOP:
                    break
                self.wfile.write(b"event: change\ndata: " + json.dumps(note).encode() + b"\n\n")
                self.wfile.flush()
        except OSError:  # the page went away
            pass
        finally:
            playground._close_stream(client)
            self.close_connection = True

    def _json(self, status: int, body: dict) -> None:
        self._reply(status, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8")

    def _reply(self, status: int, raw: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)
