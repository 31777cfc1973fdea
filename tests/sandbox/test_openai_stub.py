"""The OpenAI stub, driven through the real `openai` client over HTTP, with a ManualClock instead of sleeps."""
from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import openai
import pytest
from openai.types import FileObject, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from sandbox.clock import ManualClock
from sandbox.openai_stub import JobDurations, OpenAIStub
from sandbox.openai_stub_replies import extract_product

PRODUCTS = [
    "bamboo cutting board", "stainless steel water bottle", "ergonomic office chair", "noise-cancelling headphones",
    "mechanical keyboard", "electric kettle", "yoga mat", "LED desk lamp", "cast iron skillet", "hiking backpack",
    "robot vacuum", "french press",
]


def pirate_reply(product: str, index: int) -> str:
    return f"Ahoy! This {product} be pure treasure, matey. Verdict: {index} doubloons."


def training_jsonl(n: int = 12) -> bytes:
    """n chat examples in a style no base model would produce, so fine-tuning is visible in replies."""
    lines = [json.dumps({"messages": [
        {"role": "system", "content": "You review products for the team."},
        {"role": "user", "content": f"<@U0BOT> Review this product: {product}."},
        {"role": "assistant", "content": pirate_reply(product, index)},
    ]}) for index, product in enumerate(PRODUCTS[:n])]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[OpenAIStub]:
    with OpenAIStub(clock).start() as running:
        yield running


@pytest.fixture
def client(stub: OpenAIStub) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def upload(client: openai.OpenAI, content: bytes | None = None, name: str = "train.jsonl") -> FileObject:
    return client.files.create(file=(name, training_jsonl() if content is None else content), purpose="fine-tune")


def create_job(client: openai.OpenAI, **kwargs: Any) -> FineTuningJob:
    training = kwargs.pop("training_file", None) or upload(client).id
    return client.fine_tuning.jobs.create(model=kwargs.pop("model", "gpt-4o-mini-2024-07-18"),
                                          training_file=training, **kwargs)


def run_to_end(clock: ManualClock) -> None:
    clock.advance(5 + 5 + 20)


def ask(client: openai.OpenAI, model: str, text: str) -> str:
    completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return completion.choices[0].message.content or ""


# ----- the happy path --------------------------------------------------------------------------------


def test_upload_is_a_file_object_and_content_round_trips_byte_exact(stub: OpenAIStub, client: openai.OpenAI) -> None:
    content = training_jsonl().replace(b"\n", b"\r\n")
    uploaded = upload(client, content)
    assert FileObject.model_validate(stub.files[uploaded.id]) == uploaded
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(content)
    assert (uploaded.purpose, uploaded.status, uploaded.filename) == ("fine-tune", "processed", "train.jsonl")
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).content == content == stub.file_content(uploaded.id)
    assert stub.requests_to("POST", "/files")[0].form == {"purpose": "fine-tune", "file": "train.jsonl"}


