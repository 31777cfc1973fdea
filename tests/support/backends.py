"""What the backend contract suite needs of each backend's test set-up: the backend, and its stand-in's levers.

Each backend has one harness (tests/support/<name>_harness.py): the real backend module pointed at its
stand-in in sandbox/ (or, for the fake, the in-memory backend), plus the failures the stand-in can
produce on demand. tests/finetune/test_backend_contract.py runs the same story against every harness.
"""
from __future__ import annotations

import json
from typing import Protocol

from finetune.backend import Backend

# Ten short conversations in our chat JSONL: enough for every backend's minimum.
SYSTEM = "You are a product reviewer."
EXAMPLES = [
    {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Review this product: gadget number {i}"},
        {"role": "assistant", "content": f"Gadget {i} is LOVELY! Sturdy, bright and simple. Buy it!"},
    ]}
    for i in range(10)
]
TRAINING_JSONL = "".join(json.dumps(example) + "\n" for example in EXAMPLES)


class Harness(Protocol):
    """One backend against its stand-in. Levers act on the stand-in, never on the backend module."""

    backend: Backend
    base_model: str

    def finish_runs(self) -> None:
        """Lets every run the stand-in holds reach its end (advance its clock, or let its worker train)."""
        ...

    def fail_next_run(self) -> None:
        """The next submitted run ends failed, with the backend's own error."""
        ...

    def refuse_training(self) -> None:
        """Every submit from now on answers a permanent refusal (the backend's 401/403 shape)."""
        ...

    def fail_next_call(self, status: int, count: int = 1) -> None:
        """The next `count` calls that reach the stand-in answer `status` (a passing error: 429, 500...)."""
        ...

    def lose_next_submit_answer(self) -> None:
        """The next submit really creates the run, and its answer is lost (a passing error instead)."""
        ...

    def run_count(self) -> int:
        """How many runs the stand-in holds: proves a lost answer made no duplicate."""
        ...

    def staged_files(self) -> set[str]:
        """The training files the stand-in holds now (the references stage() returned): proves delete_file."""
        ...

    def chat(self, model: str) -> str:
        """One chat completion with `model` at the stand-in's serving end: proves a deployed name answers."""
        ...

    def close(self) -> None:
        ...
