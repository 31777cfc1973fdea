"""The Together AI backend against its stand-in (sandbox.together_stub), for the backend contract suite."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2 as httpx

from finetune.backend import Backend
from finetune.backends.together import build_together_backend
from sandbox.clock import ManualClock
from sandbox.together_stub import TogetherStub

API_KEY = "tg-contract-key-0123456789abcdef"
BASE_MODEL = "Qwen/Qwen3-8B"
A_WHILE = 3 * 3600  # seconds: longer than any job or endpoint phase of the stand-in


class TogetherHarness:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.stub = TogetherStub(clock, api_key=API_KEY).start()
        self.http = httpx.Client(timeout=10)
        self.backend: Backend = build_together_backend(self.http, api_key=API_KEY, base_url=self.stub.base_url,
                                                       namespace="contract-suite", base_model=BASE_MODEL)
        self.base_model = BASE_MODEL

    def finish_runs(self) -> None:
        self.clock.advance(A_WHILE)

    def fail_next_run(self) -> None:
        self.stub.fail_next_job()

    def refuse_training(self) -> None:
        self.stub.refuse_fine_tuning()

    def fail_next_call(self, status: int, count: int = 1) -> None:
        self.stub.fail_next(status, count)

    def lose_next_submit_answer(self) -> None:
        self.stub.lose_next_answer("fine-tunes.create", status=500)

    def run_count(self) -> int:
        return self.stub.job_count

    def staged_files(self) -> set[str]:
        return set(self.stub.file_ids)

    def chat(self, model: str) -> str:
        answer: Any = self.http.post(f"{self.stub.base_url}/chat/completions", headers={"Authorization": f"Bearer {API_KEY}"},
                                     json={"model": model, "messages": [{"role": "user", "content": "Review this: a lamp"}]})
        answer.raise_for_status()
        return str(answer.json()["choices"][0]["message"]["content"])

    def close(self) -> None:
        self.http.close()
        self.stub.stop()


def harness(tmp_path: Path, clock: ManualClock) -> TogetherHarness:
    return TogetherHarness(clock)
