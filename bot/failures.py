"""Runtime failures as one clear line: what failed and what to check, with every secret masked.

`describe` turns the exceptions a start-up meets in practice (Slack refusing the token, a database
that cannot be reached, a port in use) into that line; the traceback is logged at DEBUG only.
"""
from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.config import SECRET_SETTINGS
from finetune.redaction import redact
from storage.db import DatabaseNotReady, safe_url

SLACK_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


def describe(exc: BaseException, env: Mapping[str, str]) -> str:
    secrets = [env[name] for name in SECRET_SETTINGS if env.get(name)]
    database = safe_url(env.get("DATABASE_URL") or "sqlite:///data/finetune-bot.db")
    if isinstance(exc, DatabaseNotReady):
        line = str(exc)
    elif isinstance(exc, SlackApiError):
        error = exc.response.get("error") if exc.response is not None else None
        if error in SLACK_AUTH_ERRORS:
            line = (f"Slack rejected SLACK_BOT_TOKEN ({error}): check the bot token under OAuth & Permissions, "
                    "and that the app is installed in the workspace")
        else:
            line = f"Slack answered {error!r}: check the app's scopes and settings (README, 'Setting up the Slack app')"
    elif isinstance(exc, SlackClientError) or (isinstance(exc, OSError) and "slack" in str(exc).lower()):
        line = f"could not reach Slack at {env.get('SLACK_API_URL') or 'https://slack.com/api/'}: {exc}"
    elif isinstance(exc, DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        line = f"cannot use the database {database}: {reason}; check DATABASE_URL and that the server is running"
    elif isinstance(exc, SQLAlchemyError):
        reason = str(exc).strip().splitlines()[0]
        line = f"cannot use the database {database}: {reason}; check DATABASE_URL"
    elif isinstance(exc, OSError) and exc.errno in (98, 48):  # address in use (Linux, macOS)
        line = f"cannot listen on PORT {env.get('PORT') or 3000}: {exc.strerror}; set PORT to a free port"
    else:
        line = f"{type(exc).__name__}: {exc}"
    line += " (LOG_LEVEL=DEBUG shows the traceback)"
    return redact(" ".join(line.split()), secrets + _database_password(env))


def _database_password(env: Mapping[str, str]) -> list[str]:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(env.get("DATABASE_URL") or "sqlite://").password
    except Exception:
        return []
    return [str(password)] if password else []
