"""Masks tokens and keys in text that may be shown to people or written to logs."""
from __future__ import annotations

import re
from collections.abc import Iterable

SECRET_PATTERNS = re.compile(r"(xox[abposr]-[\w-]+|xapp-[\w-]+|sk-[\w-]{8,})")
MASK = "[redacted]"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, MASK)
    return SECRET_PATTERNS.sub(MASK, text)
