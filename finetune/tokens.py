"""Token counts with the model's own encoding, offline: nothing is downloaded, at run time or in tests.

OpenAI models: o200k_base (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, the o-series) or cl100k_base (gpt-4, gpt-3.5-turbo),
from the PyPI package bpe-openai, whose wheels ship both vocabularies (byte-identical to the files tiktoken
downloads: tests/finetune/test_tokens.py checks their SHA-256 against tiktoken's pinned hashes). A fine-tuned
name is counted as its base model: `ft:gpt-4.1-mini-2025-04-14:org:suffix:id` is gpt-4.1-mini. The local
backend counts with the base model's own Hugging Face tokenizer (tokenizer.json in its directory, read with
the `tokenizers` library of the [local] extra). A model with no known tokenizer (a Together model named by
its hub id) gets an estimate that errs long, and says so (`exact` is False).

Chat framing follows OpenAI's published rule (the cookbook's num_tokens_from_messages): 3 tokens a message,
its role and content (and name, plus 1), and 3 to prime the reply.
"""
from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

O200K = "o200k_base"
CL100K = "cl100k_base"
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
ESTIMATE_CHARS_PER_TOKEN = 3  # English runs about 4 characters a token; 3 errs long
# longest first: "gpt-4.1" and "gpt-4o" must win over "gpt-4"
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K), ("chatgpt-4o", O200K), ("gpt-4.1", O200K), ("gpt-4.5", O200K), ("gpt-5", O200K),
    ("o1", O200K), ("o3", O200K), ("o4", O200K), ("gpt-oss", O200K),
    ("gpt-4", CL100K), ("gpt-3.5", CL100K), ("gpt-35", CL100K),
)


class TokenizerUnavailable(Exception):
    """The model's tokenizer cannot be loaded here; `message` says what to install or check."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of one model. `exact` is False only for the estimate; `encoding` names what counts."""

    model: str
    encoding: str
    exact: bool
    _count: Callable[[str], int] = field(repr=False, compare=False)

    def count(self, text: str) -> int:
        return self._count(text) if text else 0

    def message(self, message: Mapping[str, Any]) -> int:
        """One chat message as the model sees it: framing, role, content (text parts) and name."""
        tokens = TOKENS_PER_MESSAGE + self.count(str(message.get("role") or ""))
        tokens += self.count(text_of(message.get("content")))
        name = message.get("name")
        if isinstance(name, str):
            tokens += self.count(name) + TOKENS_PER_NAME
        return tokens

    def messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        return sum(self.message(m) for m in messages) + REPLY_PRIMING


def text_of(content: Any) -> str:
    """A message's text: the string itself, or the text parts of a content list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def base_model(model: str) -> str:
    """`ft:gpt-4.1-mini-2025-04-14:org:suffix:id` -> `gpt-4.1-mini-2025-04-14`; other names as they are."""
    if model.startswith("ft:"):
        return model[3:].split(":", 1)[0]
    return model


def encoding_for(model: str) -> str | None:
    """The OpenAI encoding of `model` (fine-tuned names included), or None when it is not an OpenAI model."""
    name = base_model(model).lower()
    for prefix, encoding in _PREFIXES:
        if name == prefix or name.startswith(prefix + "-"):
            return encoding
    return None


def counter_for(model: str, *, model_dir: str | Path | None = None) -> TokenCounter:
    """The counter for `model`; with `model_dir` (the local backend), that directory's own tokenizer.

    Raises TokenizerUnavailable when the tokenizer is known but cannot be loaded here.
    """
    if model_dir is not None:
        return _hf_counter(model, str(model_dir))
    encoding = encoding_for(model)
    if encoding is None:
        estimate = f"an estimate ({ESTIMATE_CHARS_PER_TOKEN} characters a token): no tokenizer is known for {model}"
        return TokenCounter(model, estimate, False, _estimate)
    return TokenCounter(model, encoding, True, _tolerant(_openai_tokenizer(encoding).count))


def _tolerant(count: Callable[[str], int]) -> Callable[[str], int]:
    """JSON may carry lone surrogates (\\ud800), which no encoder takes: they count as U+FFFD, as tiktoken would."""
    def tolerant(text: str) -> int:
        try:
            return count(text)
        except UnicodeEncodeError:
            return count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    return tolerant


def _estimate(text: str) -> int:
    return math.ceil(len(text) / ESTIMATE_CHARS_PER_TOKEN)


@functools.cache
def _openai_tokenizer(encoding: str) -> Any:
    """bpe-openai's Rust tokenizer for `encoding`, loaded once per process (about 0.1 s).

    The extension is loaded on its own: the package's __init__ also decodes every vocabulary into Python
    dicts for its tiktoken-style wrapper (1.7 s and 65 MB) that counting never uses.
    """
    return _bindings().tokenizer_for_encoding(encoding)


def _bindings() -> Any:
    spec = importlib.util.find_spec("bpe_openai")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable("the bpe-openai package is not installed: pip install bpe-openai")
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("_bindings*")):
            if path.suffix in (".so", ".pyd"):
                loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", str(path))
                module_spec = importlib.util.spec_from_file_location("bpe_openai._bindings", path, loader=loader)
                if module_spec is not None:
                    module = importlib.util.module_from_spec(module_spec)
                    loader.exec_module(module)
                    return module
    from bpe_openai import _bindings  # another layout: the ordinary import

    return _bindings


@functools.cache
def _hf_counter(model: str, model_dir: str) -> TokenCounter:
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise TokenizerUnavailable(f"there is no tokenizer.json in {model_dir}: the base model's directory must hold its tokenizer")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise TokenizerUnavailable("counting with the local model's tokenizer needs the [local] extra: "
                                   "pip install '.[local]'") from None
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the library's own error types vary by version
        raise TokenizerUnavailable(f"{path} could not be read as a tokenizer: {exc}") from None

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return TokenCounter(model, f"tokenizer.json of {model_dir}", True, _tolerant(count))
