"""The local backend's cost over plain TRL, and how long a team waits for its first answer from a new adapter.

In one run, on the tiny Llama model made on the spot (tests/support/tiny_model.py) and the same data:

1. Training time: the local backend (stage + submit, then the worker's run: claim, heartbeat and progress
   in the database at every step, the adapter written whole) against a bare TRL script doing the same
   training (same rows, SFTConfig, LoRA config, seed). Best of alternating runs, after one warm-up each
   (medians printed too); the goal is an overhead under 10 %.
2. Approval to first reply: the real bot against the Slack stand-in and the vLLM stand-in, from the approval
   that makes the tenth example to the first threaded answer from the new adapter (`/finetune run`, the
   worker trains, the poll deploys, smoke-tests and swaps, the question is answered). Waits for the schedule
   and for the poll (FINETUNE_POLL_SECONDS) are left out: they add up to one poll interval.

    python -m bench.local_train_bench [--examples 40] [--epochs 3] [--repeats 5]   (or: make bench-local)
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from finetune.backend import Method, TrainingRequest
from finetune.backends.local import build_local_backend
from finetune.local_training import LORA_DROPOUT, TARGET_MODULES, LocalHyperparameters, to_prompt_completion
from finetune.worker import Worker
from sandbox.clock import ManualClock
from storage.db import Database
from tests.support.products import PRODUCTS
from tests.support.tiny_model import tiny_model_dir

BASE = "tiny-llama"


def examples(count: int) -> str:
    lines = []
    for n in range(count):
        product = PRODUCTS[n % len(PRODUCTS)]
        lines.append(json.dumps({"messages": [
            {"role": "system", "content": "You are a friendly and enthusiastic product reviewer."},
            {"role": "user", "content": f"Review this product: {product} (model {n})"},
            {"role": "assistant", "content": f"{product.capitalize()} is LOVELY! Sturdy, bright and simple. Buy it!"},
        ]}))
    return "\n".join(lines) + "\n"


def bare_trl(model_dir: Path, rows: list[dict[str, Any]], params: LocalHyperparameters, out: Path) -> float:
    """What someone would write with TRL alone: load, configure, train, save the adapter."""
    started = time.perf_counter()
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
    config = SFTConfig(output_dir=str(out) + ".work", num_train_epochs=params.epochs, learning_rate=params.learning_rate,
                       per_device_train_batch_size=params.batch_size, max_length=params.max_length,
                       completion_only_loss=True, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
                       seed=params.seed, bf16=bf16, fp16=False, use_cpu=not cuda, activation_checkpointing=cuda,
                       dataloader_pin_memory=cuda, log_level="warning")
    lora = LoraConfig(r=params.lora_rank, lora_alpha=params.lora_alpha, lora_dropout=LORA_DROPOUT,
                      target_modules=TARGET_MODULES, task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora)
    trainer.remove_callback(PrinterCallback)  # the same quiet run as the worker's: printing is not training
    trainer.train()
    trainer.model.save_pretrained(str(out))
    return time.perf_counter() - started


def local_backend(model_dir: Path, jsonl: str, params: LocalHyperparameters, where: Path, key: str) -> tuple[float, float, int]:
    """(seconds to stage and submit, seconds for the worker's run, steps) on a fresh SQLite database."""
    clock = ManualClock()
    db = Database(f"sqlite:///{where / f'{key}.db'}")
    db.migrate()
    import httpx2 as httpx

    with httpx.Client(timeout=5) as http:
        # vLLM is not needed to train: the base-model check is skipped when it does not answer
        backend = build_local_backend(db, clock, http, vllm_base_url="http://127.0.0.1:9/v1", adapters_dir=where,
                                      params=params)
        worker = Worker(db, clock, adapters_dir=where / "adapters", base_model_dir=model_dir, name="bench", defaults=params)
        started = time.perf_counter()
        trainer = backend.trainer
        file_ref = trainer.stage(f"{key}.jsonl", trainer.write_training_file(jsonl, Method.SFT))
        run = trainer.submit(TrainingRequest(key=key, base_model=BASE, training_file=file_ref))
        submitted = time.perf_counter()
        worker.run_once()
        trained = time.perf_counter()
        done = trainer.get(run.id)
    db.dispose()
    assert done.artifact, done
    return submitted - started, trained - submitted, done.progress.step or 0


def training_overhead(args: argparse.Namespace, tmp: Path) -> None:
    import torch

    torch.set_num_threads(args.threads)
    model_dir = tiny_model_dir()
    torch.set_num_threads(args.threads)
    jsonl = examples(args.examples)
    rows = to_prompt_completion(jsonl)
    params = LocalHyperparameters(epochs=args.epochs, learning_rate=2e-4, lora_rank=16, lora_alpha=32, max_length=256)
    bare_trl(model_dir, rows, params, tmp / "warm-bare")
    local_backend(model_dir, jsonl, params, tmp, "warm-local")
    bare, local, submits = [], [], []
    steps = 0
    for n in range(args.repeats):
        bare.append(bare_trl(model_dir, rows, params, tmp / f"bare-{n}"))
        submit, run, steps = local_backend(model_dir, jsonl, params, tmp, f"local-{n}")
        submits.append(submit)
        local.append(run + submit)
    # the best of alternating runs: on a shared machine the other load only ever adds time
    b, loc = min(bare), min(local)
    print(f"training, tiny Llama ({args.examples} examples, {args.epochs} epochs, {steps} steps, rank 16, "
          f"{args.threads} CPU thread(s), best of {args.repeats} alternating runs):")
    print(f"  bare TRL script:                 {b:.2f} s  (median {statistics.median(bare):.2f} s; "
          f"runs: {', '.join(f'{x:.2f}' for x in bare)})")
    print(f"  local backend (submit + worker): {loc:.2f} s  (median {statistics.median(local):.2f} s; "
          f"runs: {', '.join(f'{x:.2f}' for x in local)}; submit {statistics.median(submits) * 1000:.0f} ms)")
    overhead = (loc - b) / b * 100
    print(f"  overhead: {overhead:+.1f} %  (goal: under 10 %) {'OK' if overhead < 10 else 'OVER'}")


def approval_to_first_reply(args: argparse.Namespace, tmp: Path) -> None:
    from bot.training_worker import build_worker
    from sandbox.stack import LocalStack
    from sandbox.vllm_stub import VllmStub
    from tests.support.slack import command, wait_for_approved

    model_dir = tiny_model_dir()
    settings = {"FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": str(model_dir), "FINETUNE_BASE_MODEL": BASE,
                "LOCAL_ADAPTERS_DIR": str(tmp / "loop-adapters"), "LOCAL_EPOCHS": str(args.epochs),
                "LOCAL_MAX_LENGTH": "512", "BOT_SYSTEM_PROMPT": "You review products."}
    with VllmStub(model_dir, served_model_name=BASE) as vllm:
        settings["VLLM_BASE_URL"] = vllm.base_url
        with LocalStack(f"sqlite:///{tmp / 'loop.db'}", clock=ManualClock(), settings=settings) as stack:
            replies = [stack.ask(f"Review this product: {product}") for product in PRODUCTS]
            for reply in replies[:-1]:
                stack.approve(reply)
            wait_for_approved(stack, 9)
            assert stack.services is not None
            worker = build_worker(stack.settings, stack.services.db, stack.clock)
            started = time.perf_counter()
            stack.approve(replies[-1])  # the tenth: it crosses FINETUNE_MIN_EXAMPLES
            wait_for_approved(stack, 10)
            approved = time.perf_counter()
            command(stack, "run")  # acknowledged at once; the tick runs behind the ack
            stack.slack.wait_for(lambda: _queued(stack), timeout=30)
            ticked = time.perf_counter()
            assert worker.run_once() is not None
            trained = time.perf_counter()
            stack.run_schedule(60)  # the poll: load into vLLM, smoke test, swap
            swapped = time.perf_counter()
            after = stack.ask("Review this product: a noise-cancelling headphone")
            answered = time.perf_counter()
    model = after["metadata"]["event_payload"]["model"]
    assert model.startswith("ft-local-"), model
    print(f"approval crossing the threshold -> first reply from the new adapter ({model}): {answered - started:.2f} s")
    print(f"  approval recorded {approved - started:.2f} s, /finetune run {ticked - approved:.2f} s, "
          f"training {trained - ticked:.2f} s, deploy + smoke test + swap {swapped - trained:.2f} s, "
          f"first reply {answered - swapped:.2f} s (waits for the poll interval excluded)")


def _queued(stack: Any) -> bool:
    from storage import local_runs

    with stack.services.db.session() as session:
        return local_runs.count_runs(session) > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="local-bench-") as tmp:
        training_overhead(args, Path(tmp))
        approval_to_first_reply(args, Path(tmp))


if __name__ == "__main__":
    main()