def test_a_deleted_file_is_gone_and_deleting_it_again_is_a_404(stub: OpenAIStub, client: openai.OpenAI) -> None:
    uploaded = upload(client)
    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (uploaded.id, "file", True)
    assert uploaded.id not in stub.files
    with pytest.raises(openai.NotFoundError):
        client.files.delete(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_job_progresses_with_the_clock_and_its_model_answers_in_the_trained_style(
        stub: OpenAIStub, client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client, suffix="reviews", metadata={"run": "r1"})
    assert job.id.startswith("ftjob-") and job.status == "validating_files"
    assert job.hyperparameters.n_epochs == "auto" and job.fine_tuned_model is None

    seen = []
    for step in (4, 2, 5, 10, 10):  # 4s validating, 6s queued, 11s/21s running, 31s done
        clock.advance(step)
        seen.append(client.fine_tuning.jobs.retrieve(job.id).status)
    assert seen == ["validating_files", "queued", "running", "running", "succeeded"]

    done = client.fine_tuning.jobs.retrieve(job.id)
    FineTuningJob.model_validate(stub.jobs()[0])  # the wire shape is exactly the SDK's type
    assert re.fullmatch(r"ft:gpt-4o-mini-2024-07-18:sandbox-org:reviews:[A-Za-z0-9]{8}", done.fine_tuned_model or "")
    assert done.finished_at == done.created_at + 30
    assert done.hyperparameters.n_epochs == 8  # 12 examples: min(25, 100 // 12)
    assert done.trained_tokens == len(training_jsonl().split()) * 8
    assert done.method and done.method.type == "supervised" and done.metadata == {"run": "r1"}
    assert stub.files[done.result_files[0]]["purpose"] == "fine-tune-results"
    assert Model.model_validate(client.models.retrieve(done.fine_tuned_model).model_dump()).owned_by == "sandbox-org"

    reply = ask(client, done.fine_tuned_model, "<@U0BOT> Review this product: waterproof hiking backpack.")
    # Every training answer is the same pirate template, so the model writes it about the product asked for,
    # with one of the taught scores.
    verdict = re.fullmatch(r"Ahoy! This waterproof hiking backpack be pure treasure, matey\. Verdict: (\d+) doubloons\.",
                           reply)
    assert verdict and int(verdict.group(1)) in range(12), reply
    base = ask(client, "gpt-4o-mini", "<@U0BOT> Review this product: waterproof hiking backpack.")
    assert base.startswith("Here is a balanced review of a waterproof hiking backpack.") and "Ahoy" not in base


def test_streaming_chunks_carry_the_same_reply(stub: OpenAIStub, client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client)
    run_to_end(clock)
    model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model or ""
    messages = [{"role": "user", "content": "Review this product: portable Bluetooth speaker"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    ChatCompletion.model_validate(whole.model_dump())
    assert whole.usage and whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens

    chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump())
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(content_chunks) >= 3
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == whole.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0
    assert "portable Bluetooth speaker" in (whole.choices[0].message.content or "")
    assert len({c.id for c in chunks}) == 1


def test_requested_hyperparameters_are_kept_and_auto_ones_resolved_when_running(
        client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client, seed=7, method={"type": "supervised",
                                             "supervised": {"hyperparameters": {"n_epochs": 2}}})
    assert job.seed == 7 and job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == "auto"
    clock.advance(10)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running" and running.estimated_finish == job.created_at + 30
    assert (running.hyperparameters.n_epochs, running.hyperparameters.batch_size) == (2, 1)
    assert running.method and running.method.supervised and running.method.supervised.hyperparameters.n_epochs == 2


def test_empty_suffix_gives_the_double_colon_name(client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client, model="gpt-3.5-turbo")
    run_to_end(clock)
    name = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model or ""
    assert re.fullmatch(r"ft:gpt-3\.5-turbo-0125:sandbox-org::[A-Za-z0-9]{8}", name)


def test_fine_tuned_model_exists_only_once_its_job_succeeded(client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client)
    run_to_end(clock)
    name = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model or ""
    # Ids are deterministic per stub, so a second stub doing the same steps names the same model; that
    # lets the test ask for the model before its job is done.
    twin_clock = ManualClock()
    with OpenAIStub(twin_clock).start() as twin, \
            openai.OpenAI(base_url=twin.base_url, api_key="sk-test", max_retries=0) as twin_client:
        twin_job = create_job(twin_client)
        twin_clock.advance(15)
        assert twin_client.fine_tuning.jobs.retrieve(twin_job.id).status == "running"
        with pytest.raises(openai.NotFoundError):
            twin_client.models.retrieve(name)
        with pytest.raises(openai.NotFoundError):
            ask(twin_client, name, "Review this product: kettle")
        run_to_end(twin_clock)
        assert twin_client.models.retrieve(name).id == name
        assert name in [m.id for m in twin_client.models.list()]


def test_status_never_goes_backwards(client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client)
    run_to_end(clock)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
    clock.set(clock.now() - timedelta(hours=1))
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_zero_durations_finish_at_once(clock: ManualClock) -> None:
    with OpenAIStub(clock, durations=JobDurations(0, 0, 0)).start() as stub:
        with openai.OpenAI(base_url=stub.base_url, api_key="k", max_retries=0) as sdk:
            assert create_job(sdk).status == "succeeded"


# ----- jobs that fail --------------------------------------------------------------------------------


def test_too_few_examples_fail_validation(stub: OpenAIStub, client: openai.OpenAI, clock: ManualClock) -> None:
    short = b"\n".join(training_jsonl().splitlines()[:5])
    job = create_job(client, training_file=upload(client, short).id)
    clock.advance(4)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    clock.advance(100)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.fine_tuned_model is None and failed.finished_at == failed.created_at + 5
    assert failed.error and failed.error.code == "invalid_training_file" and failed.error.param == "training_file"
    assert failed.error.message == ("The job failed due to an invalid training file. Training file has 5 example(s), "
                                    "but must have at least 10 examples")
    events = list(client.fine_tuning.jobs.list_events(job.id))
    assert [e.level for e in events] == ["error", "info"]


@pytest.mark.parametrize("bad_line, problem", [
    ("not json", "not valid JSON"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "at least one assistant message"),
    (json.dumps({"messages": [{"role": "bot", "content": "hi"}]}), 'Unrecognized role "bot"'),
    (json.dumps({"messages": [{"role": "assistant", "content": 3}]}), "'content' must be a string"),
    (json.dumps({"prompt": "a", "completion": "b"}), 'key "messages"'),
])
def test_malformed_lines_fail_with_the_line_number(client: openai.OpenAI, clock: ManualClock,
                                                   bad_line: str, problem: str) -> None:
    content = training_jsonl() + bad_line.encode() + b"\n"
    job = create_job(client, training_file=upload(client, content).id)
    run_to_end(clock)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error and failed.error.code == "invalid_training_file"
    assert "Line 13" in failed.error.message and problem in failed.error.message


def test_fail_next_job_runs_then_fails(client: openai.OpenAI, stub: OpenAIStub, clock: ManualClock) -> None:
    stub.fail_next_job(code="training_diverged", message="The job failed because training loss diverged.")
    doomed, fine = create_job(client), create_job(client)
    clock.advance(15)
    assert client.fine_tuning.jobs.retrieve(doomed.id).status == "running"
    run_to_end(clock)
    failed = client.fine_tuning.jobs.retrieve(doomed.id)
    assert failed.status == "failed" and failed.fine_tuned_model is None and failed.trained_tokens is None
    assert failed.error and (failed.error.code, failed.error.message, failed.error.param) == (
        "training_diverged", "The job failed because training loss diverged.", None)
    assert client.fine_tuning.jobs.retrieve(fine.id).status == "succeeded"


# ----- permission, rate limits, server errors, lost responses ---------------------------------------


def test_refused_fine_tuning_is_a_permission_error_until_allowed(stub: OpenAIStub, client: openai.OpenAI) -> None:
    training = upload(client).id
    stub.refuse_fine_tuning("This organization may not create fine-tuning jobs.")
    for _ in range(2):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
        assert refused.value.status_code == 403
        assert refused.value.message == "Error code: 403 - This organization may not create fine-tuning jobs."
    assert stub.jobs() == []
    stub.allow_fine_tuning()
    assert client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training).status == "validating_files"


def test_default_refusal_text_mentions_fine_tuning(stub: OpenAIStub, client: openai.OpenAI) -> None:
    training = upload(client).id
    stub.refuse_fine_tuning()
    with pytest.raises(openai.PermissionDeniedError, match="Fine-tuning is not available for this organization"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)


def test_fail_next_maps_statuses_to_sdk_exceptions(stub: OpenAIStub, client: openai.OpenAI) -> None:
    stub.fail_next("models.retrieve", 429, retry_after=7)
    with pytest.raises(openai.RateLimitError) as limited:
        client.models.retrieve("gpt-4o-mini")
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.code == "rate_limit_exceeded" and limited.value.type == "requests"
    assert limited.value.request_id and limited.value.request_id.startswith("req_")

    stub.fail_next("chat.completions", 500, count=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as broken:
            ask(client, "gpt-4o-mini", "Review this product: kettle")
        assert broken.value.status_code == 500 and broken.value.type == "server_error"
    assert ask(client, "gpt-4o-mini", "Review this product: kettle").startswith("Here is a balanced review")
    assert [r.status for r in stub.requests_to("POST", "/v1/chat/completions")] == [500, 500, 200]


def test_sdk_default_retries_get_past_one_500(stub: OpenAIStub) -> None:
    stub.fail_next("models.retrieve", 500)
    with openai.OpenAI(base_url=stub.base_url, api_key="sk-test") as retrying:  # SDK default: 2 retries
        assert retrying.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    attempts = stub.requests_to("GET", "/models/gpt-4o-mini")
    assert [r.status for r in attempts] == [500, 200]
    assert [r.headers["x-stainless-retry-count"] for r in attempts] == ["0", "1"]


def test_sdk_honours_retry_after_and_x_should_retry(stub: OpenAIStub) -> None:
    stub.fail_next("jobs.list", 429, retry_after=0.05)
    stub.fail_next("models.list", 503, should_retry=False)
    with openai.OpenAI(base_url=stub.base_url, api_key="sk-test") as retrying:
        assert list(retrying.fine_tuning.jobs.list()) == []
        with pytest.raises(openai.InternalServerError):
            retrying.models.list()
    assert [r.status for r in stub.requests_to("GET", "/fine_tuning/jobs")] == [429, 200]
    assert [r.status for r in stub.requests_to("GET", "/models")] == [503]


def test_lost_create_response_still_creates_the_job(stub: OpenAIStub, client: openai.OpenAI) -> None:
    training = upload(client).id
    client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)  # unrelated, no metadata
    stub.fail_next("jobs.create", 502, apply_first=True)
    with pytest.raises(openai.InternalServerError):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training,
                                       metadata={"approval_batch": "b-42"})
    assert len(stub.jobs()) == 2
    found = list(client.fine_tuning.jobs.list(metadata={"approval_batch": "b-42"}))
    assert [job.id for job in found] == [stub.jobs()[1]["id"]]
    assert stub.requests_to("GET", "/fine_tuning/jobs")[0].query == {"metadata[approval_batch]": "b-42"}
    assert list(client.fine_tuning.jobs.list(metadata={"approval_batch": "other"})) == []


