"""Token counts are OpenAI's own, offline: checked against counts OpenAI published, not against our code.

The expectations come from the OpenAI cookbook's "How to count tokens with tiktoken" notebook: token ids of
example strings, and a conversation whose prompt tokens the OpenAI API itself reported (129 for gpt-4 and
gpt-3.5-turbo, 124 for gpt-4o and gpt-4o-mini). The vocabularies' SHA-256 are the ones tiktoken pins
(tiktoken_ext/openai_public.py) for the files it would download.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import socket
from pathlib import Path

import pytest

from finetune import tokens
from finetune.tokens import TokenizerUnavailable, base_model, counter_for, encoding_for
from tests.support.training_files import COOKBOOK_MESSAGES

PUBLISHED_IDS = {
    ("cl100k_base", "tiktoken is great!"): [83, 1609, 5963, 374, 2294, 0],
    ("cl100k_base", "antidisestablishmentarianism"): [519, 85342, 34500, 479, 8997, 2191],
    ("cl100k_base", "2 + 2 = 4"): [17, 489, 220, 17, 284, 220, 19],
    ("cl100k_base", "お誕生日おめでとう"): [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699],
    ("o200k_base", "antidisestablishmentarianism"): [493, 129901, 376, 160388, 21203, 2367],
    ("o200k_base", "お誕生日おめでとう"): [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669],
}
TIKTOKEN_PINNED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


@pytest.mark.parametrize(("encoding", "text"), list(PUBLISHED_IDS))
def test_strings_encode_to_the_token_ids_openai_published(encoding, text):
    ids = PUBLISHED_IDS[(encoding, text)]
    assert tokens._openai_tokenizer(encoding).encode(text) == ids
    model = "gpt-4-0613" if encoding == "cl100k_base" else "gpt-4o-2024-08-06"
    assert counter_for(model).count(text) == len(ids)


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-3.5-turbo", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124),
])
def test_a_conversation_counts_what_the_openai_api_counted(model, expected):
    assert counter_for(model).messages(COOKBOOK_MESSAGES) == expected


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4.1-mini-2025-04-14", "o200k_base"), ("gpt-4.1-2025-04-14", "o200k_base"), ("gpt-4o-2024-08-06", "o200k_base"),
    ("o4-mini-2025-04-16", "o200k_base"), ("o3", "o200k_base"), ("gpt-4-0613", "cl100k_base"),
    ("gpt-3.5-turbo-0125", "cl100k_base"),
    # a fine-tuned name counts as its base model (a "ft:gpt-4" prefix rule would say cl100k_base here)
    ("ft:gpt-4.1-mini-2025-04-14:acme:reviews:AbC123", "o200k_base"),
    ("ft:gpt-4o-mini-2024-07-18:acme::xyz", "o200k_base"),
    ("ft:gpt-3.5-turbo-0125:acme:old:9", "cl100k_base"),
])
def test_each_model_gets_its_own_encoding(model, encoding):
    assert encoding_for(model) == encoding
    counter = counter_for(model)
    assert counter.encoding == encoding and counter.exact


def test_a_fine_tuned_name_strips_to_its_base_model():
    assert base_model("ft:gpt-4.1-mini-2025-04-14:acme:reviews:AbC123") == "gpt-4.1-mini-2025-04-14"
    assert base_model("gpt-4.1") == "gpt-4.1"


def test_the_shipped_vocabularies_are_byte_identical_to_the_ones_tiktoken_downloads():
    spec = importlib.util.find_spec("bpe_openai")
    assert spec is not None and spec.submodule_search_locations
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    for encoding, pinned in TIKTOKEN_PINNED_SHA256.items():
        with gzip.open(data / f"{encoding}.tiktoken.gz", "rb") as shipped:
            assert hashlib.sha256(shipped.read()).hexdigest() == pinned


def test_counting_never_reaches_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("token counting tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    tokens._openai_tokenizer.cache_clear()  # load the vocabulary again, with the network gone
    assert counter_for("gpt-4.1-mini").count("tiktoken is great!") == 6
    assert counter_for("gpt-4").count("tiktoken is great!") == 6


def test_text_json_can_carry_but_no_encoder_takes_is_still_counted():
    lone_surrogate = json.loads('"caf\\ud800e"')
    assert counter_for("gpt-4o").count(lone_surrogate) > 0


def test_a_model_with_no_known_tokenizer_gets_an_estimate_that_says_so():
    counter = counter_for("Qwen/Qwen3-8B")
    assert not counter.exact
    assert "estimate" in counter.encoding and "Qwen/Qwen3-8B" in counter.encoding
    assert counter.count("x" * 30) == 10


def test_the_local_backend_counts_with_the_base_models_own_tokenizer(tmp_path):
    tokenizers = pytest.importorskip("tokenizers", reason="the [local] extra is not installed")
    vocab = {"[UNK]": 0, "great": 1, "speaker": 2, "a": 3, "!": 4}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    counter = counter_for("/models/tiny", model_dir=tmp_path)
    assert counter.exact and str(tmp_path) in counter.encoding
    assert counter.count("a great speaker !") == 4
    assert counter.count("a great, loud speaker!") == 6  # "," and "loud" are unknown words: one token each


def test_a_model_directory_without_a_tokenizer_is_named(tmp_path):
    with pytest.raises(TokenizerUnavailable, match="no tokenizer.json in"):
        counter_for("/models/empty", model_dir=tmp_path)
