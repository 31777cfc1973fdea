"""Settings from the environment and an optional .env file, checked once at start-up.

Every problem is collected and reported together, so a newcomer fixes their .env in one go.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from finetune.backend import METHOD_SETTING, Method
from finetune.cron import parse_cron
from finetune.data_redaction import parse_patterns
from finetune.prices import DEFAULT_PRICES, load_prices

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly and enthusiastic product reviewer who loves to highlight the best features of a product."
)
DEFAULT_DATABASE_URL = "sqlite:///data/finetune-bot.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SECRET_SETTINGS = frozenset({"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "OPENAI_API_KEY",
                             "CHAT_API_KEY", "TOGETHER_API_KEY"})
BACKENDS = ("openai", "local", "together")
DEFAULT_TOGETHER_BASE_URL = "https://api.together.ai/v1"
DEFAULT_VLLM_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_OPENAI_BASE_MODEL = "gpt-4.1-mini-2025-04-14"
LOCAL_WORKER_MODES = ("inside", "external")
METHODS = {word: method for method, word in METHOD_SETTING.items()}  # FINETUNE_METHOD's words
# Settings whose value is never echoed in a message, even when malformed: secrets, and URLs that may hold one.
NEVER_ECHOED = SECRET_SETTINGS | {"DATABASE_URL"}


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "The bot cannot start until these settings are fixed (environment or .env):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    port: int = 3000
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    backend: str = "openai"
    base_model: str = DEFAULT_OPENAI_BASE_MODEL
    # chat completions (the reply model), configured apart from training; None: the backend's own endpoint
    chat_base_url: str | None = None
    chat_api_key: str | None = field(default=None, repr=False)
    together_api_key: str | None = field(default=None, repr=False)
    together_base_url: str = DEFAULT_TOGETHER_BASE_URL
    local_base_model: str | None = None
    local_adapters_dir: str = "./data/adapters"
    local_worker: str = "inside"
    vllm_base_url: str = DEFAULT_VLLM_BASE_URL
    local_epochs: int = 3
    local_learning_rate: float = 2e-4
    local_lora_rank: int = 16
    local_lora_alpha: int = 32
    local_max_length: int = 1024
    schedule: str = "0 3 * * *"
    min_examples: int = 10
    poll_seconds: int = 60
    suffix: str | None = "finetune-bot"
    notify_channel: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    approve_reactions: tuple[str, ...] = ("+1", "white_check_mark", "star")
    reject_reactions: tuple[str, ...] = ("-1",)
    curator_user_ids: frozenset[str] = frozenset()  # empty: everyone's votes count
    approvals_required: int = 1
    method: Method = Method.SFT  # FINETUNE_METHOD: supervised (approved answers) or dpo (preference pairs)
    holdout_min: int = 50  # FINETUNE_HOLDOUT_MIN: from this many examples on a tenth is held out; 0: never
    redact_patterns: tuple[str, ...] = ()  # REDACT_PATTERNS: extra regular expressions scrubbed from training data
    finetune_admins: frozenset[str] = frozenset()  # who may run, cancel and export; empty: the workspace's admins and owners
    allow_self_approval: bool = False  # True: a person's approval of their own answer counts alone (a team of one)
    reply_process: bool = True  # `run` answers in a second process, so acks never wait behind answers
    # the validator's cost estimate: USD per 1M training tokens by model (FINETUNE_PRICES_FILE over the built-in table)
    prices: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    log_level: str = "INFO"

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    def secrets(self) -> list[str]:
        """Values that must never reach a log line, a message or a stored error: the tokens, keys, the signing
        secret and the database password."""
        return [s for s in (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.openai_api_key,
                            self.chat_api_key, self.together_api_key, _database_password(self.database_url)) if s]

    @property
    def chat_endpoint(self) -> tuple[str | None, str | None]:
        """(base URL, key) the reply model is asked at: CHAT_* when set, else where the backend serves models."""
        if self.backend == "local":
            default_url, default_key = self.vllm_base_url, None
        elif self.backend == "together":
            default_url, default_key = self.together_base_url, self.together_api_key
        else:
            default_url, default_key = self.openai_base_url, self.openai_api_key
        return self.chat_base_url or default_url, self.chat_api_key or default_key


def read_environment(env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> dict[str, str]:
    """The process environment wins over .env, so a deployment can override a checked-out file."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return {k: v.strip() for k, v in merged.items()}


SLACK_CREDENTIALS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")


def has_slack_credentials(env: Mapping[str, str]) -> bool:
    """Any Slack credential means 'run the real bot' (and report what else is missing); none means sandbox."""
    return any(env.get(name) for name in SLACK_CREDENTIALS)


