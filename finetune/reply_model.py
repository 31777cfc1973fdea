"""Which model answers now: the latest fine-tune, or the base model once that fine-tune is gone.

A fine-tuned model the provider stops serving (retired, deleted) is recorded once on its activation,
so later questions go straight to the base model instead of failing over on every reply.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from finetune.clock import Clock
from storage import queries
from storage.db import Database

log = logging.getLogger("finetune.reply_model")


class ReplyModel:
    def __init__(
        self, db: Database, clock: Clock, base_model: str, restore: Callable[[str], bool] | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.base_model = base_model
        self._restore = restore  # deploys a model again where the serving end forgot it (Pipeline.restore)

    def restore(self, model: str) -> bool:
        """True when `model` is served again (a restarted vLLM loses its adapters) and worth asking once more."""
        return model != self.base_model and self._restore is not None and self._restore(model)

    def current(self) -> str:
        with self.db.session() as session:
            return queries.active_model(session, self.base_model).model

    def unavailable(self, model: str) -> None:
        """The provider said `model` does not exist (any more): answer with the base model from now on."""
        if model == self.base_model:
            return
        with self.db.session() as session:
            first = queries.mark_model_unavailable(session, model, self.clock.now())
        if first:
            log.warning("reply model %s is no longer served; answering with the base model %s", model, self.base_model)
