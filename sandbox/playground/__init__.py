"""The offline sandbox's web playground: a Slack-like channel page over the SlackStub, live via SSE."""
from __future__ import annotations

from sandbox.playground.server import Playground

__all__ = ["Playground"]
