"""The vLLM stand-in over plain HTTP: vLLM's routes, model cards, error bodies and streamed chunks."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2 as httpx
import pytest

pytest.importorskip("torch", reason="the vLLM stand-in generates with the [local] extra")

from sandbox.vllm_stub import VllmStub  # noqa: E402
from tests.support.tiny_model import tiny_model_dir, untrained_adapter  # noqa: E402


@pytest.fixture
def vllm() -> Iterator[VllmStub]:
    with VllmStub(tiny_model_dir(), served_model_name="tiny-llama") as running:
        yield running


@pytest.fixture
def http(vllm) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vllm.base_url.removesuffix("/v1"), timeout=30) as client:
        yield client


def test_models_list_the_base_and_each_loaded_adapter_with_its_parent(vllm, http, tmp_path):
    adapter = untrained_adapter(tmp_path / "ft-a")
    loaded = http.post("/v1/load_lora_adapter", json={"lora_name": "ft-a", "lora_path": str(adapter)})
    assert loaded.status_code == 200 and loaded.text == "Success: LoRA adapter 'ft-a' added successfully."
    cards = {card["id"]: card for card in http.get("/v1/models").json()["data"]}
    assert cards["tiny-llama"]["parent"] is None and cards["tiny-llama"]["root"] == str(tiny_model_dir())
    assert cards["ft-a"]["parent"] == "tiny-llama" and cards["ft-a"]["root"] == str(adapter)
    twice = http.post("/v1/load_lora_adapter", json={"lora_name": "ft-a", "lora_path": str(adapter)})
    assert twice.status_code == 400 and twice.json()["error"]["type"] == "InvalidUserInput"
    assert "has already been loaded" in twice.json()["error"]["message"]
    gone = http.post("/v1/unload_lora_adapter", json={"lora_name": "ft-a"})
    assert gone.status_code == 200 and "removed successfully" in gone.text
    missing = http.post("/v1/unload_lora_adapter", json={"lora_name": "ft-a"})
    assert missing.status_code == 404 and missing.json() == {"error": {
        "message": "The lora adapter 'ft-a' cannot be found.", "type": "NotFoundError", "param": None, "code": 404}}


def test_chat_answers_plain_and_streamed_the_same_and_names_an_unknown_model(http):
    question = {"model": "tiny-llama", "messages": [{"role": "user", "content": "Review this product: a lamp"}]}
    plain = http.post("/v1/chat/completions", json=question).json()
    text = plain["choices"][0]["message"]["content"]
    assert plain["object"] == "chat.completion" and plain["model"] == "tiny-llama" and text
    streamed = http.post("/v1/chat/completions", json={**question, "stream": True})
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text  # greedy: the same answer
    unknown = http.post("/v1/chat/completions", json={**question, "model": "ft-nobody"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {"message": "The model `ft-nobody` does not exist.", "type": "NotFoundError",
                                       "param": "model", "code": 404}


def test_a_restart_forgets_adapters_and_without_runtime_loading_the_routes_are_not_there(vllm, http, tmp_path):
    adapter = untrained_adapter(tmp_path / "ft-b")
    http.post("/v1/load_lora_adapter", json={"lora_name": "ft-b", "lora_path": str(adapter)}).raise_for_status()
    vllm.restart()
    assert [card["id"] for card in http.get("/v1/models").json()["data"]] == ["tiny-llama"]
    vllm.runtime_lora_updating = False
    off = http.post("/v1/load_lora_adapter", json={"lora_name": "ft-b", "lora_path": str(adapter)})
    assert off.status_code == 404 and off.json() == {"detail": "Not Found"}
