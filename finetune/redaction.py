"""Masks tokens and keys in text that may be shown to people, stored or written to logs.

Three kinds are masked: each configured secret wherever it appears (values under MIN_SECRET_LENGTH
characters only inside a URL, since masking a short word everywhere would garble ordinary text), any
URL's password (`scheme://user:PASSWORD@host`), and strings shaped like Slack or OpenAI tokens.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

SECRET_PATTERNS = re.compile(r"(?<![A-Za-z0-9])(xox[abposr]-[\w-]+|xapp-[\w-]+|sk-[\w-]{8,})")
URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)(?!\*\*\*@)[^@\s/]+@")  # "***" is already hidden
MASK = "[redacted]"
MIN_SECRET_LENGTH = 6


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = URL_PASSWORD.sub(rf"\1{MASK}@", text)
    return SECRET_PATTERNS.sub(MASK, text)


class Redactor:
    """`redact` with the secrets bound: what the stores and the Slack side are handed."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self.secrets = secrets

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets)
