"""Fixtures the pipeline tests share: the OpenAI stand-in on loopback, on the test's clock."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.openai_stub import OpenAIStub


@pytest.fixture
def stub(clock) -> Iterator[OpenAIStub]:
    with OpenAIStub(clock).start() as running:
        yield running
