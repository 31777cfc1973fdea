"""One contract, every backend: submit, a lost answer found by its key, normalized statuses, cancel,
deploy, a refusal and passing errors, against each backend's stand-in and the in-memory fake."""
from __future__ import annotations

import importlib
import json
from collections.abc import Iterator

import pytest

from finetune.backend import (
    BackendRefused,
    BackendUnavailable,
    Method,
    NoSuchRun,
    RunStatus,
    TrainingRequest,
)
from tests.support.backends import TRAINING_JSONL, Harness

# name -> (module holding `harness(tmp_path, clock)`, a package it needs or None)
HARNESSES = {
    "fake": ("tests.support.fake_harness", None),
    "openai": ("tests.support.openai_harness", None),
    "together": ("tests.support.together_harness", None),
    "local": ("tests.support.local_harness", "torch"),
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request, tmp_path, clock) -> Iterator[Harness]:
    module_name, needs = HARNESSES[request.param]
    if needs is not None:
        pytest.importorskip(needs, reason=f"the {request.param} backend needs the [{request.param}] extra")
    module = importlib.import_module(module_name)
    made = module.harness(tmp_path, clock)
    try:
        yield made
    finally:
        made.close()


def submit(harness: Harness, key: str = "job-1") -> str:
    trainer = harness.backend.trainer
    content = trainer.write_training_file(TRAINING_JSONL, Method.SFT)
    file_ref = trainer.stage(f"{key}.jsonl", content)
    run = trainer.submit(TrainingRequest(key=key, base_model=harness.base_model, training_file=file_ref))
    assert run.key in (None, key)
    return run.id


def test_the_backend_states_its_rules(harness):
    caps = harness.backend.capabilities
    assert caps.min_examples >= 1 and caps.max_example_tokens > 0
    assert Method.SFT in caps.methods
    written = harness.backend.trainer.write_training_file(TRAINING_JSONL, Method.SFT)
    lines = [json.loads(line) for line in written.decode().splitlines() if line.strip()]
    assert len(lines) >= 10  # every example survives the conversion, in some row shape of the backend's


def test_a_submitted_run_is_found_by_its_key_and_reports_a_normalized_status(harness):
    run_id = submit(harness)
    run = harness.backend.trainer.get(run_id)
    assert run.id == run_id and isinstance(run.status, RunStatus) and not run.status.terminal
    assert harness.backend.trainer.find("job-1").id == run_id
    assert harness.backend.trainer.find("job-never-submitted") is None


def test_a_lost_answer_to_submit_is_found_again_and_makes_no_duplicate(harness):
    harness.lose_next_submit_answer()
    with pytest.raises(BackendUnavailable):
        submit(harness, key="job-7")
    found = harness.backend.trainer.find("job-7")
    assert found is not None and harness.run_count() == 1


def test_a_finished_run_names_its_artifact_and_deploys_to_a_model_that_answers(harness):
    run_id = submit(harness)
    harness.finish_runs()
    run = harness.backend.trainer.get(run_id)
    assert run.status is RunStatus.SUCCEEDED and run.artifact
    deployed = harness.backend.deployer.deploy(run.artifact)
    for _ in range(20):
        if deployed.ready:
            break
        harness.finish_runs()
        deployed = harness.backend.deployer.deploy(run.artifact)
    assert deployed.ready and deployed.model and deployed.where
    assert harness.chat(deployed.model).strip()
    again = harness.backend.deployer.deploy(run.artifact)  # idempotent: asking twice serves it once
    assert again.ready and again.model == deployed.model


def test_a_failed_run_says_why(harness):
    harness.fail_next_run()
    run_id = submit(harness)
    harness.finish_runs()
    run = harness.backend.trainer.get(run_id)
    assert run.status is RunStatus.FAILED and run.artifact is None and run.error_message


def test_a_cancelled_run_ends_cancelled(harness):
    run_id = submit(harness)
    cancelling = harness.backend.trainer.cancel(run_id)
    assert cancelling.status in (RunStatus.CANCELLING, RunStatus.CANCELLED)
    harness.finish_runs()
    assert harness.backend.trainer.get(run_id).status is RunStatus.CANCELLED


def test_a_refusal_is_permanent_and_says_so(harness):
    harness.refuse_training()
    with pytest.raises(BackendRefused) as refused:
        submit(harness)
    assert refused.value.message and not isinstance(refused.value, NoSuchRun)


def test_passing_errors_are_passing(harness):
    run_id = submit(harness)
    harness.fail_next_call(500, count=5)
    with pytest.raises(BackendUnavailable):
        harness.backend.trainer.get(run_id)
    harness.fail_next_call(429, count=5)
    with pytest.raises(BackendUnavailable):
        harness.backend.trainer.get(run_id)


def test_an_unknown_run_is_no_such_run(harness):
    with pytest.raises(NoSuchRun):
        harness.backend.trainer.get("run-that-never-was")


def test_events_read_back_as_plain_messages(harness):
    run_id = submit(harness)
    harness.finish_runs()
    events = harness.backend.trainer.events(run_id)
    assert all(event.message for event in events)


def test_a_spent_training_file_is_deleted_and_deleting_it_again_is_no_error(harness):
    trainer = harness.backend.trainer
    kept = trainer.stage("kept.jsonl", trainer.write_training_file(TRAINING_JSONL, Method.SFT))
    spent = trainer.stage("spent.jsonl", trainer.write_training_file(TRAINING_JSONL, Method.SFT))
    assert {kept, spent} <= harness.staged_files()
    trainer.delete_file(spent)
    assert spent not in harness.staged_files() and kept in harness.staged_files()
    trainer.delete_file(spent)  # gone already (a retry after a lost answer): what was wanted
