"""Keeps the sandbox's stand-ins across restarts, beside the bot's own SQLite file.

The bot's database survives a restart, but the OpenAI and Slack stand-ins live in memory: without this
the bot would wake up answering with a fine-tuned model the fresh OpenAI stand-in has never heard of,
under an empty channel. StatePersister loads a JSON snapshot of both stand-ins before the bot starts and
writes it back (atomically, at most once per interval) whenever either changes, and once more on stop.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.stack import LocalStack

log = logging.getLogger("sandbox.persistence")

STATE_VERSION = 1
CORRUPT_SUFFIX = ".corrupt"
# What a malformed (but parseable) snapshot makes restore() raise.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


class StatePersister:
    """Saves both stand-ins of one LocalStack to `path`, and restores them from it on start.

    Opt-in: a LocalStack without a persister keeps everything in memory, as tests expect. Call start()
    before the stack starts so the bot never sees the empty stand-ins, and stop() after the stack stops
    so the last thing the bot did is in the file.
    """

    def __init__(self, path: Path, stack: LocalStack, *, interval: float = 1.0) -> None:
        self.path = Path(path)
        self.stack = stack
        self.interval = interval
        self._save_lock = threading.Lock()
        self._slack_changed = threading.Event()
        self._stopping = threading.Event()
        self._failing = False
        self._saved_openai_revision: int | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StatePersister:
        """Load the file (if any) into both stand-ins, then save changes in a background thread."""
        if self._thread is not None:
            return self
        self.load()
        self._slack_changed.clear()
        self._saved_openai_revision = self.stack.openai.revision
        self._unsubscribe = self.stack.slack.subscribe(lambda _record: self._slack_changed.set())
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-state-saver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the saver and write the final state. Idempotent."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=10)
        self._thread = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._save_logged()

    def __enter__(self) -> StatePersister:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ loading

    def load(self) -> bool:
        """Restore both stand-ins from the file; False when there is none or it was unusable (set aside)."""
        if not self.path.exists():
            return False
        openai, slack = self.stack.openai, self.stack.slack
        empty = openai.snapshot(), slack.snapshot()
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
                raise ValueError(f"not a version {STATE_VERSION} sandbox state file")
            openai.restore(state["openai"])
            slack.restore(state["slack"])
        except (OSError, UnicodeDecodeError, *_MALFORMED) as exc:
            openai.restore(empty[0])  # a half-applied file must not leave one stand-in restored
            slack.restore(empty[1])
            self._set_aside(exc)
            return False
        log.info("restored the sandbox stand-ins from %s (%d fine-tuning job(s), %d message(s))", self.path,
                 len(state["openai"]["jobs"]), _message_count(state["slack"]))
        return True

    def _set_aside(self, problem: Exception) -> None:
        """One clear warning, and the unusable file moved out of the way so the sandbox starts empty."""
        aside = self.path.with_name(self.path.name + CORRUPT_SUFFIX)
        try:
            os.replace(self.path, aside)
            where = f"moved it to {aside}"
        except OSError as exc:
            where = f"could not move it aside ({exc.strerror or exc}); it will be overwritten"
        log.warning("the sandbox state file %s could not be read (%s: %s); %s and starting the stand-ins empty",
                    self.path, type(problem).__name__, problem, where)

    # ------------------------------------------------------------------ saving

    def save(self) -> None:
        """Write both stand-ins' state atomically: a temp file in the same folder, then os.replace."""
        with self._save_lock:
            self._slack_changed.clear()  # before the snapshot: a change during it triggers another save
            revision = self.stack.openai.revision
            state = self.snapshot()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(state, out, separators=(",", ":"))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            self._saved_openai_revision = revision

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "saved_at": datetime.now(UTC).isoformat(),
            "openai": self.stack.openai.snapshot(),
            "slack": self.stack.slack.snapshot(),
        }

    def changed(self) -> bool:
        """Whether either stand-in changed since the last save (or load)."""
        return self._slack_changed.is_set() or self.stack.openai.revision != self._saved_openai_revision

    def _run(self) -> None:
        """At most one write per interval, and only when something changed."""
        while not self._stopping.wait(self.interval):
            if self.changed():
                self._save_logged()

    def _save_logged(self) -> None:
        """A full disk must not take the sandbox down: warn once, and keep retrying each interval."""
        try:
            self.save()
        except (OSError, TypeError, ValueError) as exc:
            self._slack_changed.set()  # still unsaved
            if not self._failing:
                log.warning("could not save the sandbox state to %s (%s); retrying every %gs", self.path, exc,
                            self.interval)
            self._failing = True
            return
        if self._failing:
            log.info("saving the sandbox state to %s works again", self.path)
        self._failing = False


def _message_count(slack_state: dict[str, Any]) -> int:
    return sum(len(items) for items in slack_state["workspace"]["messages"].values())