class _Reader:
    """Reads one setting at a time, noting every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name, "")
        return value if value else default

    def parsed(self, name: str, default: Any, parse: Callable[[str], Any], expected: str) -> Any:
        raw = self.env.get(name, "")
        if not raw:
            return default
        try:
            return parse(raw)
        except (ValueError, TypeError, ArgumentError) as exc:
            detail = f" ({exc})" if str(exc) and not isinstance(exc, ArgumentError) else ""
            shown = name if name in NEVER_ECHOED else f"{name}={_without_password(raw)!r}"
            self.problems.append(f"{shown} is not {expected}{detail}")
            return default

    def require(self, name: str, why: str) -> None:
        if not self.env.get(name):
            self.problems.append(f"{name} is not set: {why}")


def _database_password(url: str) -> str | None:
    try:
        password = make_url(url).password
    except ArgumentError:
        return None
    return str(password) if password else None


def _without_password(raw: str) -> str:
    """URLs may carry a password (postgresql://user:pass@host/db): never echo it."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", raw)


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"use one of: {', '.join(choices)}")
        return value

    return parse


def _float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def _http_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must start with http:// or https://")
    return raw


def _prefixed(prefix: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw.startswith(prefix):
            raise ValueError(f"it should start with {prefix}")
        return raw

    return parse


def _database_url(raw: str) -> str:
    hint = "use sqlite:///path or postgresql://user:pass@host/db"
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ValueError(hint) from exc
    if url.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(hint)
    if url.get_backend_name() == "sqlite" and url.host:
        raise ValueError("a SQLite URL takes three slashes before a relative path (sqlite:///data/bot.db) "
                         "and four before an absolute one (sqlite:////var/lib/bot.db)")
    return raw


def _cron(raw: str) -> str:
    parse_cron(raw)
    return raw


def _suffix(raw: str) -> str:
    if len(raw) > 64 or not re.fullmatch(r"[A-Za-z0-9._-]+", raw):
        raise ValueError("use up to 64 letters, digits, '.', '_' or '-'")
    return raw


def reaction_names(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().strip(":") for n in raw.split(",") if n.strip().strip(":")))
    bad = [n for n in names if not re.fullmatch(r"[a-z0-9_+'\-]+", n)]
    if not names or bad:
        raise ValueError("give emoji names separated by commas, e.g. +1,white_check_mark,star")
    return names


def _user_ids(raw: str) -> frozenset[str]:
    ids = frozenset(part.strip() for part in raw.replace(" ", ",").split(",") if part.strip())
    bad = sorted(i for i in ids if not re.fullmatch(r"[UW][A-Z0-9]{2,}", i))
    if bad:
        raise ValueError(f"{', '.join(bad)} not a Slack user id (U… or W…, from the person's profile → Copy member ID)")
    return ids


def _method(raw: str) -> Method:
    return METHODS[_one_of(tuple(METHODS))(raw)]


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("use true or false")
    return value in ("true", "1", "yes")


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("use DEBUG, INFO, WARNING or ERROR")
    return level


