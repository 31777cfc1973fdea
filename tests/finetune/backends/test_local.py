"""The local backend's own rules: one run per key, what it refuses before training, and how vLLM's answers
sort into ready, refused (with vLLM's reason) and passing, through the vLLM stand-in on the tiny model."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2 as httpx
import pytest

pytest.importorskip("torch", reason="the vLLM stand-in generates with the [local] extra")

from finetune.backend import BackendRefused, BackendUnavailable, Method, NoSuchRun, RunStatus, TrainingRequest  # noqa: E402
from finetune.backends.local import build_local_backend  # noqa: E402
from sandbox.vllm_stub import VllmStub  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.support.backends import TRAINING_JSONL  # noqa: E402
from tests.support.local_harness import BASE_MODEL, TINY_PARAMS  # noqa: E402
from tests.support.tiny_model import tiny_model_dir, untrained_adapter  # noqa: E402


@pytest.fixture
def vllm() -> Iterator[VllmStub]:
    with VllmStub(tiny_model_dir(), served_model_name=BASE_MODEL) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def local_db(tmp_path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'local.db'}")
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def backend(local_db, clock, http, vllm, tmp_path):
    return build_local_backend(local_db, clock, http, vllm_base_url=vllm.base_url, adapters_dir=tmp_path / "adapters",
                               params=TINY_PARAMS)


def staged(backend) -> str:
    return backend.trainer.stage("data.jsonl", backend.trainer.write_training_file(TRAINING_JSONL, Method.SFT))


def request(file_ref: str, **changes) -> TrainingRequest:
    return TrainingRequest(**{"key": "job-1", "base_model": BASE_MODEL, "training_file": file_ref, **changes})


def test_its_rules_follow_the_settings(backend):
    caps = backend.capabilities
    assert caps.max_example_tokens == TINY_PARAMS.max_length and caps.honours_weight and caps.serving_forgets
    assert caps.methods == frozenset({Method.SFT}) and caps.min_examples == 1
    rows = [json.loads(line) for line in backend.trainer.write_training_file(TRAINING_JSONL, Method.SFT).splitlines()]
    assert set(rows[0]) == {"prompt", "completion"}


def test_submitting_twice_under_one_key_is_one_run(backend):
    file_ref = staged(backend)
    first = backend.trainer.submit(request(file_ref))
    again = backend.trainer.submit(request(file_ref))
    assert again.id == first.id and first.status is RunStatus.QUEUED and first.key == "job-1"


def test_what_could_never_train_or_deploy_is_refused_before_any_training(backend, vllm):
    file_ref = staged(backend)
    with pytest.raises(BackendRefused, match="trains sft runs only"):
        backend.trainer.submit(request(file_ref, method=Method.DPO))
    with pytest.raises(BackendRefused, match="no hyperparameter 'n_epochs'"):
        backend.trainer.submit(request(file_ref, hyperparameters={"n_epochs": 3}))
    with pytest.raises(BackendRefused, match="no training file 99"):
        backend.trainer.submit(request("99"))
    with pytest.raises(BackendRefused, match="is not one the local backend reads"):
        backend.trainer.stage("odd.jsonl", b"\xff\xfe")
    with pytest.raises(BackendRefused) as refused:
        backend.trainer.submit(request(file_ref, base_model="my-base"))
    assert "does not serve the base model 'my-base' (it serves 'tiny-llama')" in refused.value.message
    assert "FINETUNE_BASE_MODEL" in refused.value.message
    assert backend.trainer.find("job-1") is None  # nothing was queued by any of these


def test_training_waits_for_no_vllm(backend, vllm):
    vllm.go_down()
    run = backend.trainer.submit(request(staged(backend)))  # vLLM is only needed to serve the adapter
    assert run.status is RunStatus.QUEUED


def test_an_unknown_run_id_is_no_such_run(backend):
    for run_id in ("local-999", "ftjob-abc", "local-"):
        with pytest.raises(NoSuchRun):
            backend.trainer.get(run_id)
    with pytest.raises(NoSuchRun):
        backend.trainer.cancel("local-999")


def test_an_adapter_is_loaded_once_under_its_directory_name_and_unloaded(backend, vllm, tmp_path):
    adapter = untrained_adapter(tmp_path / "adapters" / "ft-local-3-0123abcd")
    deployed = backend.deployer.deploy(str(adapter))
    assert deployed.ready and deployed.model == "ft-local-3-0123abcd" and deployed.where == f"vLLM at {vllm.base_url}"
    assert backend.deployer.deploy(str(adapter)).ready  # asked again: found in /v1/models, not loaded twice
    loads = [body for method, path, body in vllm.requests if path == "/v1/load_lora_adapter"]
    assert loads == [{"lora_name": "ft-local-3-0123abcd", "lora_path": str(adapter)}]
    backend.deployer.undeploy("ft-local-3-0123abcd")
    assert vllm.loaded == []
    backend.deployer.undeploy("ft-local-3-0123abcd")  # unloading what is not loaded is no error


def test_an_adapter_vllm_cannot_find_is_refused_with_where_to_look(backend, tmp_path):
    with pytest.raises(BackendRefused) as refused:
        backend.deployer.deploy(str(tmp_path / "elsewhere" / "ft-local-1-00000000"))
    assert "No adapter found for" in refused.value.message and "LOCAL_ADAPTERS_DIR" in refused.value.message


def test_an_adapter_above_vllms_rank_limit_is_refused_with_vllms_reason(backend, vllm, tmp_path):
    vllm.max_lora_rank = 2
    adapter = untrained_adapter(tmp_path / "adapters" / "ft-local-2-0123abcd", rank=4)
    with pytest.raises(BackendRefused, match=r"LoRA rank 4 is greater than max_lora_rank 2\."):
        backend.deployer.deploy(str(adapter))


def test_vllm_down_busy_or_without_runtime_loading_is_a_passing_failure(backend, vllm, tmp_path):
    adapter = str(untrained_adapter(tmp_path / "adapters" / "ft-local-4-0123abcd"))
    vllm.fail_next(503)
    with pytest.raises(BackendUnavailable):
        backend.deployer.deploy(adapter)
    vllm.go_down()
    with pytest.raises(BackendUnavailable, match="vLLM did not answer at"):
        backend.deployer.deploy(adapter)
    vllm.come_back()
    vllm.runtime_lora_updating = False
    with pytest.raises(BackendUnavailable) as unavailable:
        backend.deployer.deploy(adapter)
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in unavailable.value.message and "--enable-lora" in unavailable.value.message
