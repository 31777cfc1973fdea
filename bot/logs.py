"""One line per event, at INFO by default, with tokens and keys masked wherever they appear."""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from finetune.redaction import redact


class OneLineRedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return redact(line, self.secrets).replace("\r", "").replace("\n", " | ")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each line (a test's capture, a redirected process)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str = "INFO", secrets: Iterable[str] = (), stream=None) -> None:
    """One handler of ours on the root logger (a second call replaces it); others' handlers stay."""
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.setFormatter(OneLineRedactingFormatter(secrets))
    handler.set_name("finetune-bot")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "finetune-bot"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter (HTTP request lines, APScheduler's per-run notes) only at DEBUG.
    for noisy in ("httpx", "httpx2", "openai", "apscheduler", "urllib3", "slack_sdk.socket_mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
