"""The Together AI backend through its stand-in: status mapping, error sorting, find-by-key, progress, deploy."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from finetune.backend import (
    Backend,
    BackendRefused,
    BackendUnavailable,
    Method,
    NoSuchRun,
    RunStatus,
    TrainingRequest,
)
from finetune.backends.together import (
    DEFAULT_CONTEXT_LENGTH,
    MAX_SUFFIX,
    STATUSES,
    build_together_backend,
    key_marker,
    normalize_status,
    suffix_for,
)
from sandbox.clock import ManualClock
from sandbox.together_stub import TogetherStub
from tests.support.backends import TRAINING_JSONL

KEY = "tg-unit-test-key-abcdef0123456789"
MODEL = "Qwen/Qwen3-8B"
DOCUMENTED = ("pending", "queued", "running", "compressing", "uploading", "cancel_requested", "cancelled", "error",
              "completed")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[TogetherStub]:
    with TogetherStub(clock, api_key=KEY) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def make(stub: TogetherStub, http: httpx.Client, *, api_key: str = KEY, namespace: str = "unit", **options) -> Backend:
    return build_together_backend(http, api_key=api_key, base_url=stub.base_url, namespace=namespace, base_model=MODEL,
                                  **options)


@pytest.fixture
def backend(stub: TogetherStub, http: httpx.Client) -> Backend:
    return make(stub, http)


def submit(backend: Backend, key: str = "job-1", *, model: str = MODEL, **request) -> str:
    trainer = backend.trainer
    file_ref = trainer.stage(f"{key}.jsonl", trainer.write_training_file(TRAINING_JSONL, Method.SFT))
    return trainer.submit(TrainingRequest(key=key, base_model=model, training_file=file_ref, **request)).id


def finished(backend: Backend, clock: ManualClock, key: str = "job-1", **request) -> str:
    run_id = submit(backend, key, **request)
    clock.advance(3600)
    run = backend.trainer.get(run_id)
    assert run.status is RunStatus.SUCCEEDED and run.artifact
    return run.artifact


# ----- statuses ---------------------------------------------------------------------------------------


def test_every_documented_status_has_a_seam_word() -> None:
    assert set(DOCUMENTED) <= set(STATUSES)
    assert [normalize_status(word) for word in DOCUMENTED] == [
        RunStatus.QUEUED, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.RUNNING, RunStatus.RUNNING,
        RunStatus.CANCELLING, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert normalize_status("COMPLETED") is RunStatus.SUCCEEDED


@pytest.mark.parametrize("word", ["paused_for_maintenance", "", "validating", None, 3])
def test_an_unknown_status_is_unknown_and_never_terminal(word: object) -> None:
    assert normalize_status(word) is RunStatus.UNKNOWN and not normalize_status(word).terminal


def test_a_run_reads_each_status_the_stand_in_moves_through(backend: Backend, clock: ManualClock) -> None:
    run_id = submit(backend)
    seen: dict[str, RunStatus] = {}
    for _ in range(12):
        run = backend.trainer.get(run_id)
        seen[run.raw_status] = run.status
        clock.advance(10)
    assert seen == {"pending": RunStatus.QUEUED, "queued": RunStatus.QUEUED, "running": RunStatus.RUNNING,
                    "compressing": RunStatus.RUNNING, "uploading": RunStatus.RUNNING, "completed": RunStatus.SUCCEEDED}


def test_a_run_has_no_artifact_until_it_completes(backend: Backend, clock: ManualClock) -> None:
    run_id = submit(backend, suffix="reviewer")
    clock.advance(85)  # uploading
    uploading = backend.trainer.get(run_id)
    assert uploading.raw_status == "uploading" and uploading.artifact is None and uploading.finished_at is None
    clock.advance(3600)
    done = backend.trainer.get(run_id)
    assert done.artifact == f"sandbox-user/{MODEL}:reviewer-{key_marker('job-1', 'unit')}:{run_id}"
    assert done.finished_at is not None and done.created_at is not None and done.trained_tokens


def test_progress_reports_steps_epochs_and_the_train_loss(backend: Backend, clock: ManualClock) -> None:
    rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
                   + "\n" for i in range(32))
    trainer = backend.trainer
    file_ref = trainer.stage("p.jsonl", trainer.write_training_file(rows, Method.SFT))
    run_id = trainer.submit(TrainingRequest(key="p", base_model=MODEL, training_file=file_ref,
                                            hyperparameters={"n_epochs": 2})).id
    clock.advance(15 + 30)  # half-way through the 60 s of training
    halfway = trainer.get(run_id).progress
    assert halfway.total_steps == 8 and halfway.step == 4 and halfway.epoch == 1 and halfway.total_epochs == 2
    assert halfway.loss is not None
    clock.advance(3600)
    done = trainer.get(run_id).progress
    assert done.step == done.total_steps == 8 and done.epoch == 2 and done.loss is not None and done.loss < halfway.loss


def test_a_failed_run_carries_the_job_error_message(backend: Backend, stub: TogetherStub, clock: ManualClock) -> None:
    stub.fail_next_job("Training failed: CUDA out of memory.")
    run_id = submit(backend)
    clock.advance(3600)
    run = backend.trainer.get(run_id)
    assert run.status is RunStatus.FAILED and run.raw_status == "error" and run.artifact is None
    assert run.error_message == "Training failed: CUDA out of memory." and run.error_code == "job_error"
    assert backend.trainer.events(run_id)[-1].level == "error"


def test_cancel_is_cancelling_then_cancelled_and_cancelling_an_ended_run_reports_its_end(
        backend: Backend, clock: ManualClock) -> None:
    run_id = submit(backend)
    assert backend.trainer.cancel(run_id).status is RunStatus.CANCELLING
    clock.advance(3600)
    assert backend.trainer.get(run_id).status is RunStatus.CANCELLED
    assert backend.trainer.cancel(run_id).status is RunStatus.CANCELLED  # Together answers 400; its end is the answer


def test_events_are_the_newest_in_order_with_plain_levels(backend: Backend, clock: ManualClock) -> None:
    run_id = submit(backend)
    clock.advance(3600)
    events = backend.trainer.events(run_id, limit=3)
    assert len(events) == 3 and events[-1].message.startswith("Job finished")
    assert [e.at for e in events] == sorted(e.at for e in events if e.at) and {e.level for e in events} == {"info"}


# ----- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_a_permanent_answer_to_submit_is_refused_with_a_code(backend: Backend, stub: TogetherStub, status: int) -> None:
    file_ref = backend.trainer.stage("a.jsonl", TRAINING_JSONL.encode())
    stub.fail_next(status, route="fine-tunes.create")
    with pytest.raises(BackendRefused) as refused:
        backend.trainer.submit(TrainingRequest(key="k", base_model=MODEL, training_file=file_ref))
    assert type(refused.value) is BackendRefused and refused.value.status == status and refused.value.code
    assert refused.value.message


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_a_passing_answer_is_unavailable(backend: Backend, stub: TogetherStub, status: int) -> None:
    run_id = submit(backend)
    stub.fail_next(status, retry_after=7 if status == 429 else None)
    with pytest.raises(BackendUnavailable) as unavailable:
        backend.trainer.get(run_id)
    assert unavailable.value.status == status
    assert ("retry after 7 s" in unavailable.value.message) is (status == 429)


def test_a_wrong_key_is_refused_and_never_shown(stub: TogetherStub, http: httpx.Client) -> None:
    wrong = "tg-wrong-key-9876543210fedcba"
    with pytest.raises(BackendRefused) as refused:
        make(stub, http, api_key=wrong).trainer.find("job-1")
    assert refused.value.status == 401 and refused.value.code == "invalid_api_key" and wrong not in refused.value.message


def test_a_key_echoed_by_the_server_is_masked(backend: Backend, stub: TogetherStub) -> None:
    stub.fail_next(500, message=f"upstream said: bad token {KEY}")
    with pytest.raises(BackendUnavailable) as unavailable:
        backend.trainer.find("job-1")
    assert KEY not in unavailable.value.message and "[redacted]" in unavailable.value.message


def test_an_unreachable_api_is_unavailable(http: httpx.Client, clock: ManualClock) -> None:
    gone = TogetherStub(clock).start()
    url = gone.base_url
    gone.stop()
    backend = build_together_backend(http, api_key=KEY, base_url=url)
    with pytest.raises(BackendUnavailable) as unavailable:
        backend.trainer.find("job-1")
    assert unavailable.value.code == "connection_error" and KEY not in unavailable.value.message


@pytest.mark.parametrize("run_id", ["ft-00000000-0000-4000-8000-000000000000", "run-that-never-was"])
def test_an_unknown_run_is_no_such_run_everywhere(backend: Backend, run_id: str) -> None:
    for read in (backend.trainer.get, backend.trainer.events, backend.trainer.cancel):
        with pytest.raises(NoSuchRun):
            read(run_id)


def test_submit_never_retries_on_its_own(backend: Backend, stub: TogetherStub) -> None:
    file_ref = backend.trainer.stage("a.jsonl", TRAINING_JSONL.encode())
    stub.fail_next(503, count=3, route="fine-tunes.create")
    with pytest.raises(BackendUnavailable):
        backend.trainer.submit(TrainingRequest(key="once", base_model=MODEL, training_file=file_ref))
    assert len(stub.requests_to("POST", "fine-tunes")) == 1 and stub.job_count == 0


def test_an_unknown_hyperparameter_is_refused_before_any_call(backend: Backend, stub: TogetherStub) -> None:
    with pytest.raises(BackendRefused) as refused:
        backend.trainer.submit(TrainingRequest(key="h", base_model=MODEL, training_file="file-x",
                                               hyperparameters={"learning_rate_multiplier": 2}))
    assert refused.value.code == "unknown_hyperparameter" and not stub.requests_to("POST", "fine-tunes")


# ----- find by key ------------------------------------------------------------------------------------


def test_the_suffix_carries_the_marker_within_togethers_limit() -> None:
    marker = key_marker("job-1", "unit")
    assert marker.startswith("k") and len(marker) == 17 and marker.isalnum()
    assert suffix_for("job-1", "unit") == marker
    assert suffix_for("job-1", "unit", "Product Reviewer!") == f"product-reviewer-{marker}"
    long = suffix_for("job-1", "unit", "x" * 80)
    assert len(long) <= MAX_SUFFIX and long.endswith("-" + marker)
    assert key_marker("job-1", "unit") != key_marker("job-10", "unit") != key_marker("job-1", "other")


def test_a_lost_answer_is_found_by_its_key_and_only_by_it(backend: Backend, stub: TogetherStub, http: httpx.Client) -> None:
    stub.lose_next_answer("fine-tunes.create")
    with pytest.raises(BackendUnavailable):
        submit(backend, "job-7", suffix="reviewer")
    found = backend.trainer.find("job-7")
    assert found is not None and found.key == "job-7" and stub.job_count == 1
    assert backend.trainer.find("job-70") is None and backend.trainer.find("job-") is None
    assert make(stub, http, namespace="another-install").trainer.find("job-7") is None


def test_find_skips_jobs_made_elsewhere_and_takes_the_newest_of_ours(backend: Backend, stub: TogetherStub,
                                                                     clock: ManualClock) -> None:
    marker = key_marker("job-1", "unit")
    file_ref = backend.trainer.stage("a.jsonl", TRAINING_JSONL.encode())
    outsider = httpx.post(f"{stub.base_url}/fine-tunes", headers={"Authorization": f"Bearer {KEY}"},
                          json={"model": MODEL, "training_file": file_ref, "suffix": f"{marker}x"})
    assert outsider.status_code == 200
    assert backend.trainer.find("job-1") is None  # a suffix that merely starts with our marker is not ours
    first = submit(backend, "job-1")
    clock.advance(5)
    second = submit(backend, "job-1")
    found = backend.trainer.find("job-1")
    assert found is not None and found.id == second != first


# ----- training files ---------------------------------------------------------------------------------


def test_chat_jsonl_goes_as_is_weights_included(backend: Backend) -> None:
    weighted = json.dumps({"messages": [{"role": "user", "content": "hi"},
                                        {"role": "assistant", "content": "old", "weight": 0},
                                        {"role": "user", "content": "again"},
                                        {"role": "assistant", "content": "new", "weight": 1}]})
    written = backend.trainer.write_training_file(TRAINING_JSONL + weighted + "\n\n", Method.SFT)
    assert written.decode() == TRAINING_JSONL + weighted + "\n"


def test_dpo_rows_pass_through_and_chat_rows_are_not_dpo(backend: Backend) -> None:
    row = json.dumps({"input": {"messages": [{"role": "user", "content": "Review a lamp"}]},
                      "preferred_output": [{"role": "assistant", "content": "LOVELY!"}],
                      "non_preferred_output": [{"role": "assistant", "content": "ok"}]})
    assert backend.trainer.write_training_file(row, Method.DPO) == (row + "\n").encode()
    with pytest.raises(ValueError):
        backend.trainer.write_training_file(TRAINING_JSONL, Method.DPO)
    with pytest.raises(ValueError):
        backend.trainer.write_training_file("not json\n", Method.SFT)


def test_a_dpo_run_asks_for_the_dpo_method(backend: Backend, stub: TogetherStub) -> None:
    row = json.dumps({"input": {"messages": [{"role": "user", "content": "Review a lamp"}]},
                      "preferred_output": [{"role": "assistant", "content": "LOVELY!"}],
                      "non_preferred_output": [{"role": "assistant", "content": "ok"}]})
    trainer = backend.trainer
    file_ref = trainer.stage("d.jsonl", trainer.write_training_file(row, Method.DPO))
    trainer.submit(TrainingRequest(key="d", base_model=MODEL, training_file=file_ref, method=Method.DPO,
                                   hyperparameters={"dpo_beta": 0.3, "n_epochs": "auto"}))
    sent = stub.requests_to("POST", "fine-tunes")[-1].json
    assert sent["training_method"] == {"method": "dpo", "dpo_beta": 0.3} and "n_epochs" not in sent


def test_the_rules_follow_togethers_documents(stub: TogetherStub, http: httpx.Client) -> None:
    caps = make(stub, http).capabilities
    assert caps.min_examples == 1 and caps.max_example_tokens == 40960
    assert caps.methods == {Method.SFT, Method.DPO} and caps.honours_weight and caps.accepts_jobs_until is None
    assert build_together_backend(http, api_key=KEY).capabilities.max_example_tokens == DEFAULT_CONTEXT_LENGTH
    assert "\n" not in make(stub, http).how_to_switch


# ----- deploy -----------------------------------------------------------------------------------------


def test_deploy_creates_one_endpoint_polls_it_and_undeploy_deletes_it(backend: Backend, stub: TogetherStub,
                                                                      clock: ManualClock) -> None:
    artifact = finished(backend, clock)
    first = backend.deployer.deploy(artifact)
    assert not first.ready and first.detail and "pending" in first.detail and first.model
    clock.advance(3600)
    ready = backend.deployer.deploy(artifact)
    assert ready.ready and ready.model == first.model and ready.where.startswith("Together AI dedicated endpoint")
    assert backend.deployer.deploy(artifact) == ready and len(stub.endpoints()) == 1
    assert len(stub.requests_to("POST", "endpoints")) == 1
    backend.deployer.undeploy(ready.model)
    assert stub.endpoints() == []
    backend.deployer.undeploy(ready.model)  # nothing left: nothing to do


def test_a_lost_endpoint_answer_is_found_by_the_next_deploy(backend: Backend, stub: TogetherStub,
                                                            clock: ManualClock) -> None:
    artifact = finished(backend, clock)
    stub.lose_next_answer("endpoints.create")
    with pytest.raises(BackendUnavailable):
        backend.deployer.deploy(artifact)
    clock.advance(3600)
    assert backend.deployer.deploy(artifact).ready and len(stub.endpoints()) == 1


def test_a_stopped_endpoint_is_started_again(backend: Backend, stub: TogetherStub, clock: ManualClock) -> None:
    artifact = finished(backend, clock)
    backend.deployer.deploy(artifact)
    clock.advance(3600)
    endpoint_id = stub.endpoints()[0]["id"]
    httpx.patch(f"{stub.base_url}/endpoints/{endpoint_id}", headers={"Authorization": f"Bearer {KEY}"},
                json={"state": "STOPPED"})
    clock.advance(60)
    stopped = backend.deployer.deploy(artifact)
    assert not stopped.ready and "starting it again" in (stopped.detail or "")
    clock.advance(3600)
    assert backend.deployer.deploy(artifact).ready


def test_an_undeployable_base_and_a_failed_endpoint_are_refused(backend: Backend, stub: TogetherStub,
                                                                clock: ManualClock) -> None:
    reference = finished(backend, clock, "ref", model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    with pytest.raises(BackendRefused) as refused:
        backend.deployer.deploy(reference)
    assert refused.value.code == "not_deployable"
    artifact = finished(backend, clock, "ok")
    stub.fail_next_endpoint()
    backend.deployer.deploy(artifact)
    clock.advance(3600)
    with pytest.raises(BackendRefused) as failed:
        backend.deployer.deploy(artifact)
    assert failed.value.code == "endpoint_error"


def test_deploy_uses_the_hardware_it_is_given(stub: TogetherStub, http: httpx.Client, clock: ManualClock) -> None:
    backend = make(stub, http, hardware="1x_nvidia_h200_140gb_sxm", inactive_timeout_minutes=60, replicas=(1, 2))
    artifact = finished(backend, clock)
    backend.deployer.deploy(artifact)
    sent = stub.requests_to("POST", "endpoints")[-1].json
    assert sent["hardware"] == "1x_nvidia_h200_140gb_sxm" and sent["inactive_timeout"] == 60
    assert sent["autoscaling"] == {"min_replicas": 1, "max_replicas": 2} and not stub.requests_to("GET", "hardware")


def test_a_validation_file_is_sent_and_evaluated_once_an_epoch(backend: Backend, stub: TogetherStub) -> None:
    trainer = backend.trainer
    training = trainer.stage("t.jsonl", trainer.write_training_file(TRAINING_JSONL, Method.SFT))
    validation = trainer.stage("v.jsonl", trainer.write_training_file(TRAINING_JSONL.splitlines()[0], Method.SFT))
    trainer.submit(TrainingRequest(key="v", base_model=MODEL, training_file=training, validation_file=validation,
                                   hyperparameters={"n_epochs": 3}))
    sent = stub.requests_to("POST", "fine-tunes")[-1].json
    assert sent["validation_file"] == validation and sent["n_evals"] == 3
    trainer.submit(TrainingRequest(key="w", base_model=MODEL, training_file=training, validation_file=validation))
    assert stub.requests_to("POST", "fine-tunes")[-1].json["n_evals"] == 1  # Together's default of 0 would skip it
    trainer.submit(TrainingRequest(key="x", base_model=MODEL, training_file=training))
    assert "n_evals" not in stub.requests_to("POST", "fine-tunes")[-1].json


def test_a_validation_file_in_another_format_than_the_method_is_refused(backend: Backend) -> None:
    row = json.dumps({"input": {"messages": [{"role": "user", "content": "Review a lamp"}]},
                      "preferred_output": [{"role": "assistant", "content": "LOVELY!"}],
                      "non_preferred_output": [{"role": "assistant", "content": "ok"}]})
    trainer = backend.trainer
    training = trainer.stage("d.jsonl", trainer.write_training_file(row, Method.DPO))
    chat = trainer.stage("v.jsonl", trainer.write_training_file(TRAINING_JSONL, Method.SFT))
    with pytest.raises(BackendRefused, match="Invalid validation file"):
        trainer.submit(TrainingRequest(key="d", base_model=MODEL, training_file=training, validation_file=chat,
                                       method=Method.DPO))
