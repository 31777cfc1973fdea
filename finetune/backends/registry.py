"""Which backend trains: the configured one for new jobs, and the one recorded on each job for the rest.

A job keeps the backend it started on whatever FINETUNE_BACKEND says later, so the registry builds the
others on first use (through the factory the composition root gives it) and says clearly when it can't.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from finetune.backend import Backend, BackendRefused


class BackendNotConfigured(BackendRefused):
    """A job names a backend this process cannot build (its settings are missing)."""


class Backends:
    def __init__(self, default: str, build: Callable[[str], Backend]) -> None:
        self.default_name = default
        self._build = build
        self._built: dict[str, Backend] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, *backends: Backend) -> Backends:
        """Fixed backends, the first one the default: for tests and the sandbox."""
        known = {backend.name: backend for backend in backends}

        def build(name: str) -> Backend:
            if name not in known:
                raise BackendNotConfigured(f"the {name} backend is not set up in this process")
            return known[name]

        return cls(backends[0].name, build)

    @property
    def default(self) -> Backend:
        return self.get(self.default_name)

    def get(self, name: str) -> Backend:
        with self._lock:
            if name not in self._built:
                self._built[name] = self._build(name)
            return self._built[name]