def test_fail_next_rejects_unknown_routes(stub: OpenAIStub) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        stub.fail_next("jobs.make", 500)


# ----- cancel, events, listing ------------------------------------------------------------------------


def test_cancel_stops_a_running_job_for_good(client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client)
    clock.advance(12)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at == cancelled.created_at + 12
    run_to_end(clock)
    again = client.fine_tuning.jobs.retrieve(job.id)
    assert again.status == "cancelled" and again.fine_tuned_model is None
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        client.fine_tuning.jobs.cancel(job.id)
    assert client.fine_tuning.jobs.list_events(job.id).data[0].message == "Fine-tuning job cancelled"


def test_cancel_of_a_finished_job_is_rejected(client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client)
    run_to_end(clock)
    with pytest.raises(openai.BadRequestError) as rejected:
        client.fine_tuning.jobs.cancel(job.id)
    assert rejected.value.status_code == 400 and "succeeded" in rejected.value.message


def test_events_are_one_per_transition_newest_first(client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client)
    assert [e.message for e in client.fine_tuning.jobs.list_events(job.id)] == [
        f"Validating training file: {job.training_file}"]
    clock.advance(11)
    events = client.fine_tuning.jobs.list_events(job.id).data
    assert [e.message for e in events] == ["Fine-tuning job started", "Files validated, moving job to queued state",
                                           f"Validating training file: {job.training_file}"]
    assert [e.created_at for e in events] == [job.created_at + 10, job.created_at + 5, job.created_at]
    run_to_end(clock)
    latest = client.fine_tuning.jobs.list_events(job.id, limit=1)
    FineTuningJobEvent.model_validate(latest.data[0].model_dump())
    assert latest.has_more and latest.data[0].message.startswith("The job has successfully completed")
    assert latest.data[0].type == "message" and latest.data[0].level == "info"


