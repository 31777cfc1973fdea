"""The loop on your own GPU (FINETUNE_BACKEND=local), end to end: people ask and approve in Slack, the tick
queues a run, the worker trains a real LoRA adapter on a tiny model, vLLM (the stand-in, generating with PEFT)
loads it, and the next answer in Slack is written by the trained weights. vLLM restarting, or down at deploy
time, costs nothing but a retry."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the local backend's loop trains with the [local] extra")

from bot.training_worker import build_worker  # noqa: E402
from sandbox.stack import LocalStack  # noqa: E402
from sandbox.vllm_stub import VllmStub  # noqa: E402
from storage import local_runs, queries  # noqa: E402
from storage.enums import JobState  # noqa: E402
from tests.support.products import PRODUCTS  # noqa: E402
from tests.support.slack import bot_posts, wait_for_approved  # noqa: E402
from tests.support.tiny_model import tiny_model_dir  # noqa: E402

NIGHT = 18 * 3600  # from 09:00 to the default nightly run at 03:00
BASE = "tiny-llama"
PERSONA = "You review products."


@pytest.fixture
def vllm() -> Iterator[VllmStub]:
    with VllmStub(tiny_model_dir(), served_model_name=BASE) as running:
        yield running


@pytest.fixture
def stack(tmp_path, clock, vllm) -> Iterator[LocalStack]:
    settings = {
        "FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": str(tiny_model_dir()), "FINETUNE_BASE_MODEL": BASE,
        "VLLM_BASE_URL": vllm.base_url, "LOCAL_ADAPTERS_DIR": str(tmp_path / "adapters"), "BOT_SYSTEM_PROMPT": PERSONA,
        "LOCAL_EPOCHS": "2", "LOCAL_LEARNING_RATE": "0.005", "LOCAL_LORA_RANK": "4", "LOCAL_LORA_ALPHA": "8",
        "LOCAL_MAX_LENGTH": "512",
    }
    with LocalStack(f"sqlite:///{tmp_path / 'bot.db'}", clock=clock, settings=settings) as running:
        yield running


def models_asked(vllm: VllmStub) -> list[str]:
    return [body["model"] for method, path, body in vllm.requests if path == "/v1/chat/completions"]


def adapter_writes(adapter_dir: str, messages: list[dict]) -> str:
    """What the trained weights say to `messages`, asked of PEFT directly (greedy, as the stand-in decodes)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir())
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir()), adapter_dir).eval()
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=48, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def ask_approve_and_train(stack: LocalStack, vllm: VllmStub) -> None:
    replies = [stack.ask(f"Review this product: {product}") for product in PRODUCTS]
    assert models_asked(vllm) == [BASE] * 10
    for reply in replies:
        stack.approve(reply)
    wait_for_approved(stack, 10)
    assert "finetune-tick" in stack.run_schedule(NIGHT)
    assert stack.services is not None
    with stack.services.db.session() as session:
        job = queries.latest_job(session)
        assert job.state == JobState.SUBMITTED and job.provider == "local"
        assert job.hyperparameters["epochs"] == 2 and job.hyperparameters["lora_rank"] == 4  # the job records them
        run = local_runs.get_run(session, 1)
        assert run.state == "queued" and run.hyperparameters == job.hyperparameters
    worker = build_worker(stack.settings, stack.services.db, stack.clock)
    assert worker.run_once() == 1


def test_approved_answers_train_an_adapter_that_writes_the_next_answer(stack, vllm):
    ask_approve_and_train(stack, vllm)
    stack.run_schedule(60)  # the poll: trained -> loaded into vLLM -> smoke test -> swap
    with stack.services.db.session() as session:
        job = queries.latest_job(session)
        assert job.state == JobState.SUCCEEDED
        adapter, artifact = job.fine_tuned_model, job.artifact
    assert adapter.startswith("ft-local-1-") and Path(artifact).name == adapter and vllm.loaded == [adapter]
    assert stack.slack.wait_for(lambda: [t for t in bot_posts(stack) if "is now answering" in t]) == [
        f":tada: `{adapter}` is now answering, served by vLLM at {vllm.base_url}, trained on 10 examples."]

    after = stack.ask("Review this product: a noise-cancelling headphone")
    assert after["metadata"]["event_payload"]["model"] == adapter and models_asked(vllm)[-1] == adapter
    sent = [body for _, path, body in vllm.requests if path == "/v1/chat/completions"][-1]["messages"]
    assert after["text"] == adapter_writes(artifact, sent)  # the trained weights wrote it
    base_says, _, _ = vllm.generate(sent, None, 48)
    assert after["text"] != base_says.strip()  # ... and the base model would not have

    vllm.restart()  # vLLM restarts: runtime-loaded adapters are gone
    again = stack.ask("Review this product: a cast iron skillet")
    assert again["metadata"]["event_payload"]["model"] == adapter  # loaded again, then asked again
    assert vllm.loaded == [adapter] and models_asked(vllm)[-2:] == [adapter, adapter]


def test_vllm_down_at_deploy_time_is_told_once_and_the_deploy_resumes(stack, vllm):
    ask_approve_and_train(stack, vllm)
    vllm.go_down()
    stack.run_schedule(60)
    stack.run_schedule(60)
    with stack.services.db.session() as session:
        job = queries.latest_job(session)
        assert job.state == JobState.TRAINED and "vLLM did not answer" in job.error_message
        assert queries.active_model(session, BASE).model == BASE  # the base model keeps answering
    failed = stack.slack.wait_for(lambda: [t for t in bot_posts(stack) if "deploy" in t.lower()])
    assert len(failed) == 1  # told once, not on every poll
    vllm.come_back()
    stack.run_schedule(60)
    with stack.services.db.session() as session:
        assert queries.latest_job(session).state == JobState.SUCCEEDED
    assert stack.ask("Review this product: a mechanical keyboard")["metadata"]["event_payload"]["model"].startswith("ft-local-1-")


def test_an_adapter_vllm_rejects_ends_the_job_with_its_reason_and_the_base_keeps_answering(stack, vllm):
    ask_approve_and_train(stack, vllm)
    vllm.max_lora_rank = 2  # started with --max-lora-rank 2; the adapter has rank 4
    stack.run_schedule(60)
    with stack.services.db.session() as session:
        job = queries.latest_job(session)
        assert job.state == JobState.FAILED
        assert "LoRA rank 4 is greater than max_lora_rank 2." in job.error_message
        assert queries.active_model(session, BASE).model == BASE
    assert stack.ask("Review this product: an electric kettle")["metadata"]["event_payload"]["model"] == BASE
    assert json.dumps(vllm.loaded) == "[]"
