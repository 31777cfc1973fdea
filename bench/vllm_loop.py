"""The local backend's whole loop against a real vLLM server on a GPU machine, timed.

The same story as tests/bot/test_local_backend_loop.py, with the real thing in place of the vLLM stand-in
and the tiny model: the real bot (against the Slack stand-in) answers ten questions with the base model
vLLM serves, they are approved, `/finetune run` queues a run, the worker trains a LoRA adapter on the GPU
with TRL + PEFT, the poll loads it into vLLM (/v1/load_lora_adapter), smoke-tests it and swaps, and the
next question is answered by the adapter. Then the adapter is unloaded behind the bot's back (what a vLLM
restart does) and the next answer shows the bot loading it again.

Start vLLM first, on the same machine (it must read the adapters where the worker writes them):

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve /models/my-base --served-model-name my-base \\
        --enable-lora --max-lora-rank 16 --max-loras 4 --port 8000

then, with the [local] extra installed:

    VLLM_BASE_URL=http://127.0.0.1:8000/v1 LOCAL_BASE_MODEL=/models/my-base python -m bench.vllm_loop

FINETUNE_BASE_MODEL defaults to the base model vLLM lists; LOCAL_ADAPTERS_DIR to a fresh temporary folder;
LOCAL_EPOCHS, LOCAL_LEARNING_RATE, LOCAL_LORA_RANK, LOCAL_LORA_ALPHA and LOCAL_MAX_LENGTH are read as the
bot reads them. Nothing is downloaded: the model directory must be on disk.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from sandbox.clock import ManualClock
from tests.support.products import PRODUCTS

LOCAL_SETTINGS = ("LOCAL_EPOCHS", "LOCAL_LEARNING_RATE", "LOCAL_LORA_RANK", "LOCAL_LORA_ALPHA", "LOCAL_MAX_LENGTH")
ANSWER_TIMEOUT = 300.0  # seconds for one answer from a real model


def served_base(vllm_base_url: str) -> str:
    answer = httpx.get(vllm_base_url.rstrip("/") + "/models", timeout=10)
    answer.raise_for_status()
    bases = [card["id"] for card in answer.json()["data"] if not card.get("parent")]
    if not bases:
        raise SystemExit(f"vLLM at {vllm_base_url} lists no base model")
    return str(bases[0])


def model_of(reply: dict[str, Any]) -> str:
    return str(reply["metadata"]["event_payload"]["model"])


def main() -> int:
    vllm_url, model_dir = os.environ.get("VLLM_BASE_URL"), os.environ.get("LOCAL_BASE_MODEL")
    if not vllm_url or not model_dir:
        print("set VLLM_BASE_URL (vLLM's OpenAI-compatible base, ending in /v1) and LOCAL_BASE_MODEL (the directory "
              "vLLM serves)", file=sys.stderr)
        return 2
    if not Path(model_dir, "config.json").is_file():
        print(f"LOCAL_BASE_MODEL={model_dir} holds no config.json", file=sys.stderr)
        return 2
    from bot.training_worker import build_worker
    from sandbox.stack import LocalStack
    from storage import local_runs
    from tests.support.slack import command, wait_for_approved

    base = os.environ.get("FINETUNE_BASE_MODEL") or served_base(vllm_url)
    with tempfile.TemporaryDirectory(prefix="vllm-loop-") as tmp:
        settings = {"FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": model_dir, "FINETUNE_BASE_MODEL": base,
                    "VLLM_BASE_URL": vllm_url, "LOCAL_ADAPTERS_DIR": os.environ.get("LOCAL_ADAPTERS_DIR") or f"{tmp}/adapters"}
        settings.update({name: os.environ[name] for name in LOCAL_SETTINGS if name in os.environ})
        with LocalStack(f"sqlite:///{tmp}/loop.db", clock=ManualClock(), settings=settings) as stack:
            assert stack.services is not None
            started = time.perf_counter()
            replies = [stack.ask(f"Review this product: {product}", timeout=ANSWER_TIMEOUT) for product in PRODUCTS]
            asked = time.perf_counter()
            print(f"10 answers from the base model {base}: {asked - started:.1f} s; the first: {replies[0]['text'][:200]!r}")
            for reply in replies[:-1]:
                stack.approve(reply)
            wait_for_approved(stack, 9)
            worker = build_worker(stack.settings, stack.services.db, stack.clock)

            crossed = time.perf_counter()
            stack.approve(replies[-1])
            wait_for_approved(stack, 10)
            command(stack, "run")

            def queued() -> bool:
                with stack.services.db.session() as session:  # type: ignore[union-attr]
                    return local_runs.count_runs(session) > 0

            stack.slack.wait_for(queued, timeout=60)
            ticked = time.perf_counter()
            if worker.run_once() is None:
                raise SystemExit("the worker found no queued run")
            trained = time.perf_counter()
            stack.run_schedule(60)
            swapped = time.perf_counter()
            after = stack.ask("Review this product: a noise-cancelling headphone", timeout=ANSWER_TIMEOUT)
            answered = time.perf_counter()
            adapter = model_of(after)
            if not adapter.startswith("ft-local-"):
                raise SystemExit(f"the answer after the swap came from {adapter}, not from the new adapter")
            print(f"approval crossing the threshold -> first reply from {adapter}: {answered - crossed:.1f} s "
                  f"(tick {ticked - crossed:.1f} s, training {trained - ticked:.1f} s, deploy + smoke test + swap "
                  f"{swapped - trained:.1f} s, first reply {answered - swapped:.1f} s; waits for the poll interval excluded)")
            print(f"  the adapter's answer: {after['text'][:200]!r}")

            server = vllm_url.rstrip("/").removesuffix("/v1")
            httpx.post(f"{server}/v1/unload_lora_adapter", json={"lora_name": adapter}, timeout=30).raise_for_status()
            forgot = time.perf_counter()
            again = stack.ask("Review this product: a cast iron skillet", timeout=ANSWER_TIMEOUT)
            if model_of(again) != adapter:
                raise SystemExit(f"after vLLM forgot the adapter the answer came from {model_of(again)}")
            print(f"adapter forgotten by vLLM -> loaded again and answering: {time.perf_counter() - forgot:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
