"""The local backend's training worker as a process or a thread: `finetune-bot worker`, or one inside `run`.

The worker itself (finetune.worker) is plain Python over the database; this module only builds it from
the settings and runs it until told to stop. torch is imported only here, and only when a worker runs.
"""
from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.services import local_hyperparameters
from finetune.clock import Clock
from storage.db import Database

log = logging.getLogger("bot.training_worker")

IDLE_SECONDS = 5.0  # how often an idle worker looks for a queued run


def build_worker(settings: Settings, db: Database, clock: Clock) -> Any:
    from finetune.local_training import LocalHyperparameters
    from finetune.worker import Worker

    assert settings.local_base_model is not None, "checked at start-up"
    return Worker(
        db, clock, adapters_dir=Path(settings.local_adapters_dir), base_model_dir=Path(settings.local_base_model),
        name=f"{socket.gethostname()}-{threading.get_native_id()}",
        defaults=local_hyperparameters(settings, LocalHyperparameters),
    )


class WorkerThread:
    """One worker inside the bot process (LOCAL_WORKER=inside, the default with FINETUNE_BACKEND=local)."""

    def __init__(self, worker: Any) -> None:
        self._worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="training-worker", daemon=True)

    def _run(self) -> None:
        try:
            self._worker.run_forever(self._stop, IDLE_SECONDS)
        except Exception:  # a bug in training must not take the bot down with it
            log.exception("the training worker stopped")

    def start(self) -> None:
        self._thread.start()
        log.info("training worker started inside the bot")

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
