"""Signed HTTP delivery of Events API bodies and slash commands, byte-for-byte like Slack sends them.

Kept separate from the stub so tests can also hand-craft requests (bad signatures, stale
timestamps, retries) against a Bolt app without a workspace behind them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from finetune.clock import Clock

Response = tuple[int, Any]


class EventsDriver:
    """POSTs to an app's request URL the way Slack does: signed, with Slack's retry headers."""

    def __init__(
        self, request_url: str, signing_secret: str, clock: Clock | None = None, *, timeout: float = 3.0
    ) -> None:
        self.request_url = request_url
        self.signing_secret = signing_secret
        # Bolt compares X-Slack-Request-Timestamp with real time, so only use a clock when told to.
        self.clock = clock
        self.timeout = timeout

    def sign(self, body: bytes, timestamp: int) -> str:
        """Slack v0 signature: "v0=" + hex HMAC-SHA256 of "v0:{timestamp}:{body}"."""
        base = b"v0:" + str(timestamp).encode() + b":" + body
        return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()

    def now(self) -> int:
        return int(self.clock.now().timestamp()) if self.clock is not None else int(time.time())

    def post_event(
        self,
        body: dict,
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        """POST an Events API body as JSON. Raises TimeoutError if the app does not answer in time."""
        raw = json.dumps(body).encode("utf-8")
        return self.post_raw(raw, "application/json", retry_num, retry_reason, signature, timestamp)

    def post_command(
        self,
        form: dict,
        *,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        """POST a slash command form-encoded. Raises TimeoutError if the app does not answer in time."""
        raw = urllib.parse.urlencode(form).encode("utf-8")
        return self.post_raw(raw, "application/x-www-form-urlencoded", None, None, signature, timestamp)

    def post_interaction(
        self,
        payload: dict,
        *,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        """POST an interaction (button click, shortcut, modal submission): form-encoded, one `payload` field of JSON."""
        raw = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode("utf-8")
        return self.post_raw(raw, "application/x-www-form-urlencoded", None, None, signature, timestamp)

    def post_raw(
        self,
        raw: bytes,
        content_type: str,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        """Send already-encoded bytes with Slack's headers; returns (status, parsed body)."""
        ts = self.now() if timestamp is None else timestamp
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature if signature is not None else self.sign(raw, ts),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        request = urllib.request.Request(self.request_url, data=raw, headers=headers, method="POST")
        return _send(request, self.timeout)


def _send(request: urllib.request.Request, timeout: float) -> Response:
    """Map urllib's ways of failing onto (status, body) or TimeoutError/ConnectionError."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, parse_body(resp.read(), resp.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as e:
        return e.code, parse_body(e.read(), e.headers.get("Content-Type", ""))
    except urllib.error.URLError as e:
        if isinstance(e.reason, (TimeoutError, socket.timeout)):
            raise TimeoutError(str(e.reason)) from e
        raise ConnectionError(str(e.reason)) from e
    except TimeoutError as e:
        raise TimeoutError(str(e)) from e


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON bodies become dicts, anything else stays text; empty stays None (an empty ack)."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
