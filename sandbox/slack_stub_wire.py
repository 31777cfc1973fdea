"""Slack's Web API conventions the stand-in shares: how arguments arrive, how errors and pages answer.

Kept apart from the methods so each method reads as what Slack does, not how the bytes arrive:
the same call may come form-encoded (every value a string) or as JSON (ts as a number, blocks as a list).
"""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl


class ApiError(Exception):
    """A Slack Web API error code, answered as {"ok": false, "error": code}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra  # more of Slack's answer: response_metadata.messages, needed/provided scopes


def error_body(error: str, **extra: Any) -> dict:
    """Slack answers failures with HTTP 200 and this body (429 and friends aside)."""
    return {"ok": False, "error": error, **extra}


# ----------------------------------------------------------------------- request arguments


def request_args(query: str, raw: bytes, content_type: str) -> dict[str, Any]:
    """Query string plus body (form or JSON); ValueError(code) for a body Slack would refuse."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    args.update(_body_args(raw, content_type))
    return args


def _body_args(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("multipart/"):
        raise ValueError("invalid_form_data")  # files arrive at the upload URL (files.getUploadURLExternal), not here
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ValueError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise ValueError("invalid_json")
        return parsed
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


def bearer_token(authorization: str) -> str | None:
    """The token of an "Authorization: Bearer xoxb-..." header, if any."""
    if not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer "):].strip() or None


def arg(args: dict, key: str) -> str:
    """A string argument whether it came form-encoded or as JSON (where ts may arrive as a number)."""
    value = args.get(key)
    return "" if value is None else str(value)


def flag(value: Any) -> bool:
    """A boolean argument: JSON true, or "1"/"true"/"yes" in a form."""
    return value is True or str(value).lower() in ("1", "true", "yes")


def json_arg(value: Any) -> Any:
    """Form-encoded calls carry blocks/metadata as JSON strings; JSON calls carry them as objects."""
    if isinstance(value, str) and value.strip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError("invalid_arguments") from None
    return value


# ----------------------------------------------------------------------- timestamps


def ts_key(ts: Any) -> tuple[int, int]:
    """Compare "seconds.micros" exactly; floats blur microseconds at today's epoch."""
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds or 0), int((fraction + "000000")[:6])


def ts_micros(ts: Any) -> int:
    seconds, micros = ts_key(ts)
    return seconds * 1_000_000 + micros


# ----------------------------------------------------------------------- answers about messages


def without(message: dict, *keys: str) -> dict:
    return {k: v for k, v in message.items() if k not in keys}


def strip_metadata(messages: list[dict], args: dict) -> list[dict]:
    """Slack returns message metadata only when include_all_metadata is set."""
    if flag(args.get("include_all_metadata")):
        return messages
    return [without(m, "metadata") for m in messages]


def in_range(messages: list[dict], args: dict) -> list[dict]:
    """Apply oldest/latest/inclusive the way conversations.* do (exclusive unless inclusive)."""
    oldest, latest, inclusive = args.get("oldest"), args.get("latest"), flag(args.get("inclusive"))

    def keep(m: dict) -> bool:
        ts = ts_key(m["ts"])
        if oldest and (ts < ts_key(oldest) or (ts == ts_key(oldest) and not inclusive)):
            return False
        if latest and (ts > ts_key(latest) or (ts == ts_key(latest) and not inclusive)):
            return False
        return True

    return [m for m in messages if keep(m)]


def paginate(items: list[dict], args: dict, *, default_limit: int, newest_first: bool) -> tuple[list[dict], bool, str]:
    """Cursor pagination; the cursor is base64("next_ts:<ts>") like Slack's, so inserts don't shift pages."""
    try:
        limit = int(args.get("limit") or default_limit)
    except (TypeError, ValueError):
        raise ApiError("invalid_limit") from None
    limit = max(1, min(limit, 1000))
    cursor = args.get("cursor")
    if cursor:
        next_ts = decode_cursor(str(cursor))
        if newest_first:
            items = [m for m in items if ts_key(m["ts"]) <= next_ts]
        else:
            items = [m for m in items if ts_key(m["ts"]) >= next_ts]
    page, rest = items[:limit], items[limit:]
    next_cursor = base64.b64encode(f"next_ts:{rest[0]['ts']}".encode()).decode() if rest else ""
    return page, bool(rest), next_cursor


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        kind, _, ts = base64.b64decode(cursor.encode()).decode().partition(":")
        if kind != "next_ts":
            raise ValueError(kind)
        return ts_key(ts)
    except ValueError:
        raise ApiError("invalid_cursor") from None