def load_settings(env: Mapping[str, str], *, require_credentials: bool = True) -> Settings:
    """Builds Settings or raises ConfigError naming every missing or malformed setting."""
    r = _Reader(env)
    defaults = Settings()
    if require_credentials:
        r.require("SLACK_BOT_TOKEN", "the bot token (xoxb-...) from OAuth & Permissions")
        if not env.get("SLACK_APP_TOKEN") and not env.get("SLACK_SIGNING_SECRET"):
            r.problems.append(
                "SLACK_APP_TOKEN (xapp-..., for Socket Mode) or SLACK_SIGNING_SECRET (for HTTP mode) must be set"
            )
    backend = r.parsed("FINETUNE_BACKEND", defaults.backend, _one_of(BACKENDS), "a fine-tuning backend")
    if require_credentials:
        if backend == "openai":
            r.require("OPENAI_API_KEY", "the key the bot uses for chat completions and fine-tuning")
        elif backend == "together":
            r.require("TOGETHER_API_KEY", "the Together AI key the bot uses for fine-tuning and chat completions")
    if backend == "local":
        r.require("LOCAL_BASE_MODEL", "the directory of the base model the local backend trains (FINETUNE_BACKEND=local)")
    local_base_model = r.text("LOCAL_BASE_MODEL")
    # vLLM serves the base model under its path unless started with --served-model-name
    default_base = local_base_model if backend == "local" and local_base_model else defaults.base_model
    settings = Settings(
        slack_bot_token=r.parsed("SLACK_BOT_TOKEN", None, _prefixed("xoxb-"), "a bot token"),
        slack_signing_secret=r.text("SLACK_SIGNING_SECRET"),
        slack_app_token=r.parsed("SLACK_APP_TOKEN", None, _prefixed("xapp-"), "an app-level token"),
        slack_api_url=r.parsed("SLACK_API_URL", defaults.slack_api_url, _http_url, "a URL"),
        port=r.parsed("PORT", defaults.port, _int_between(1, 65535), "a port number"),
        openai_api_key=r.text("OPENAI_API_KEY"),
        openai_base_url=r.parsed("OPENAI_BASE_URL", None, _http_url, "a URL"),
        database_url=r.parsed("DATABASE_URL", defaults.database_url, _database_url, "a database URL"),
        backend=backend,
        base_model=r.text("FINETUNE_BASE_MODEL", default_base) or default_base,
        chat_base_url=r.parsed("CHAT_BASE_URL", None, _http_url, "a URL"),
        chat_api_key=r.text("CHAT_API_KEY"),
        together_api_key=r.text("TOGETHER_API_KEY"),
        together_base_url=r.parsed("TOGETHER_BASE_URL", defaults.together_base_url, _http_url, "a URL"),
        local_base_model=local_base_model,
        local_adapters_dir=r.text("LOCAL_ADAPTERS_DIR", defaults.local_adapters_dir) or defaults.local_adapters_dir,
        local_worker=r.parsed("LOCAL_WORKER", defaults.local_worker, _one_of(LOCAL_WORKER_MODES), "a worker mode"),
        vllm_base_url=r.parsed("VLLM_BASE_URL", defaults.vllm_base_url, _http_url, "a URL"),
        local_epochs=r.parsed("LOCAL_EPOCHS", defaults.local_epochs, _int_between(1, 100), "a whole number"),
        local_learning_rate=r.parsed("LOCAL_LEARNING_RATE", defaults.local_learning_rate, _float_between(1e-8, 1.0),
                                     "a learning rate"),
        local_lora_rank=r.parsed("LOCAL_LORA_RANK", defaults.local_lora_rank, _int_between(1, 1024), "a whole number"),
        local_lora_alpha=r.parsed("LOCAL_LORA_ALPHA", defaults.local_lora_alpha, _int_between(1, 4096), "a whole number"),
        local_max_length=r.parsed("LOCAL_MAX_LENGTH", defaults.local_max_length, _int_between(16, 1_048_576),
                                  "a number of tokens"),
        schedule=r.parsed("FINETUNE_SCHEDULE", defaults.schedule, _cron, "a cron expression"),
        min_examples=r.parsed("FINETUNE_MIN_EXAMPLES", defaults.min_examples, _int_between(1, 100_000), "a whole number"),
        poll_seconds=r.parsed("FINETUNE_POLL_SECONDS", defaults.poll_seconds, _int_between(1, 86_400), "a number of seconds"),
        suffix=r.parsed("FINETUNE_SUFFIX", defaults.suffix, _suffix, "a model suffix"),
        notify_channel=r.text("FINETUNE_NOTIFY_CHANNEL"),
        system_prompt=r.text("BOT_SYSTEM_PROMPT", defaults.system_prompt),
        approve_reactions=r.parsed("APPROVE_REACTIONS", defaults.approve_reactions, reaction_names, "a list of emoji names"),
        reject_reactions=r.parsed("REJECT_REACTIONS", defaults.reject_reactions, reaction_names, "a list of emoji names"),
        curator_user_ids=r.parsed("CURATOR_USER_IDS", defaults.curator_user_ids, _user_ids, "a list of Slack user ids"),
        approvals_required=r.parsed("APPROVALS_REQUIRED", defaults.approvals_required, _int_between(1, 100),
                                    "a whole number"),
        method=r.parsed("FINETUNE_METHOD", defaults.method, _method, "a fine-tuning method"),
        holdout_min=r.parsed("FINETUNE_HOLDOUT_MIN", defaults.holdout_min, _int_between(0, 10_000_000),
                             "a number of examples (0 never holds any out)"),
        redact_patterns=r.parsed("REDACT_PATTERNS", defaults.redact_patterns, parse_patterns,
                                 "a list of regular expressions separated by ||"),
        finetune_admins=r.parsed("FINETUNE_ADMINS", defaults.finetune_admins, _user_ids, "a list of Slack user ids"),
        allow_self_approval=r.parsed("ALLOW_SELF_APPROVAL", defaults.allow_self_approval, _boolean, "true or false"),
        reply_process=r.parsed("REPLY_PROCESS", defaults.reply_process, _boolean, "true or false"),
        prices=r.parsed("FINETUNE_PRICES_FILE", defaults.prices, load_prices, "a price table"),
        log_level=r.parsed("LOG_LEVEL", defaults.log_level, _log_level, "a log level"),
    )
    if overlap := set(settings.approve_reactions) & set(settings.reject_reactions):
        r.problems.append(f"APPROVE_REACTIONS and REJECT_REACTIONS share {', '.join(sorted(overlap))}: an emoji is one or the other")
    if r.problems:
        raise ConfigError(r.problems)
    return settings
