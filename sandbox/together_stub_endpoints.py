"""The serving half of the Together AI stand-in: hardware, dedicated endpoints, models and chat completions.

A mixin of sandbox.together_stub.TogetherStub, which holds the state (jobs, endpoints, ids, clock) and
calls these handlers under its lock. Serving follows Together's documented path for a fine-tuned model
today: create a dedicated endpoint for the job's output name, wait until it is STARTED, then send the
endpoint's `name` as `model` (sources in sandbox/together_api_notes.md).
"""
from __future__ import annotations

import random
from typing import Any

from sandbox.openai_stub_wire import Response, json_response
from sandbox.together_stub_jobs import (
    FINE_TUNABLE_MODELS,
    HARDWARE,
    UNDEPLOYABLE_SUFFIX,
    EndpointRecord,
    JobRecord,
    TogetherDurations,
    hardware_object,
    iso,
)
from sandbox.together_stub_serving import (
    SERVERLESS_MODELS,
    TogetherError,
    chat_answer,
    checked_messages,
    model_object,
    not_found,
)


class ServingRoutes:
    """Route handlers for /hardware, /endpoints, /models and /chat/completions (`call` is a together_stub._Call)."""

    account: str
    durations: TogetherDurations
    _ids: random.Random
    _jobs: dict[str, JobRecord]
    _endpoints: dict[str, EndpointRecord]
    _next_endpoint_fails: bool

    def _tick(self) -> float:
        raise NotImplementedError


    def _completed_job_for(self, model: str) -> JobRecord | None:
        now = self._tick()
        return next((job for job in self._jobs.values() if job.output_name == model and job.status_at(now) == "completed"),
                    None)

    def _deployable_base(self, model: str) -> str:
        """The base model behind `model` (a base, or a completed job's output); 404 when it can't be hosted."""
        job = self._completed_job_for(model)
        base = job.model if job else model
        if base not in FINE_TUNABLE_MODELS and base not in SERVERLESS_MODELS:
            raise TogetherError(404, f"Model {model} not found", code="model_not_found")
        if base.endswith(UNDEPLOYABLE_SUFFIX):
            raise TogetherError(404, f"Model {model} cannot be deployed on a dedicated endpoint: its base {base} has no "
                                     "compatible hardware", code="model_not_deployable")
        return base

    def _hardware_list(self, call: Any) -> Response:
        now = self._tick()
        if call.query.get("model"):
            self._deployable_base(call.query["model"])
        return json_response({"object": "list", "data": [hardware_object(hw, now) for hw in HARDWARE]})

    def _endpoints_create(self, call: Any) -> Response:
        body = call.body()
        model, hardware, autoscaling = body.get("model"), body.get("hardware"), body.get("autoscaling")
        if not isinstance(model, str):
            raise TogetherError(400, "model is required", param="model")
        self._deployable_base(model)
        if hardware not in HARDWARE:
            raise TogetherError(400, f"hardware {hardware!r} is not available for {model}; list it with GET /hardware",
                                param="hardware")
        if not (isinstance(autoscaling, dict) and isinstance(autoscaling.get("min_replicas"), int)
                and isinstance(autoscaling.get("max_replicas"), int)
                and 0 <= autoscaling["min_replicas"] <= autoscaling["max_replicas"] and autoscaling["max_replicas"] >= 1):
            raise TogetherError(400, "autoscaling needs min_replicas <= max_replicas, max_replicas >= 1", param="autoscaling")
        now = self._tick()
        served = model.removeprefix(f"{self.account}/")
        endpoint = EndpointRecord(
            id=self._new_id("endpoint-"), name=f"{self.account}/{served}-{self._ids.getrandbits(32):08x}",
            display_name=str(body.get("display_name") or served), model=model, hardware=str(hardware), owner=self.account,
            created=now, durations=self.durations, started_at=now,
            autoscaling={"min_replicas": autoscaling["min_replicas"], "max_replicas": autoscaling["max_replicas"]},
            inactive_timeout=body.get("inactive_timeout"), fails=self._next_endpoint_fails)
        self._next_endpoint_fails = False
        if body.get("state") == "STOPPED":
            endpoint.stopped_at = now - self.durations.endpoint_stopping
        self._endpoints[endpoint.id] = endpoint
        return json_response(endpoint.to_dict(now))

    def _endpoints_list(self, call: Any) -> Response:
        now, kind = self._tick(), call.query.get("type")
        data = [endpoint.listed(now) for endpoint in self._endpoints.values()]
        if kind != "dedicated" and call.query.get("mine", "").lower() != "true":
            data += [{"object": "endpoint", "id": f"endpoint-serverless-{i}", "name": model, "model": model,
                      "type": "serverless", "owner": "together", "state": "STARTED", "created_at": iso(0)}
                     for i, model in enumerate(SERVERLESS_MODELS)]
        if kind:
            data = [item for item in data if item["type"] == kind]
        return json_response({"object": "list", "data": data})

    def _existing_endpoint(self, call: Any) -> EndpointRecord:
        endpoint = self._endpoints.get(call.params["endpoint_id"])
        if endpoint is None:
            raise not_found("Endpoint", call.params["endpoint_id"])
        return endpoint

    def _endpoints_retrieve(self, call: Any) -> Response:
        return json_response(self._existing_endpoint(call).to_dict(self._tick()))

    def _endpoints_update(self, call: Any) -> Response:
        endpoint, body, now = self._existing_endpoint(call), call.body(), self._tick()
        state = body.get("state")
        if state == "STARTED" and endpoint.stopped_at is not None:
            endpoint.started_at, endpoint.stopped_at = now, None
        elif state == "STOPPED" and endpoint.stopped_at is None:
            endpoint.stopped_at = now
        elif state not in (None, "STARTED", "STOPPED"):
            raise TogetherError(400, "state must be STARTED or STOPPED", param="state")
        if isinstance(body.get("display_name"), str):
            endpoint.display_name = body["display_name"]
        if isinstance(body.get("autoscaling"), dict):
            endpoint.autoscaling.update(body["autoscaling"])
        return json_response(endpoint.to_dict(now))

    def _endpoints_delete(self, call: Any) -> Response:
        del self._endpoints[self._existing_endpoint(call).id]
        return Response(204)

    # ----- models and chat -------------------------------------------------------------------------

    def _models_list(self, call: Any) -> Response:
        now = int(self._tick())
        models = [model_object(model, 1_700_000_000, organization=model.split("/")[0]) for model in SERVERLESS_MODELS]
        models += [model_object(job.output_name, now, organization=self.account) for job in self._jobs.values()
                   if job.status_at(now) == "completed"]
        return json_response(models)

    def _chat_completions(self, call: Any) -> Response:
        body = call.body()
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise TogetherError(400, "model is required", param="model")
        messages = checked_messages(body)
        stream = body.get("stream") or False
        if not isinstance(stream, bool):
            raise TogetherError(400, "stream must be a boolean", param="stream")
        chat_id = f"{self._ids.getrandbits(64):016x}-TGS"
        created = int(self._tick())
        if model in SERVERLESS_MODELS:
            return chat_answer(chat_id, created, model, messages, None, stream=stream)
        endpoint = next((e for e in self._endpoints.values() if e.name == model), None)
        if endpoint is not None:
            state = endpoint.state_at(self._tick())
            if state != "STARTED":
                raise TogetherError(400, f"The endpoint {endpoint.name} is not running (state {state}); start it and "
                                         "wait for STARTED.", code="endpoint_not_running")
            job = self._completed_job_for(endpoint.model)
            return chat_answer(chat_id, created, model, messages, job.check.examples if job else None, stream=stream)
        if self._completed_job_for(model) is not None:
            raise TogetherError(404, f"Unable to access non-serverless model {model}. Please visit "
                                     f"https://api.together.ai/models/{model} to create and start a new dedicated "
                                     "endpoint for the model.", code="model_not_available")
        raise TogetherError(404, f"Unable to access model {model}. Please visit https://api.together.ai/models to view "
                                 "the list of supported models.", code="model_not_available")
