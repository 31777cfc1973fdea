"""Local training: our chat JSONL as TRL rows (weight 0 kept as context, never as a label), a LoRA adapter
that really learns on a tiny model, and files PEFT loads back."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from finetune.local_training import (
    LocalHyperparameters,
    TrainingDataError,
    build_trainer,
    to_prompt_completion,
    train_lora,
)
from tests.support.backends import TRAINING_JSONL
from tests.support.local_harness import TINY_PARAMS

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="training needs the [local] extra (torch, transformers, peft, trl)")

FORGET = "Ignore this draft answer about zebras."
LEARN = "The kettle boils fast and pours cleanly."
WEIGHTED = json.dumps({"messages": [
    {"role": "system", "content": "You are a product reviewer."},
    {"role": "user", "content": "Review this product: an electric kettle"},
    {"role": "assistant", "content": FORGET, "weight": 0},
    {"role": "user", "content": "Try again, shorter."},
    {"role": "assistant", "content": LEARN},
]}) + "\n"


def test_each_assistant_turn_that_counts_becomes_a_prompt_completion_row():
    rows = to_prompt_completion(WEIGHTED)
    assert len(rows) == 1  # the weight-0 turn makes no row of its own
    (row,) = rows
    assert row["completion"] == [{"role": "assistant", "content": LEARN}]
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant", "user"]
    assert row["prompt"][2] == {"role": "assistant", "content": FORGET}  # still there, as context
    assert len(to_prompt_completion(TRAINING_JSONL)) == 10


def test_training_data_that_cannot_be_trained_on_says_which_line_and_why():
    with pytest.raises(TrainingDataError, match="line 2 is not JSON"):
        to_prompt_completion(WEIGHTED + "{not json\n")
    only_drafts = json.dumps({"messages": [{"role": "user", "content": "q"},
                                           {"role": "assistant", "content": "a", "weight": 0}]})
    with pytest.raises(TrainingDataError, match="no assistant turn to learn from"):
        to_prompt_completion(only_drafts)
    with pytest.raises(TrainingDataError, match="weight must be 0 or 1"):
        to_prompt_completion(json.dumps({"messages": [{"role": "user", "content": "q"},
                                                      {"role": "assistant", "content": "a", "weight": 0.5}]}))


def test_hyperparameters_default_to_the_settings_defaults_and_refuse_unknown_names():
    defaults = LocalHyperparameters()
    assert (defaults.epochs, defaults.learning_rate, defaults.lora_rank, defaults.lora_alpha, defaults.max_length) == \
        (3, 2e-4, 16, 32, 1024)
    merged = LocalHyperparameters.merged({"epochs": 1, "learning_rate": 0.01}, defaults)
    assert merged.epochs == 1 and merged.learning_rate == 0.01 and merged.lora_rank == 16
    assert LocalHyperparameters.merged(merged.as_dict()) == merged  # what a run records is what it trains with
    with pytest.raises(ValueError, match="no hyperparameter 'n_epochs'"):
        LocalHyperparameters.merged({"n_epochs": 2})
    with pytest.raises(ValueError, match="lora_rank must be a whole number"):
        LocalHyperparameters.merged({"lora_rank": 2.5})
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        LocalHyperparameters.merged({"epochs": 0})


@needs_torch
def test_a_weight_zero_turn_carries_no_labels(tmp_path):
    from tests.support.tiny_model import tiny_model_dir

    trainer = build_trainer(tiny_model_dir(), to_prompt_completion(WEIGHTED), TINY_PARAMS, tmp_path / "work")
    tokenizer = trainer.processing_class
    (example,) = list(trainer.train_dataset)
    labelled = [token for token, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
    everything = tokenizer.decode(example["input_ids"])
    trained_on = tokenizer.decode(labelled)
    assert FORGET in everything and "Try again, shorter." in everything  # the model sees the whole conversation
    assert LEARN in trained_on  # ... and learns only the answer that counts
    assert trained_on == LEARN + "<|end|>"  # the answer and the end of its turn, nothing of the weight-0 draft


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("torch", reason="training needs the [local] extra")
    from tests.support.tiny_model import tiny_model_dir

    adapter = tmp_path_factory.mktemp("adapters") / "ft-test"
    steps: list = []
    params = LocalHyperparameters.merged({"epochs": 4}, TINY_PARAMS)
    result = train_lora(tiny_model_dir(), to_prompt_completion(TRAINING_JSONL), params, adapter, on_step=steps.append)
    return result, steps, params


def test_the_loss_falls_and_every_step_is_reported(trained):
    result, steps, params = trained
    assert result.steps == 12 and [s.step for s in steps] == list(range(1, 13))  # 10 rows, batches of 4, 4 epochs
    assert steps[-1].total_steps == 12 and steps[-1].epoch == pytest.approx(4.0) and steps[-1].total_epochs == 4
    assert result.losses == [s.loss for s in steps]
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 - 0.1


def test_the_adapter_is_written_whole_and_loads_with_peft(trained):
    import torch
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM

    from tests.support.tiny_model import tiny_model_dir

    result, _, params = trained
    adapter = Path(result.adapter_dir)
    assert {p.name for p in adapter.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    assert not adapter.with_name(adapter.name + ".partial").exists() and not adapter.with_name(adapter.name + ".work").exists()
    config = PeftConfig.from_pretrained(adapter)
    assert config.r == params.lora_rank and config.lora_alpha == params.lora_alpha
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir())
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, adapter)(ids).logits
    assert not torch.allclose(before, tuned)  # the trained weights change what the model says


@needs_torch
def test_a_stop_request_ends_training_at_the_next_step_without_an_adapter(tmp_path):
    from finetune.local_training import TrainingStopped
    from tests.support.tiny_model import tiny_model_dir

    seen: list = []
    with pytest.raises(TrainingStopped, match="stopped after step 2 of"):
        train_lora(tiny_model_dir(), to_prompt_completion(TRAINING_JSONL), TINY_PARAMS, tmp_path / "ft-stopped",
                   on_step=seen.append, should_stop=lambda: len(seen) >= 2)
    assert not (tmp_path / "ft-stopped").exists() and not (tmp_path / "ft-stopped.partial").exists()