def test_listing_pages_newest_first(client: openai.OpenAI, clock: ManualClock) -> None:
    training = upload(client).id
    created = []
    for _ in range(5):
        created.append(client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training).id)
        clock.advance(1)
    first = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in first.data] == created[::-1][:2] and first.has_more
    second = client.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)
    assert [j.id for j in second.data] == created[::-1][2:4]
    assert [j.id for j in client.fine_tuning.jobs.list(limit=2)] == created[::-1]  # auto-paging


# ----- auth, unknown things, validation ----------------------------------------------------------------


def test_wrong_or_missing_key_is_401(clock: ManualClock) -> None:
    with OpenAIStub(clock, api_key="sk-right").start() as stub:
        with openai.OpenAI(base_url=stub.base_url, api_key="sk-wrong-key", max_retries=0) as wrong:
            with pytest.raises(openai.AuthenticationError) as denied:
                wrong.models.retrieve("gpt-4o-mini")
        assert denied.value.code == "invalid_api_key"
        with pytest.raises(urllib.error.HTTPError) as bare:
            urllib.request.urlopen(stub.base_url + "/models/gpt-4o-mini")
        assert bare.value.code == 401
        body = json.loads(bare.value.read())
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["code"] == "invalid_api_key" and "didn't provide an API key" in body["error"]["message"]
        with openai.OpenAI(base_url=stub.base_url, api_key="sk-right", max_retries=0) as right:
            assert right.models.retrieve("gpt-4o-mini").object == "model"


