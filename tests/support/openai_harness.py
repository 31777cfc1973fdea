"""The OpenAI backend against the OpenAI stand-in, with the real openai client over loopback."""
from __future__ import annotations

from openai import OpenAI

from finetune.backends.openai import build_openai_backend
from sandbox.openai_stub import OpenAIStub

CLIENT_RETRIES = 2  # set explicitly: nothing leans on the SDK's default
BASE = "gpt-4o-mini-2024-07-18"


class OpenAIHarness:
    base_model = BASE

    def __init__(self, clock) -> None:
        self.clock = clock
        self.stub = OpenAIStub(clock).start()
        self.client = OpenAI(api_key="sk-test-key", base_url=self.stub.base_url, max_retries=CLIENT_RETRIES)
        self.backend = build_openai_backend(self.client)

    def finish_runs(self) -> None:
        self.clock.advance(3600)

    def fail_next_run(self) -> None:
        self.stub.fail_next_job()

    def refuse_training(self) -> None:
        self.stub.refuse_fine_tuning()

    def fail_next_call(self, status: int, count: int = 1) -> None:
        self.stub.fail_next("jobs.retrieve", status, count=count, retry_after=0)

    def lose_next_submit_answer(self) -> None:
        self.stub.fail_next("jobs.create", 500, apply_first=True)

    def run_count(self) -> int:
        return len(self.stub.jobs())

    def staged_files(self) -> set[str]:
        return {file_id for file_id, obj in self.stub.files.items() if obj["purpose"] == "fine-tune"}

    def chat(self, model: str) -> str:
        answer = self.client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Review: a lamp"}])
        return answer.choices[0].message.content or ""

    def close(self) -> None:
        self.client.close()
        self.stub.stop()


def harness(tmp_path, clock) -> OpenAIHarness:
    return OpenAIHarness(clock)
