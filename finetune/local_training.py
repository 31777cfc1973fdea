"""The self-hosted backend's training: a LoRA adapter trained with TRL's SFTTrainer and PEFT on a model directory.

Two halves. The first is plain Python the bot needs without the [local] extra: the hyperparameters (with
the LOCAL_* defaults, recorded on every run) and the conversion of our chat JSONL into TRL's rows. The
second, train_lora(), imports torch, transformers, peft and trl only when it runs.

Why the conversion: OpenAI's chat format marks assistant turns not to learn from with "weight": 0, and
TRL ignores that field (its "messages" rows train on every assistant turn, or on everything). So each
assistant turn that counts becomes one conversational prompt/completion row: the conversation before it
(weight-0 turns included, as context) is the prompt, the turn itself the completion. TRL's SFTTrainer
then puts labels on completion tokens only (completion_only_loss, its default for prompt/completion
rows): a weight-0 turn is never a completion, so none of its tokens carry a label.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

ROLES = ("system", "developer", "user", "assistant")
TARGET_MODULES = "all-linear"  # every linear layer but the output head: what vLLM's LoRA layers cover
LORA_DROPOUT = 0.05


class TrainingDataError(ValueError):
    """The training file cannot be trained on; the message says which line and why."""


class TrainingStopped(Exception):
    """Training stopped because should_stop() said so (a cancel, or the run was taken away)."""


@dataclass(frozen=True)
class LocalHyperparameters:
    """What a run trains with; the defaults are the LOCAL_* settings' defaults. Recorded on each run as is."""

    epochs: int = 3
    learning_rate: float = 2e-4
    lora_rank: int = 16
    lora_alpha: int = 32
    max_length: int = 1024
    batch_size: int = 4
    lora_dropout: float = LORA_DROPOUT
    seed: int = 42

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def merged(cls, values: Mapping[str, Any], defaults: LocalHyperparameters | None = None) -> LocalHyperparameters:
        """`defaults` with `values` laid over them; an unknown name or a value out of range is a ValueError."""
        base = (defaults or cls()).as_dict()
        known = {f.name: f for f in fields(cls)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"the local backend has no hyperparameter {name!r}; it takes {', '.join(known)}")
            kind = int if known[name].type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
                raise ValueError(f"hyperparameter {name} must be a {'whole number' if kind is int else 'number'}, not {value!r}")
            base[name] = kind(value)
        made = cls(**base)
        made.check()
        return made

    def check(self) -> None:
        for name in ("epochs", "lora_rank", "lora_alpha", "max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"hyperparameter {name} must be at least 1, not {getattr(self, name)}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"hyperparameter learning_rate must be between 0 and 1, not {self.learning_rate}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"hyperparameter lora_dropout must be at least 0 and below 1, not {self.lora_dropout}")


# --- our chat JSONL as TRL rows (no torch needed) -------------------------------------------------------


def to_prompt_completion(jsonl: str) -> list[dict[str, Any]]:
    """One conversational prompt/completion row per assistant turn that counts (weight absent or 1)."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(jsonl.splitlines(), 1):
        if not line.strip():
            continue
        messages = _messages(line, number)
        turns = [index for index, message in enumerate(messages) if message["role"] == "assistant"
                 and message.get("weight", 1) != 0]
        for index in turns:
            prompt = [_plain(message) for message in messages[:index]]
            if not prompt:
                raise TrainingDataError(f"training data line {number}: an assistant turn with nothing before it")
            rows.append({"prompt": prompt, "completion": [_plain(messages[index])]})
    if not rows:
        raise TrainingDataError("the training data has no assistant turn to learn from (every one has weight 0)")
    return rows


def rows_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def read_rows(content: str) -> list[dict[str, Any]]:
    """The rows a staged training file holds (what write_training_file produced)."""
    rows = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise TrainingDataError(f"staged training file line {number} is not JSON") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), list) or not isinstance(row.get("completion"), list):
            raise TrainingDataError(f"staged training file line {number} is not a prompt/completion row")
        rows.append(row)
    if not rows:
        raise TrainingDataError("the staged training file is empty")
    return rows


def _messages(line: str, number: int) -> list[dict[str, Any]]:
    try:
        record = json.loads(line)
    except ValueError:
        raise TrainingDataError(f"training data line {number} is not JSON") from None
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        raise TrainingDataError(f"training data line {number} has no messages")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise TrainingDataError(f"training data line {number}: every message needs a role ({', '.join(ROLES)}) "
                                    "and text content")
        if message.get("weight", 1) not in (0, 1):
            raise TrainingDataError(f"training data line {number}: weight must be 0 or 1, not {message.get('weight')!r}")
    return messages


def _plain(message: dict[str, Any]) -> dict[str, str]:
    """A message as the chat template sees it: role and content, no weight."""
    role = "system" if message["role"] == "developer" else message["role"]
    return {"role": role, "content": message["content"]}


# --- training (imports torch, transformers, peft, trl) ------------------------------------------------------


@dataclass(frozen=True)
class StepReport:
    step: int
    total_steps: int
    epoch: float
    total_epochs: float
    loss: float | None


@dataclass(frozen=True)
class TrainingResult:
    adapter_dir: Path
    steps: int
    losses: list[float]  # the training loss at each logged step, in order
    seconds: float


Progress = Callable[[StepReport], None]
ShouldStop = Callable[[], bool]


def build_trainer(model_dir: Path, rows: list[dict[str, Any]], params: LocalHyperparameters, work_dir: Path,
                  callbacks: list[Any] | None = None) -> Any:
    """TRL's SFTTrainer over the base model with a fresh LoRA adapter: what train_lora runs (tests inspect it)."""
    import torch
    from datasets import Dataset
    from datasets.utils.tqdm import disable_progress_bars
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    disable_progress_bars()  # progress goes to the run's row, not to stderr

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
    config = SFTConfig(
        output_dir=str(work_dir), num_train_epochs=params.epochs, learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size, max_length=params.max_length, completion_only_loss=True,
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, seed=params.seed,
        bf16=bf16, fp16=False, use_cpu=not cuda, activation_checkpointing=cuda, dataloader_pin_memory=cuda,
        log_level="warning",
    )
    lora = LoraConfig(r=params.lora_rank, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
                      target_modules=TARGET_MODULES, task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)
    return trainer


def train_lora(model_dir: Path, rows: list[dict[str, Any]], params: LocalHyperparameters, adapter_dir: Path, *,
               on_step: Progress | None = None, should_stop: ShouldStop | None = None) -> TrainingResult:
    """Trains one adapter and writes it to `adapter_dir` (adapter_config.json, adapter_model.safetensors).

    The adapter appears whole or not at all: it is written next to its final place and renamed into it.
    Raises TrainingStopped when should_stop() turns true (asked after every step and its report).
    """
    from transformers import TrainerCallback

    started = time.monotonic()
    losses: list[float] = []

    class Reporter(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            loss = (logs or {}).get("loss")
            if not isinstance(loss, (int, float)) or math.isnan(loss):
                return
            losses.append(float(loss))
            if on_step is not None:
                on_step(StepReport(step=state.global_step, total_steps=state.max_steps, epoch=float(state.epoch or 0),
                                   total_epochs=float(args.num_train_epochs), loss=float(loss)))
            self.check(control)  # the step's report may carry the news (a cancel): stop before the next step

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.check(control)

        def check(self, control: Any) -> None:
            if should_stop is not None and should_stop():
                control.should_training_stop = True
                self.stopped = True

        stopped = False

    reporter = Reporter()
    adapter_dir = Path(adapter_dir)
    partial = adapter_dir.with_name(adapter_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    work_dir = adapter_dir.with_name(adapter_dir.name + ".work")
    try:
        trainer = build_trainer(Path(model_dir), rows, params, work_dir, callbacks=[reporter])
        trainer.train()
        if reporter.stopped:
            raise TrainingStopped(f"stopped after step {trainer.state.global_step} of {trainer.state.max_steps}")
        trainer.model.save_pretrained(str(partial))
        shutil.rmtree(adapter_dir, ignore_errors=True)
        partial.rename(adapter_dir)
        return TrainingResult(adapter_dir=adapter_dir, steps=trainer.state.global_step, losses=losses,
                              seconds=time.monotonic() - started)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(work_dir, ignore_errors=True)