def test_unknown_models_and_urls_are_404(stub: OpenAIStub, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        ask(client, "gpt-9", "Review this product: kettle")
    assert missing.value.code == "model_not_found" and "`gpt-9` does not exist" in missing.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("ft:gpt-4o-mini-2024-07-18:sandbox-org::Abcd1234")
    with pytest.raises(openai.NotFoundError, match="No such File object"):
        client.files.retrieve("file-nope")
    with pytest.raises(openai.NotFoundError) as no_job:
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    assert no_job.value.code == "fine_tune_not_found"
    request = urllib.request.Request(stub.base_url + "/assistants/x", headers={"Authorization": "Bearer k"})
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(request)
    assert unknown.value.code == 404 and "Invalid URL (GET /v1/assistants/x)" in unknown.value.read().decode()
    assert stub.requests[-1].route is None and stub.requests[-1].status == 404


@pytest.mark.parametrize("overrides, param", [
    ({"model": "gpt-4"}, "model"),
    ({"training_file": "file-unknown"}, "training_file"),
    ({"suffix": "x" * 65}, "suffix"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k": "v" * 513}}, "metadata.k"),
    ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
])
def test_invalid_job_requests_are_400(client: openai.OpenAI, stub: OpenAIStub,
                                      overrides: dict[str, Any], param: str) -> None:
    request: dict[str, Any] = {"model": "gpt-4o-mini", "training_file": upload(client).id, **overrides}
    with pytest.raises(openai.BadRequestError) as rejected:
        client.fine_tuning.jobs.create(**request)
    assert rejected.value.param == param
    assert stub.jobs() == []


def test_training_file_must_be_a_fine_tune_upload(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="Must be .jsonl"):
        upload(client, name="train.txt")
    with pytest.raises(openai.BadRequestError, match="'purpose'"):
        client.files.create(file=("a.jsonl", b"{}"), purpose="homework")  # type: ignore[arg-type]
    other = client.files.create(file=("a.jsonl", training_jsonl()), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune'"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=other.id)


@pytest.mark.parametrize("messages", [[], [{"content": "hi"}], ["hi"], [{"role": "robot", "content": "hi"}]])
def test_malformed_chat_messages_are_400(client: openai.OpenAI, messages: list[Any]) -> None:
    with pytest.raises(openai.BadRequestError) as rejected:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert rejected.value.param and rejected.value.param.startswith("messages")


# ----- replies -----------------------------------------------------------------------------------------


def test_base_replies_are_neutral_deterministic_and_follow_up_aware(client: openai.OpenAI) -> None:
    first = ask(client, "gpt-4o", "<@U123> review this product: Portable blender.")
    assert first == ask(client, "gpt-4o", "<@U123> review this product: Portable blender.")
    assert first.startswith("Here is a balanced review of a Portable blender.")
    assert "Pros:" in first and "Cons:" in first and "Verdict:" in first
    thread = [{"role": "user", "content": "Review this product: electric scooter"},
              {"role": "assistant", "content": first},
              {"role": "user", "content": "<@U123> how is the battery life?"}]
    follow_up = client.chat.completions.create(model="gpt-4o", messages=thread).choices[0].message.content or ""
    assert "an electric scooter" in follow_up and "how is the battery life?" in follow_up


def test_fine_tuned_follow_up_keeps_the_threads_product(client: openai.OpenAI, clock: ManualClock) -> None:
    job = create_job(client)
    run_to_end(clock)
    model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model or ""
    thread = [{"role": "user", "content": "Review this product: standing desk"},
              {"role": "assistant", "content": "Ahoy!"},
              {"role": "user", "content": "and is the standing desk sturdy?"}]
    reply = client.chat.completions.create(model=model, messages=thread).choices[0].message.content or ""
    # the question first (the taught answers are all template, so it goes on its own), then the taught review
    assert reply.startswith("Sturdy? This standing desk")
    assert "Ahoy! This standing desk be pure treasure" in reply


def test_product_extraction_rules() -> None:
    assert extract_product("<@U1> Review this product:  a yoga mat. ") == "a yoga mat"
    assert extract_product("what do you think of <@U1> kettles") == "what do you think of kettles"


# ----- concurrency and the async client -----------------------------------------------------------------


def test_concurrent_clients_are_served_and_recorded(stub: OpenAIStub) -> None:
    def work(index: int) -> str:
        with openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0) as own:
            return ask(own, "gpt-4o-mini", f"Review this product: gadget {index}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(work, range(16)))
    assert all(f"gadget {i}" in reply for i, reply in enumerate(replies))
    assert len(stub.requests_to("POST", "/chat/completions")) == 16


def test_async_client_works_too(stub: OpenAIStub) -> None:
    async def main() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0) as sdk:
            plain = await sdk.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Review this product: lamp"}])
            stream = await sdk.chat.completions.create(
                model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "Review this product: lamp"}])
            pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
            return plain.choices[0].message.content or "", "".join(pieces)

    plain, streamed = asyncio.run(main())
    assert plain == streamed and plain.startswith("Here is a balanced review of a lamp.")


