"""Redaction of training data: what people wrote in Slack is scrubbed before it enters a training file.

finetune.redaction masks our own keys in logs; this module is for the conversations a job uploads. Each
kind of personal or secret data becomes a placeholder naming what was there, so the model still learns
"an email address goes here" and never the address itself:

- Slack mentions: `<@U…>` / `<@W…>` -> [USER], `<#C…|name>` -> [CHANNEL], `<!subteam^S…|@team>` -> [GROUP],
  `<!here>`, `<!channel>`, `<!everyone>` -> [MENTION]; `<mailto:…>` -> [EMAIL], `<tel:…>` -> [PHONE]
- URLs carrying credentials (`https://user:pass@host`) or a token-like query parameter (token, key,
  secret, password, signature, auth, code, session…) -> [URL]
- API-key-like strings: OpenAI (`sk-…`), Slack (`xox?-…`, `xapp-…`), AWS access key ids (`AKIA…`, `ASIA…`)
  and `aws_secret_access_key=…`, GitHub (`ghp_…`, `github_pat_…`), Google (`AIza…`), `Bearer <token>`
  -> [SECRET]
- email addresses -> [EMAIL]; payment card numbers (13 to 19 digits, Luhn-checked) -> [CARD]; phone
  numbers (international `+…`, North American `(555) 123-4567`, grouped national `020 7946 0958`) -> [PHONE]
- REDACT_PATTERNS: extra regular expressions, each match -> [REDACTED]

Ordinary text stays as it is: prices, dates, times, versions, model numbers (WH-1000XM5), order counts.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

PATTERN_SEPARATOR = "||"  # between REDACT_PATTERNS entries: a single | is alternation inside one pattern
EXTRA = "[REDACTED]"

_SLACK = [
    (re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>"), "[USER]"),
    (re.compile(r"<#C[A-Z0-9]+(?:\|[^>]*)?>"), "[CHANNEL]"),
    (re.compile(r"<!subteam\^[A-Z0-9]+(?:\|[^>]*)?>"), "[GROUP]"),
    (re.compile(r"<!(?:here|channel|everyone)(?:\|[^>]*)?>"), "[MENTION]"),
    (re.compile(r"<mailto:[^>]*>"), "[EMAIL]"),
    (re.compile(r"<tel:[^>]*>"), "[PHONE]"),
]
_TOKEN_PARAMS = (r"(?:access_?token|refresh_?token|id_?token|token|api_?key|apikey|key|secret|client_secret|password|"
                 r"passwd|pwd|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|auth|authorization|"
                 r"code|session|sessionid|sid|jwt)")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>|\"']+", re.IGNORECASE)
_URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#@\s]+@", re.IGNORECASE)
_URL_TOKEN = re.compile(rf"[?&#;]{_TOKEN_PARAMS}=[^&#\s]+", re.IGNORECASE)
# the edges of a number: no letter or digit next to it, and no decimal point, comma, dash or slash leading
# on to more digits (prices, dates, versions, model numbers are numbers joined that way)
_START = r"(?<![\w+])(?<!\d[.,/-])"
_END = r"(?!\w|[.,/-]\d)"
_SECRETS = re.compile(
    r"\bsk-(?=[A-Za-z0-9_-]*\d)(?:[a-z]+-)?[A-Za-z0-9_-]{16,}"  # OpenAI, Anthropic and similar secret keys
    r"|\bxox[abposre]-[A-Za-z0-9-]{8,}"  # Slack bot, user and app-configuration tokens
    r"|\bxapp-[A-Za-z0-9-]{8,}"  # Slack app-level tokens
    r"|\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}\b"  # AWS access key ids
    r"|(?i:\baws_secret_access_key)\s*[=:]\s*[A-Za-z0-9/+=]{20,}"
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"  # GitHub tokens
    r"|\bAIza[A-Za-z0-9_-]{35}"  # Google API keys
    r"|\b[Bb]earer\s+(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{16,}=*"  # an Authorization header's token
)
# what each rule needs in a text before it is worth running (a rule costs a scan of the whole text; these
# are a fraction of that): a secret's literal start, a run of 7 or more digits and separators
_SECRET_MARKERS = ("sk-", "xox", "xapp-", "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA",
                   "AROA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AIza", "Bearer", "bearer")
_NUMBERISH = re.compile(r"\d[\d ().-]{5,}\d")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(_START + r"\d(?:[ -]?\d){12,18}" + _END)
_PHONE = re.compile(
    r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}" + _END  # +44 20 7946 0958
    + r"|(?<![\w(])\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}" + _END  # (555) 123-4567
    + "|" + _START + r"\d{3}(?P<sep>[ .-])\d{3}(?P=sep)\d{4}" + _END  # 555-123-4567, 555.123.4567, 555 123 4567
    + "|" + _START + r"0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}" + _END  # 020 7946 0958, 030-1234-5678
)


def luhn_valid(digits: str) -> bool:
    """The checksum every payment card number carries, so order numbers and the like are left alone."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[PHONE]" if 7 <= len(digits) <= 15 else match.group()


def _url(match: re.Match[str]) -> str:
    url = match.group()
    return "[URL]" if _URL_USERINFO.match(url) or _URL_TOKEN.search(url) else url


def parse_patterns(raw: str) -> tuple[str, ...]:
    """REDACT_PATTERNS: regular expressions separated by `||`; ValueError names the one that is wrong."""
    patterns = tuple(part.strip() for part in raw.split(PATTERN_SEPARATOR) if part.strip())
    for number, pattern in enumerate(patterns, 1):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {number} ({pattern!r}) is not a regular expression: {exc}") from None
        if compiled.fullmatch(""):
            raise ValueError(f"pattern {number} ({pattern!r}) matches empty text: it would redact everywhere")
    return patterns


class Redactor:
    """Applies every built-in rule, then the extra patterns (REDACT_PATTERNS), to one text at a time.

    A rule runs only on text that has what it looks for (a `<`, `://`, `@`, a digit), and recent texts are
    remembered: a dataset repeats its system prompt in every example."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = tuple(extra)
        self._extra = [re.compile(pattern) for pattern in self.extra]
        self._cached = functools.lru_cache(maxsize=4096)(self._redact)

    def __repr__(self) -> str:
        return f"Redactor(extra={self.extra!r})"

    def __call__(self, text: str) -> str:
        return self._cached(text)

    def _redact(self, text: str) -> str:
        if "<" in text:
            for pattern, placeholder in _SLACK:
                text = pattern.sub(placeholder, text)
        if "://" in text:
            text = _URL.sub(_url, text)
        if any(marker in text for marker in _SECRET_MARKERS) or "aws_secret_access_key" in text.lower():
            text = _SECRETS.sub("[SECRET]", text)
        if "@" in text:
            text = _EMAIL.sub("[EMAIL]", text)
        if _NUMBERISH.search(text):
            text = _PHONE.sub(_phone, _CARD.sub(_card, text))
        for extra in self._extra:
            text = extra.sub(EXTRA, text)
        return text

    def messages(self, messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages with every text content redacted; roles, weights and other keys as they were."""
        return [{**m, "content": self(m["content"])} if isinstance(m.get("content"), str) else dict(m) for m in messages]


NO_EXTRA = Redactor()
