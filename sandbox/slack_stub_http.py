"""The stand-in's HTTP front: /api/{method} for the Web API, /commands/... and /actions/... for response_urls,
/upload/v1/... for file uploads (the URLs files.getUploadURLExternal hands out).

Only bytes in and out: parsing goes through slack_stub_wire, answers come from the two callables
the stub hands over, so the API can be exercised without a socket too.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from sandbox.httpserver import QuietThreadingHTTPServer
from sandbox.slack_driver import parse_body
from sandbox.slack_stub_wire import bearer_token, error_body, request_args

log = logging.getLogger("sandbox.slack_stub")

# (method, args, token) -> (HTTP status, JSON body, extra headers)
CallApi = Callable[[str, dict, "str | None"], tuple[int, dict, dict[str, str]]]
# (hook, payload) -> whether the hook exists
PostResponseUrl = Callable[[str, dict], bool]
# (hook, payload) -> None when done, else the 404 body (no_active_hooks, used_url, expired_url)
PostActionUrl = Callable[[str, dict], "str | None"]
# (upload token, bytes) -> (HTTP status, body)
ReceiveUpload = Callable[[str, bytes], tuple[int, str]]


class SlackHTTPServer(QuietThreadingHTTPServer):
    """Serves the Web API and response_urls in threads; see SlackStub.start."""

    def __init__(self, address: tuple[str, int], call_api: CallApi, post_response_url: PostResponseUrl,
                 post_action_url: PostActionUrl, receive_upload: ReceiveUpload) -> None:
        super().__init__(address, _Handler)
        self.call_api = call_api
        self.post_response_url = post_response_url
        self.post_action_url = post_action_url
        self.receive_upload = receive_upload


class _Handler(BaseHTTPRequestHandler):
    """POST|GET /api/{method} (form or JSON) and POST /commands/... (response_url)."""

    server: SlackHTTPServer
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
        elif parts.path.startswith("/actions/") and self.command == "POST":
            self._action_url(parts.path[len("/actions/"):])
        elif parts.path.startswith("/upload/v1/") and self.command == "POST":
            status, body = self.server.receive_upload(parts.path[len("/upload/v1/"):], self._read())
            self._reply(status, body.encode(), "text/plain; charset=utf-8")
        else:
            self._reply(404, b"not found", "text/plain")

    def _api(self, method: str, query: str) -> None:
        try:
            args = request_args(query, self._read(), self.headers.get("Content-Type", ""))
        except ValueError as e:
            self._json(200, error_body(str(e)))
            return
        token = bearer_token(self.headers.get("Authorization", "")) or args.get("token")
        args.pop("token", None)
        status, body, headers = self.server.call_api(method, args, token)
        self._json(status, body, headers)

    def _response_url(self, hook: str) -> None:
        payload = parse_body(self._read(), self.headers.get("Content-Type", ""))
        if isinstance(payload, str):
            payload = {"text": payload}
        if not isinstance(payload, dict) or not self.server.post_response_url(hook, payload):
            self._reply(404, b"no_active_hooks", "text/plain")
            return
        self._json(200, {"ok": True})

    def _action_url(self, hook: str) -> None:
        payload = parse_body(self._read(), self.headers.get("Content-Type", ""))
        if isinstance(payload, str):
            payload = {"text": payload}
        refused = self.server.post_action_url(hook, payload) if isinstance(payload, dict) else "invalid_payload"
        if refused:
            self._reply(404, refused.encode(), "text/plain")
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
