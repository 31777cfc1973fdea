"""One line per event, at INFO by default, with every configured secret masked wherever it appears.

Three guarantees, whoever logs (our code, Bolt, slack_sdk, waitress, the openai SDK):
- `RedactingFilter` on our handler masks the configured secrets (and token-shaped strings) in each record;
- the formatter writes one line per record, with a traceback only at LOG_LEVEL=DEBUG (else the error's
  type and message);
- `quiet_bolt_logger`: Bolt logs a request whose signature fails with its headers and whole body; that
  record is replaced by one line without them (Bolt copies its base logger's filters onto its own loggers).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from finetune.redaction import redact


class RedactingFilter(logging.Filter):
    """Masks secrets in the record's message (arguments merged in) and in its exception text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("finetune-bot-redaction")
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it itself; nothing to mask here
            return True
        masked = redact(message, self.secrets)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


class OneLineFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = (), *, tracebacks: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = [s for s in secrets if s]
        self.tracebacks = tracebacks

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        if self.tracebacks:
            return super().formatException(ei)
        return f"({ei[0].__name__}: {ei[1]})" if ei and ei[0] is not None else ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None  # formatted per handler: the traceback only where this formatter allows it
        line = super().format(record)
        record.exc_text = None
        return redact(line, self.secrets).replace("\r", "").replace("\n", " | ")


class _BoltSignatureLine(logging.Filter):
    """Bolt's failed-signature record carries the request's signature, timestamp and body: keep one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Invalid request signature detected"):
            record.msg, record.args = "refused a request: invalid signature (Bolt's check)", None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_bolt_logger(logger: logging.Logger) -> logging.Logger:
    """The base logger handed to Bolt's App, with the filter Bolt copies to every logger it makes."""
    if not any(isinstance(f, _BoltSignatureLine) for f in logger.filters):
        logger.addFilter(_BoltSignatureLine())
    return logger


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
    secrets = [s for s in secrets if s]
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.setFormatter(OneLineFormatter(secrets, tracebacks=level == "DEBUG"))
    handler.addFilter(RedactingFilter(secrets))
    handler.set_name("finetune-bot")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "finetune-bot"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter (HTTP request lines, APScheduler's per-run notes) only at DEBUG.
    for noisy in ("httpx", "httpx2", "openai", "apscheduler", "urllib3", "slack_sdk.socket_mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
