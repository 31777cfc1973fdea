"""What gets in: every HTTP request is checked here before Bolt sees it, and every payload is cleaned.

The gate answers what Slack itself never sends: a forged or stale signature (401), a timestamp that is
not a number (401), a body that is not UTF-8, JSON or a form (400), a payload nested deeper than Slack's
ever are (400). Each refusal is one log line (path, length, reason), never the body. Bodies over
MAX_BODY_BYTES are refused by the server before they are read (bot.app).

`clean_payload` then runs on every payload Bolt parsed, over HTTP or Socket Mode: NUL bytes (which
PostgreSQL text cannot hold) are dropped and lone surrogates (which UTF-8 cannot encode) replaced, so
odd bytes never reach the database, the model or a training file. `is_slack_ts` is how listeners check
the timestamps they are handed.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

log = logging.getLogger("bot.inbound")

MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few KB (an event with big blocks, 10-40 KB at most)
MAX_DEPTH = 64  # Slack's deepest payloads (rich text lists inside a message inside a view) nest about 15 levels
SIGNATURE_WINDOW_SECONDS = 5 * 60  # Slack's rule: a request older (or newer) than this is a replay
SLACK_TS = re.compile(r"\d{1,10}\.\d{6}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def is_slack_ts(value: object) -> bool:
    """A Slack message or event timestamp: seconds, a dot and six digits ("1712345678.123456")."""
    return isinstance(value, str) and SLACK_TS.fullmatch(value) is not None


def shown(value: object) -> str:
    """A value from a request, fit for a log line: short, one line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def bad_timestamps(**values: object) -> str | None:
    """None when every value given is a Slack timestamp or absent (None); else which is not, for the log line."""
    bad = [f"{name}={shown(value)}" for name, value in values.items() if value is not None and not is_slack_ts(value)]
    return ", ".join(bad) or None


def clean_text(text: str) -> str:
    """Drops NUL bytes and replaces lone surrogates with U+FFFD: what can be stored, sent and trained on."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


class TooDeep(ValueError):
    """A payload nested deeper than MAX_DEPTH."""


def clean_payload(payload: Any, max_depth: int = MAX_DEPTH) -> Any:
    """Cleans every string (keys too) of a parsed payload in place, iteratively (no recursion, so no
    RecursionError): cost bounded by the payload's size; raises TooDeep past `max_depth`."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise TooDeep(f"nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            for key in list(node):
                value = node[key]
                if isinstance(key, str) and (cleaned_key := clean_text(key)) != key:
                    del node[key]
                    key = cleaned_key
                if isinstance(value, str):
                    node[key] = clean_text(value)
                else:
                    node[key] = value
                    if isinstance(value, (dict, list)):
                        stack.append((value, depth + 1))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str):
                    node[index] = clean_text(value)
                elif isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))
    return payload


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


def check_request(
    raw: bytes, content_type: str, timestamp: str | None, signature: str | None, signing_secret: str,
    now: Callable[[], float] = time.time,
) -> Refusal | None:
    """None when the request may go on to Bolt; else what to answer and why (plain words, for the log)."""
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return Refusal(401, "X-Slack-Request-Timestamp is missing or not a number")
    if abs(now() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return Refusal(401, "stale timestamp (more than 5 minutes from now)")
    expected = "v0=" + hmac.new(signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return Refusal(401, "invalid signature")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "signed body is not UTF-8")
    try:
        parse_body(text, content_type)
    except TooDeep as exc:
        return Refusal(400, f"signed body {exc}")
    except RecursionError:  # the JSON parser's own limit (about 1,000 levels), reached before ours could be
        return Refusal(400, f"signed body nested deeper than {MAX_DEPTH} levels")
    except ValueError:
        return Refusal(400, "signed body is not valid JSON or form data")
    return None


def parse_body(text: str, content_type: str) -> dict[str, Any]:
    """Parses as Bolt will (JSON, or a form whose `payload` field is JSON) and checks the depth; raises
    ValueError (or RecursionError from the JSON parser, which stops at its own depth limit) when it cannot."""
    if not text:
        return {}
    if content_type == "application/json" or text.startswith("{"):
        return _object(json.loads(text))
    form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    if "payload" in text:
        return _object(json.loads(form.get("payload", "{}")))
    return form


def _object(parsed: Any) -> dict[str, Any]:
    if not isinstance(parsed, dict):
        raise ValueError("a JSON payload must be an object")
    return clean_payload(parsed)
