"""The Together AI stand-in, driven over HTTP with plain httpx and a ManualClock instead of sleeps."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from sandbox.clock import ManualClock
from sandbox.together_stub import DEFAULT_JOB_ERROR, TogetherDurations, TogetherStub

KEY = "tg-stub-test-key-0123456789"
PRODUCTS = ["bamboo cutting board", "water bottle", "office chair", "headphones", "keyboard", "kettle"]


def sft_jsonl() -> bytes:
    rows = [{"messages": [{"role": "system", "content": "You review products."},
                          {"role": "user", "content": f"Review this product: {product}."},
                          {"role": "assistant", "content": f"Ahoy! This {product} be treasure, matey.", "weight": 1}]}
            for product in PRODUCTS]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def dpo_jsonl() -> bytes:
    rows = [{"input": {"messages": [{"role": "user", "content": f"Review {product}"}]},
             "preferred_output": [{"role": "assistant", "content": f"Ahoy, {product}!"}],
             "non_preferred_output": [{"role": "assistant", "content": "It is fine."}]} for product in PRODUCTS]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[TogetherStub]:
    with TogetherStub(clock, api_key=KEY, durations=TogetherDurations()) as running:
        yield running


@pytest.fixture
def api(stub: TogetherStub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stub.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
        yield client


def upload(api: httpx.Client, content: bytes | None = None, name: str = "train.jsonl") -> str:
    answer = api.post("/files/upload", files={"file": (name, content or sft_jsonl())},
                      data={"purpose": "fine-tune", "file_name": name})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def create(api: httpx.Client, **body: Any) -> httpx.Response:
    if "training_file" not in body:
        body["training_file"] = upload(api)
    return api.post("/fine-tunes", json={"model": "Qwen/Qwen3-8B", **body})


def completed_job(api: httpx.Client, clock: ManualClock, **body: Any) -> dict[str, Any]:
    job_id = create(api, **body).json()["id"]
    clock.advance(3600)
    job = api.get(f"/fine-tunes/{job_id}").json()
    assert job["status"] == "completed"
    return dict(job)


def chat(api: httpx.Client, model: str, **extra: Any) -> httpx.Response:
    return api.post("/chat/completions", json={"model": model, "messages": [
        {"role": "user", "content": "Review this product: hiking backpack."}], **extra})


# ----- auth and errors ------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_in_togethers_error_shape(stub: TogetherStub) -> None:
    wrong = httpx.get(f"{stub.base_url}/fine-tunes", headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": {"message": "Invalid API key provided. You can find your API key at "
                                                 "https://api.together.xyz/settings/api-keys.",
                                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
    missing = httpx.get(f"{stub.base_url}/fine-tunes")
    assert missing.status_code == 401 and missing.json()["error"]["message"]


def test_an_unknown_url_is_404(api: httpx.Client) -> None:
    assert api.get("/fine_tuning/jobs").status_code == 404


# ----- files ------------------------------------------------------------------------------------------


def test_files_upload_as_multipart_and_read_back(api: httpx.Client) -> None:
    file_id = upload(api)
    assert file_id.startswith("file-")
    shown = api.get(f"/files/{file_id}").json()
    assert shown["object"] == "file" and shown["purpose"] == "fine-tune" and shown["filename"] == "train.jsonl"
    assert shown["bytes"] == len(sft_jsonl()) and shown["FileType"] == "jsonl" and shown["Processed"] is True
    assert [f["id"] for f in api.get("/files").json()["data"]] == [file_id]
    alias = api.post("/files", files={"file": ("b.jsonl", sft_jsonl())}, data={"purpose": "fine-tune", "file_name": "b.jsonl"})
    assert alias.status_code == 200


def test_a_file_is_deleted_in_togethers_shape_and_a_second_delete_is_404(api: httpx.Client, stub: TogetherStub) -> None:
    file_id = upload(api)
    deleted = api.delete(f"/files/{file_id}")
    assert deleted.status_code == 200 and deleted.json() == {"id": file_id, "deleted": True}
    assert stub.file_ids == [] and api.get(f"/files/{file_id}").status_code == 404
    again = api.delete(f"/files/{file_id}")
    assert again.status_code == 404 and "message" in again.json()["error"]


def test_an_upload_needs_its_file_name_and_a_known_purpose(api: httpx.Client) -> None:
    no_name = api.post("/files/upload", files={"file": ("a.jsonl", b"{}")}, data={"purpose": "fine-tune"})
    assert no_name.status_code == 400 and no_name.json()["error"]["param"] == "file_name"
    bad_purpose = api.post("/files/upload", files={"file": ("a.jsonl", b"{}")}, data={"purpose": "x", "file_name": "a.jsonl"})
    assert bad_purpose.status_code == 400
    assert api.get("/files/file-nope").status_code == 404


# ----- fine-tuning jobs -------------------------------------------------------------------------------


def test_a_created_job_answers_the_truncated_shape(api: httpx.Client) -> None:
    answer = create(api, suffix="reviewer", n_epochs=2)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["id"].startswith("ft-") and job["status"] == "pending" and job["events"] == []
    assert job["suffix"] == "reviewer" and job["n_epochs"] == 2 and job["model"] == "Qwen/Qwen3-8B"
    assert job["model_output_name"] == f"sandbox-user/Qwen/Qwen3-8B:reviewer:{job['id']}"
    assert job["training_method"]["method"] == "sft" and job["training_type"]["type"] == "Lora"


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "gpt-4o-mini"}, "model"),
    ({"training_file": "file-nope"}, "training_file"),
    ({"suffix": "x" * 41}, "suffix"),
    ({"suffix": "has spaces"}, "suffix"),
    ({"n_epochs": 0}, "n_epochs"),
    ({"training_method": {"method": "rlhf"}}, "training_method"),
    ({"training_method": {"method": "dpo"}}, "training_file"),  # a conversational file cannot train DPO
])
def test_a_bad_create_is_a_400_naming_the_parameter(api: httpx.Client, stub: TogetherStub, body: dict[str, Any],
                                                     param: str) -> None:
    answer = create(api, **body)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param
    assert stub.job_count == 0


def test_a_dpo_job_takes_preference_rows(api: httpx.Client) -> None:
    answer = create(api, training_file=upload(api, dpo_jsonl()), training_method={"method": "dpo", "dpo_beta": 0.2})
    assert answer.status_code == 200 and answer.json()["training_method"] == {"method": "dpo", "dpo_beta": 0.2}


def test_a_job_moves_through_togethers_statuses_with_the_clock(api: httpx.Client, clock: ManualClock) -> None:
    job_id = create(api).json()["id"]
    seen = []
    for _ in range(12):
        seen.append(api.get(f"/fine-tunes/{job_id}").json()["status"])
        clock.advance(10)
    assert list(dict.fromkeys(seen)) == ["pending", "queued", "running", "compressing", "uploading", "completed"]
    job = api.get(f"/fine-tunes/{job_id}").json()
    types = [event["type"] for event in job["events"]]
    assert types[0] == "job_pending" and types[-1] == "job_complete" and "epoch_complete" in types
    assert all(event["object"] == "fine-tune-event" and event["message"] for event in job["events"])
    assert job["epochs_completed"] == 1 and job["events"][-1]["step"] == job["events"][-1]["total_steps"] == 1
    assert api.get(f"/fine-tunes/{job_id}/events").json()["data"] == job["events"]


def test_metrics_log_a_falling_train_loss(api: httpx.Client, clock: ManualClock) -> None:
    content = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                               {"role": "assistant", "content": f"a{i}"}]}) + "\n" for i in range(40))
    job = completed_job(api, clock, training_file=upload(api, content.encode()), n_epochs=2)
    metrics = api.get(f"/fine-tunes/{job['id']}/metrics").json()["metrics"]
    assert [m["train/global_step"] for m in metrics] == list(range(1, 11))  # 40 examples / batch 8 * 2 epochs
    losses = [m["train/loss"] for m in metrics]
    assert losses == sorted(losses, reverse=True)


def test_statuses_never_go_back_when_the_clock_does(api: httpx.Client, clock: ManualClock) -> None:
    job_id = create(api).json()["id"]
    clock.advance(30)
    assert api.get(f"/fine-tunes/{job_id}").json()["status"] == "running"
    clock.advance(-30)
    assert api.get(f"/fine-tunes/{job_id}").json()["status"] == "running"


def test_a_job_made_to_fail_ends_in_error_with_a_job_error_event(api: httpx.Client, stub: TogetherStub,
                                                                   clock: ManualClock) -> None:
    stub.fail_next_job("Training failed: the dataset has no trainable tokens.")
    job_id = create(api).json()["id"]
    clock.advance(3600)
    job = api.get(f"/fine-tunes/{job_id}").json()
    assert job["status"] == "error"
    assert job["events"][-1] == {**job["events"][-1], "type": "job_error", "level": "error",
                                 "message": "Training failed: the dataset has no trainable tokens."}
    second = create(api).json()["id"]
    clock.advance(3600)
    assert api.get(f"/fine-tunes/{second}").json()["status"] == "completed"
    assert DEFAULT_JOB_ERROR


def test_cancel_requests_then_cancels_and_an_ended_job_cannot_be_cancelled(api: httpx.Client, clock: ManualClock) -> None:
    job_id = create(api).json()["id"]
    clock.advance(20)
    assert api.post(f"/fine-tunes/{job_id}/cancel").json()["status"] == "cancel_requested"
    clock.advance(10)
    job = api.get(f"/fine-tunes/{job_id}").json()
    assert job["status"] == "cancelled" and [e["type"] for e in job["events"]][-2:] == ["cancel_requested", "job_stopped"]
    clock.advance(3600)
    assert api.get(f"/fine-tunes/{job_id}").json()["status"] == "cancelled"
    refused = api.post(f"/fine-tunes/{job_id}/cancel")
    assert refused.status_code == 400 and "cancelled" in refused.json()["error"]["message"]


def test_the_list_shows_every_job_newest_first_with_its_suffix(api: httpx.Client) -> None:
    first, second = create(api, suffix="one").json()["id"], create(api, suffix="two").json()["id"]
    listed = api.get("/fine-tunes").json()["data"]
    assert [(job["id"], job["suffix"]) for job in listed] == [(second, "two"), (first, "one")]


@pytest.mark.parametrize("path", ["/fine-tunes/ft-nope", "/fine-tunes/ft-nope/events", "/fine-tunes/ft-nope/metrics"])
def test_an_unknown_job_is_404(api: httpx.Client, path: str) -> None:
    answer = api.get(path)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert api.post("/fine-tunes/ft-nope/cancel").status_code == 404


# ----- failures on demand -----------------------------------------------------------------------------


def test_the_next_calls_answer_the_status_asked_for_then_recover(api: httpx.Client, stub: TogetherStub) -> None:
    stub.fail_next(500, count=2)
    assert [api.get("/fine-tunes").status_code for _ in range(3)] == [500, 500, 200]
    stub.fail_next(429)
    limited = api.get("/models")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    stub.fail_next(403, route="fine-tunes.create")
    assert api.get("/fine-tunes").status_code == 200  # another route is not touched
    assert create(api).status_code == 403


def test_refused_fine_tuning_is_a_403_until_allowed(api: httpx.Client, stub: TogetherStub) -> None:
    stub.refuse_fine_tuning()
    refused = create(api)
    assert refused.status_code == 403 and refused.json()["error"]["message"] and stub.job_count == 0
    stub.allow_fine_tuning()
    assert create(api).status_code == 200


def test_a_lost_answer_still_creates_the_job(api: httpx.Client, stub: TogetherStub) -> None:
    stub.lose_next_answer("fine-tunes.create", status=502)
    assert create(api, suffix="lost").status_code == 502
    assert stub.job_count == 1 and api.get("/fine-tunes").json()["data"][0]["suffix"] == "lost"


# ----- serving ----------------------------------------------------------------------------------------


def test_a_base_model_answers_plain_and_streamed(api: httpx.Client) -> None:
    plain = chat(api, "Qwen/Qwen3-8B")
    assert plain.status_code == 200
    answer = plain.json()
    text = answer["choices"][0]["message"]["content"]
    assert answer["object"] == "chat.completion" and answer["model"] == "Qwen/Qwen3-8B" and text
    with api.stream("POST", "/chat/completions", json={"model": "Qwen/Qwen3-8B", "stream": True, "messages": [
            {"role": "user", "content": "Review this product: hiking backpack."}]}) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert "".join(chunk["choices"][0]["delta"]["content"] for chunk in chunks) == text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["total_tokens"] > 0


def test_unknown_and_undeployed_models_are_404(api: httpx.Client, clock: ManualClock) -> None:
    assert chat(api, "nobody/no-model").status_code == 404
    job = completed_job(api, clock)
    undeployed = chat(api, job["model_output_name"])
    assert undeployed.status_code == 404 and "dedicated endpoint" in undeployed.json()["error"]["message"]
    assert job["model_output_name"] in [model["id"] for model in api.get("/models").json()]


def test_hardware_is_listed_for_a_deployable_model_only(api: httpx.Client, clock: ManualClock) -> None:
    job = completed_job(api, clock)
    offers = api.get("/hardware", params={"model": job["model_output_name"]}).json()["data"]
    assert offers and all(offer["object"] == "hardware" and offer["pricing"]["cents_per_minute"] > 0 for offer in offers)
    reference = completed_job(api, clock, model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    assert api.get("/hardware", params={"model": reference["model_output_name"]}).status_code == 404
    assert api.get("/hardware", params={"model": f"{job['model_output_name']}-not"}).status_code == 404


def test_a_dedicated_endpoint_starts_with_the_clock_and_serves_the_fine_tuned_model(api: httpx.Client,
                                                                                    clock: ManualClock) -> None:
    job = completed_job(api, clock)
    created = api.post("/endpoints", json={"model": job["model_output_name"], "hardware": "1x_nvidia_h100_80gb_sxm",
                                           "autoscaling": {"min_replicas": 1, "max_replicas": 1}})
    assert created.status_code == 200, created.text
    endpoint = created.json()
    assert endpoint["id"].startswith("endpoint-") and endpoint["state"] == "PENDING" and endpoint["type"] == "dedicated"
    assert endpoint["name"].startswith("sandbox-user/Qwen/Qwen3-8B:") and endpoint["model"] == job["model_output_name"]
    assert chat(api, endpoint["name"]).status_code == 400  # not running yet
    clock.advance(20)
    assert api.get(f"/endpoints/{endpoint['id']}").json()["state"] == "STARTING"
    clock.advance(3600)
    assert api.get(f"/endpoints/{endpoint['id']}").json()["state"] == "STARTED"
    tuned = chat(api, endpoint["name"]).json()["choices"][0]["message"]["content"]
    base = chat(api, "Qwen/Qwen3-8B").json()["choices"][0]["message"]["content"]
    assert tuned != base and "matey" in tuned.lower()
    mine = api.get("/endpoints", params={"type": "dedicated", "mine": "true"}).json()["data"]
    assert [(e["id"], e["state"]) for e in mine] == [(endpoint["id"], "STARTED")]
    assert any(e["type"] == "serverless" for e in api.get("/endpoints").json()["data"])


def test_an_endpoint_stops_starts_and_is_deleted(api: httpx.Client, clock: ManualClock) -> None:
    job = completed_job(api, clock)
    endpoint = api.post("/endpoints", json={"model": job["model_output_name"], "hardware": "1x_nvidia_h200_140gb_sxm",
                                            "autoscaling": {"min_replicas": 1, "max_replicas": 2}}).json()
    clock.advance(3600)
    assert api.patch(f"/endpoints/{endpoint['id']}", json={"state": "STOPPED"}).json()["state"] == "STOPPING"
    clock.advance(60)
    assert api.get(f"/endpoints/{endpoint['id']}").json()["state"] == "STOPPED"
    assert chat(api, endpoint["name"]).status_code == 400
    assert api.patch(f"/endpoints/{endpoint['id']}", json={"state": "STARTED"}).json()["state"] == "PENDING"
    clock.advance(3600)
    assert chat(api, endpoint["name"]).status_code == 200
    assert api.delete(f"/endpoints/{endpoint['id']}").status_code == 204
    assert api.get(f"/endpoints/{endpoint['id']}").status_code == 404


def test_endpoint_creation_checks_model_hardware_and_autoscaling(api: httpx.Client, stub: TogetherStub,
                                                                 clock: ManualClock) -> None:
    job = completed_job(api, clock)
    good = {"model": job["model_output_name"], "hardware": "1x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1}}
    assert api.post("/endpoints", json={**good, "hardware": "8x_abacus"}).status_code == 400
    assert api.post("/endpoints", json={**good, "autoscaling": {"min_replicas": 2, "max_replicas": 1}}).status_code == 400
    assert api.post("/endpoints", json={**good, "model": "someone/else:ft-x"}).status_code == 404
    stub.fail_next_endpoint()
    failing = api.post("/endpoints", json=good).json()
    clock.advance(3600)
    assert api.get(f"/endpoints/{failing['id']}").json()["state"] == "ERROR"
