"""The local backend against a real database, a real training worker and the vLLM stand-in (sandbox.vllm_stub)
on a tiny model, for the backend contract suite."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2 as httpx

from finetune.backend import Backend
from finetune.backends.local import build_local_backend
from finetune.local_training import LocalHyperparameters
from finetune.worker import Worker
from sandbox.clock import ManualClock
from sandbox.vllm_stub import VllmStub
from storage import local_runs
from storage.db import Database
from tests.support.db_faults import DatabaseFaults
from tests.support.tiny_model import tiny_model_dir

BASE_MODEL = "tiny-llama"  # vLLM's --served-model-name for the tiny model
# Small enough for a CPU in a second or two, large enough that the loss moves.
TINY_PARAMS = LocalHyperparameters(epochs=2, learning_rate=5e-3, lora_rank=4, lora_alpha=8, max_length=96, batch_size=4)


def broken_model_dir(where: Path) -> Path:
    """A directory that claims to be a model and is not: loading it fails as a corrupt download would."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "config.json").write_text('{"model_type": "llama", "hidden_size": "not a number"}')
    (where / "tokenizer_config.json").write_text("{}")
    return where


class LocalHarness:
    def __init__(self, tmp_path: Path, clock: ManualClock) -> None:
        self.clock = clock
        self.tmp_path = tmp_path
        self.model_dir = tiny_model_dir()
        self.db = Database(f"sqlite:///{tmp_path / 'local.db'}")
        self.db.migrate()
        self.faults = DatabaseFaults(self.db)
        self.stub = VllmStub(self.model_dir, served_model_name=BASE_MODEL).start()
        self.http = httpx.Client(timeout=30)
        self.adapters_dir = tmp_path / "adapters"
        self.backend: Backend = build_local_backend(self.db, clock, self.http, vllm_base_url=self.stub.base_url,
                                                    adapters_dir=self.adapters_dir, params=TINY_PARAMS)
        self.base_model = BASE_MODEL
        self.worker = self.worker_on(self.model_dir)
        self._fail_next_run = False

    def worker_on(self, model_dir: Path, name: str = "contract-worker") -> Worker:
        return Worker(self.db, self.clock, adapters_dir=self.adapters_dir, base_model_dir=model_dir, name=name,
                      defaults=TINY_PARAMS)

    def finish_runs(self) -> None:
        while True:
            worker = self.worker
            if self._fail_next_run:
                worker = self.worker_on(broken_model_dir(self.tmp_path / "broken-model"), name="broken-worker")
            ran = worker.run_once()
            if ran is None:
                return
            if worker is not self.worker:
                self._fail_next_run = False

    def fail_next_run(self) -> None:
        self._fail_next_run = True

    def refuse_training(self) -> None:
        self.stub.serve_base_as("another-model")  # vLLM now serves a base model the runs are not for

    def fail_next_call(self, status: int, count: int = 1) -> None:
        self.faults.fail_next_statements(count)

    def lose_next_submit_answer(self) -> None:
        self.faults.lose_next_run_commit()

    def run_count(self) -> int:
        with self.db.session() as session:
            return local_runs.count_runs(session)

    def staged_files(self) -> set[str]:
        """Files still holding training data (a spent one is emptied, its row kept for the runs naming it)."""
        from sqlalchemy import select

        from storage.models import LocalFile

        with self.db.session() as session:
            return {str(i) for i in session.scalars(select(LocalFile.id).where(LocalFile.content != ""))}

    def chat(self, model: str) -> str:
        answer: Any = self.http.post(f"{self.stub.base_url}/chat/completions",
                                     json={"model": model, "messages": [{"role": "user", "content": "Review this: a lamp"}]})
        answer.raise_for_status()
        return str(answer.json()["choices"][0]["message"]["content"])

    def close(self) -> None:
        self.http.close()
        self.stub.stop()
        self.faults.close()
        self.db.dispose()


def harness(tmp_path: Path, clock: ManualClock) -> LocalHarness:
    return LocalHarness(tmp_path, clock)
