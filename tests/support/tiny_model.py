"""A tiny Llama-architecture model made on the spot: nothing is downloaded.

The tokenizer is a byte-level BPE trained here with the `tokenizers` library on a few hundred words of
product reviews (any text still encodes, byte by byte), wrapped as a transformers fast tokenizer with a
chat template. The model is a two-layer LlamaForCausalLM with random weights, saved next to it: a real
model directory (config.json, model.safetensors, tokenizer.json, tokenizer_config.json) that TRL, PEFT and
the vLLM stand-in load like any other. Built once per process and copied where a test wants it.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from tests.support.products import PRODUCTS

SPECIAL = ["<pad>", "<unk>", "<s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
# The prompt rendered with add_generation_prompt is a prefix of prompt + completion, token for token, as
# TRL's completion mask wants; <|end|> closes each turn and is the end-of-sequence token generation stops at.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CORPUS = [
    f"Review this product: {product}. It is LOVELY! Sturdy, bright and simple. Buy it! Meh, it is fine, I guess."
    for product in PRODUCTS
] + [
    "You are a friendly and enthusiastic product reviewer who loves to highlight the best features of a product.",
    "You are a product reviewer. Gadget number one two three four five six seven eight nine ten.",
    "The quick brown fox jumps over the lazy dog; battery, sound, price, comfort, design, quality, value.",
]

_lock = threading.Lock()
_built: Path | None = None


def build_tiny_model(directory: Path, *, hidden: int = 64, layers: int = 2, vocab: int = 384, seed: int = 0) -> Path:
    """Writes a fresh tiny model directory and returns it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>",
                                        unk_token="<unk>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    return directory


def tiny_model_dir() -> Path:
    """The process's one tiny model (built on first use, in a temporary folder); treat it as read-only.

    Also keeps torch to one thread: on a shared CI machine, tiny matrices are ten times faster that way."""
    import torch

    global _built
    torch.set_num_threads(1)
    with _lock:
        if _built is None:
            _built = build_tiny_model(Path(tempfile.mkdtemp(prefix="tiny-llama-")) / "tiny-llama")
        return _built


def copy_tiny_model(to: Path) -> Path:
    shutil.copytree(tiny_model_dir(), to)
    return to


def untrained_adapter(to: Path, rank: int = 4) -> Path:
    """A LoRA adapter for the tiny model as PEFT writes one, fresh (no training): for serving tests that need
    an adapter on disk and not what it learned."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir()),
                           LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.save_pretrained(str(to))
    return to