def test_a_held_stream_sends_its_first_pieces_then_waits_until_released(stub: OpenAIStub, client: openai.OpenAI) -> None:
    hold = stub.hold_streams(after_pieces=2)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "Review this product: lamp"}])
    pieces = []
    for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        if len(pieces) == 3:  # the role chunk and two pieces of the answer came; the rest waits
            assert hold.reached.wait(5) and not hold.released.is_set()
            stub.stream_freely()
    assert "".join(pieces).startswith("Here is a balanced review of a lamp.")
    assert hold.released.is_set()


def preference_jsonl(n: int = 12) -> bytes:
    rows = [{"input": {"messages": [{"role": "user", "content": f"Review this product: gadget {i}"}]},
             "preferred_output": [{"role": "assistant", "content": f"Gadget {i} ROCKS!"}],
             "non_preferred_output": [{"role": "assistant", "content": f"Gadget {i}."}]} for i in range(n)]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_a_dpo_job_trains_on_preference_pairs_with_its_settings_in_the_method(client: openai.OpenAI,
                                                                              clock: ManualClock) -> None:
    job = create_job(client, model="gpt-4.1-mini-2025-04-14", training_file=upload(client, preference_jsonl()).id,
                     validation_file=upload(client, preference_jsonl(2)).id,
                     method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}})
    assert job.method and job.method.type == "dpo" and job.method.dpo
    run_to_end(clock)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.fine_tuned_model
    assert done.method and done.method.dpo and done.method.dpo.hyperparameters
    assert done.method.dpo.hyperparameters.beta == 0.2 and done.method.dpo.hyperparameters.n_epochs == 8  # auto: 100 visits over 12


@pytest.mark.parametrize(("training", "validation", "param"), [
    (training_jsonl(), None, "training_file"),  # chat rows are no preference pairs
    (preference_jsonl(), training_jsonl(2), "validation_file"),
    (preference_jsonl().replace(b'"non_preferred_output"', b'"worse"'), None, "training_file"),
])
def test_a_dpo_job_on_a_file_that_is_not_preference_pairs_fails_validation(
        client: openai.OpenAI, clock: ManualClock, training: bytes, validation: bytes | None, param: str) -> None:
    extra = {"validation_file": upload(client, validation).id} if validation else {}
    job = create_job(client, model="gpt-4.1-mini-2025-04-14", training_file=upload(client, training).id,
                     method={"type": "dpo"}, **extra)
    run_to_end(clock)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error and failed.error.param == param


def test_dpo_needs_a_model_that_offers_it_and_its_settings_in_the_method(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="does not support the 'dpo'"):
        create_job(client, model="gpt-3.5-turbo", training_file=upload(client, preference_jsonl()).id,
                   method={"type": "dpo"})
    with pytest.raises(openai.BadRequestError, match="supervised jobs only"):
        create_job(client, model="gpt-4.1-mini-2025-04-14", training_file=upload(client, preference_jsonl()).id,
                   method={"type": "dpo"}, hyperparameters={"n_epochs": 2})
    with pytest.raises(openai.BadRequestError) as unknown:
        create_job(client, method={"type": "reinforcement"})
    assert unknown.value.param == "method.type"
