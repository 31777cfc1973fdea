"""The in-memory backend as a contract-suite harness."""
from __future__ import annotations

from tests.support.fake_backend import FakeBackend


class FakeHarness:
    base_model = "fake-base"

    def __init__(self, clock) -> None:
        self.fake = FakeBackend(clock.now)
        self.backend = self.fake.backend

    def finish_runs(self) -> None:
        self.fake.finish_runs()

    def fail_next_run(self) -> None:
        self.fake.state.fail_next_run = True

    def refuse_training(self) -> None:
        self.fake.state.refusing = True

    def fail_next_call(self, status: int, count: int = 1) -> None:
        self.fake.state.failing_calls.extend([status] * count)

    def lose_next_submit_answer(self) -> None:
        self.fake.state.lose_next_answer = True

    def run_count(self) -> int:
        return len(self.fake.state.runs)

    def staged_files(self) -> set[str]:
        return set(self.fake.state.files)

    def chat(self, model: str) -> str:
        assert model in self.fake.state.deployed, f"{model} is not deployed"
        return f"an answer from {model}"

    def close(self) -> None:
        pass


def harness(tmp_path, clock) -> FakeHarness:
    return FakeHarness(clock)
