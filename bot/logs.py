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


def configure_logging(level: str = "INFO", secrets: Iterable[str] = (), stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLineRedactingFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter (HTTP request lines, APScheduler's per-run notes) only at DEBUG.
    for noisy in ("httpx", "httpx2", "openai", "apscheduler", "urllib3", "slack_sdk.socket_mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
