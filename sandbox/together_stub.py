"""A local stand-in for the Together AI HTTP API, speaking its wire formats on 127.0.0.1.

Files upload (multipart), fine-tuning jobs (create, list, retrieve, events, metrics, cancel) that move
through Together's statuses with an injected clock, hardware and dedicated endpoints (create, list,
retrieve, update, delete) that start with the same clock, models, and OpenAI-compatible chat completions
(plain and streamed) that answer in a fine-tuned style once a trained model is served on a started
endpoint. Failures come on demand: the next calls answer a status, fine-tuning is refused, a job ends in
`error`, an endpoint ends in `ERROR`, or a call is applied and its answer lost. The facts it follows, with
their sources, are in sandbox/together_api_notes.md.
"""
from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from finetune.clock import Clock, SystemClock
from sandbox.openai_stub_wire import Multipart, Response, StubServer, json_response, parse_multipart
from sandbox.together_stub_endpoints import ServingRoutes
from sandbox.together_stub_jobs import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_JOB_ERROR,
    FINE_TUNABLE_MODELS,
    MAX_SUFFIX,
    METHOD_FORMATS,
    EndpointRecord,
    JobRecord,
    TogetherDurations,
    check_dataset,
)
from sandbox.together_stub_serving import (
    DEFAULT_REFUSAL,
    TogetherError,
    not_found,
)

__all__ = ["TogetherStub", "TogetherDurations", "RecordedRequest", "ROUTE_NAMES", "DEFAULT_REFUSAL", "DEFAULT_JOB_ERROR"]

_ROUTE_TABLE: tuple[tuple[str, str, str], ...] = (
    ("POST", r"/v1/files/upload", "files.upload"),
    ("POST", r"/v1/files", "files.upload"),  # not in the spec: the brief's name for the upload, kept as an alias
    ("GET", r"/v1/files", "files.list"),
    ("GET", r"/v1/files/(?P<file_id>[^/]+)", "files.retrieve"),
    ("DELETE", r"/v1/files/(?P<file_id>[^/]+)", "files.delete"),
    ("POST", r"/v1/fine-tunes", "fine-tunes.create"),
    ("GET", r"/v1/fine-tunes", "fine-tunes.list"),
    ("GET", r"/v1/fine-tunes/(?P<job_id>[^/]+)", "fine-tunes.retrieve"),
    ("GET", r"/v1/fine-tunes/(?P<job_id>[^/]+)/events", "fine-tunes.events"),
    ("GET", r"/v1/fine-tunes/(?P<job_id>[^/]+)/metrics", "fine-tunes.metrics"),
    ("POST", r"/v1/fine-tunes/(?P<job_id>[^/]+)/cancel", "fine-tunes.cancel"),
    ("GET", r"/v1/hardware", "hardware.list"),
    ("GET", r"/v1/endpoints", "endpoints.list"),
    ("POST", r"/v1/endpoints", "endpoints.create"),
    ("GET", r"/v1/endpoints/(?P<endpoint_id>[^/]+)", "endpoints.retrieve"),
    ("PATCH", r"/v1/endpoints/(?P<endpoint_id>[^/]+)", "endpoints.update"),
    ("DELETE", r"/v1/endpoints/(?P<endpoint_id>[^/]+)", "endpoints.delete"),
    ("GET", r"/v1/models", "models.list"),
    ("POST", r"/v1/chat/completions", "chat.completions"),
)
ROUTES = tuple((method, re.compile(f"^{pattern}$"), name) for method, pattern, name in _ROUTE_TABLE)
ROUTE_NAMES: frozenset[str] = frozenset(name for _, _, name in _ROUTE_TABLE)
FILE_PURPOSES = ("fine-tune", "eval", "eval-sample", "eval-output", "eval-summary", "batch-generated", "batch-api")
SUFFIX_CHARS = re.compile(r"^[A-Za-z0-9._-]*$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int
    route: str | None
    form: dict[str, str] | None = None  # multipart fields; an uploaded file appears as its filename


@dataclass
class _Failure:
    status: int
    route: str | None  # None: whichever route the next call reaches
    message: str | None
    code: str | None
    retry_after: float | None
    apply_first: bool

    def error(self) -> TogetherError:
        headers = {"retry-after": f"{self.retry_after:g}"} if self.retry_after is not None else {}
        return TogetherError(self.status, self.message, code=self.code, headers=headers)


@dataclass
class _Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    params: dict[str, str] = field(default_factory=dict)
    multipart: Multipart | None = None

    def body(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.raw or b"{}")
        except ValueError:
            raise TogetherError(400, "The request body is not valid JSON.") from None
        if not isinstance(parsed, dict):
            raise TogetherError(400, "The request body must be a JSON object.")
        return parsed


class TogetherStub(ServingRoutes):
    """Together AI on 127.0.0.1: state in memory, time from the injected clock."""

    def __init__(self, clock: Clock | None = None, *, api_key: str | None = None, account: str = "sandbox-user",
                 durations: TogetherDurations | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._api_key = api_key
        self.account = account
        self.durations = durations or TogetherDurations()
        self._lock = threading.RLock()
        self._ids = random.Random(f"together-stub:{account}")
        self._high_water = float("-inf")
        self._files: dict[str, dict[str, Any]] = {}
        self._contents: dict[str, bytes] = {}
        self._jobs: dict[str, JobRecord] = {}
        self._endpoints: dict[str, EndpointRecord] = {}
        self._failures: list[_Failure] = []
        self._refusal: str | None = None
        self._next_job_error: str | None = None
        self._next_endpoint_fails = False
        self._server: StubServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []

    # ----- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> TogetherStub:
        if self._server is None:
            self._server = StubServer((host, port), self._dispatch)
            self._thread = self._server.serve_in_background("together-stub")
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.stop_serving(thread)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("TogetherStub is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> TogetherStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- levers ----------------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, *, route: str | None = None, message: str | None = None,
                  code: str | None = None, retry_after: float | None = None, apply_first: bool = False) -> None:
        """The next `count` calls (to `route`, or to any route) answer `status`; 429 says Retry-After: 1 unless
        told otherwise. With apply_first the call is carried out first and its answer lost."""
        if route is not None and route not in ROUTE_NAMES:
            raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTE_NAMES)}")
        if status < 400:
            raise ValueError("fail_next needs an error status (>= 400)")
        if retry_after is None and status == 429:
            retry_after = 1
        with self._lock:
            self._failures += [_Failure(status, route, message, code, retry_after, apply_first)] * count

    def lose_next_answer(self, route: str = "fine-tunes.create", status: int = 500) -> None:
        """The next call to `route` really happens; its caller gets `status` instead of the answer."""
        self.fail_next(status, route=route, apply_first=True)

    def refuse_fine_tuning(self, message: str = DEFAULT_REFUSAL) -> None:
        """Every fine-tunes create answers 403 until allow_fine_tuning()."""
        with self._lock:
            self._refusal = message

    def allow_fine_tuning(self) -> None:
        with self._lock:
            self._refusal = None

    def fail_next_job(self, message: str = DEFAULT_JOB_ERROR) -> None:
        """The next created job trains, then ends `error` with a job_error event carrying `message`."""
        with self._lock:
            self._next_job_error = message

    def fail_next_endpoint(self) -> None:
        """The next created endpoint ends in state ERROR instead of STARTED."""
        with self._lock:
            self._next_endpoint_fails = True

    # ----- what happened ---------------------------------------------------------------------------

    @property
    def job_count(self) -> int:
        with self._lock:
            return len(self._jobs)

    @property
    def file_ids(self) -> list[str]:
        """The files the account holds now, oldest first."""
        with self._lock:
            return list(self._files)

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._jobs[job_id].full(self._tick())

    def endpoints(self) -> list[dict[str, Any]]:
        with self._lock:
            now = self._tick()
            return [endpoint.to_dict(now) for endpoint in self._endpoints.values()]

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        prefix = path_prefix if path_prefix.startswith("/v1") else "/v1/" + path_prefix.lstrip("/")
        with self._lock:
            return [r for r in self.requests if r.method == method.upper() and r.path.startswith(prefix)]

    # ----- dispatch --------------------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Response:
        split = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        call = _Call(method.upper(), split.path.rstrip("/") or "/", query, headers, raw)
        content_type = headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            call.multipart = parse_multipart(content_type, raw)
        with self._lock:
            self._tick()
            route = self._route(call)
            try:
                response = self._answer(call, route)
            except TogetherError as error:
                response = error.response()
            response.headers["x-request-id"] = uuid.UUID(int=self._ids.getrandbits(128), version=4).hex
            parsed: Any = None
            if call.multipart is None and raw.strip():
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
            form = None if call.multipart is None else {
                **call.multipart.fields, **{name: filename for name, (filename, _) in call.multipart.files.items()}}
            self.requests.append(RecordedRequest(call.method, call.path, query, dict(headers), parsed,
                                                 response.status, route, form))
        return response

    def _route(self, call: _Call) -> str | None:
        for method, pattern, name in ROUTES:
            match = pattern.match(call.path)
            if match and method == call.method:
                call.params = {key: unquote(value) for key, value in match.groupdict().items()}
                return name
        return None

    def _answer(self, call: _Call, route: str | None) -> Response:
        self._authenticate(call.headers)
        if route is None:
            raise TogetherError(404, f"Unknown endpoint: {call.method} {call.path}", code="not_found")
        failure = next((f for f in self._failures if f.route in (None, route)), None)
        if failure is not None:
            self._failures.remove(failure)
            if not failure.apply_first:
                raise failure.error()
        handler: Callable[[_Call], Response] = getattr(self, "_" + re.sub(r"[.-]", "_", route))
        response = handler(call)
        if failure is not None:
            raise failure.error()
        return response

    def _authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TogetherError(401, "No API key provided. Send it as 'Authorization: Bearer <your Together API key>'.",
                                code="missing_api_key")
        if self._api_key is not None and token.strip() != self._api_key:
            raise TogetherError(401)

    def _tick(self) -> float:
        """The clock, never earlier than a time already shown: statuses never go backwards."""
        self._high_water = max(self._high_water, self._clock.now().timestamp())
        return self._high_water

    def _new_id(self, prefix: str) -> str:
        return prefix + str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # ----- files -----------------------------------------------------------------------------------

    def _files_upload(self, call: _Call) -> Response:
        form = call.multipart
        if form is None:
            raise TogetherError(400, "Expected a multipart/form-data body with purpose, file_name and file.")
        purpose, file_name = form.fields.get("purpose"), form.fields.get("file_name")
        if purpose not in FILE_PURPOSES:
            raise TogetherError(400, f"purpose must be one of {list(FILE_PURPOSES)}", param="purpose")
        if not file_name:
            raise TogetherError(400, "file_name is required", param="file_name")
        if "file" not in form.files:
            raise TogetherError(400, "file is required", param="file")
        file_type = form.fields.get("file_type") or file_name.rsplit(".", 1)[-1].lower()
        if file_type not in ("jsonl", "csv", "parquet"):
            raise TogetherError(400, f"Unsupported file type {file_type!r}: expected jsonl, csv or parquet",
                                param="file_type")
        content = form.files["file"][1]
        file_id = self._new_id("file-")
        self._contents[file_id] = content
        self._files[file_id] = {"id": file_id, "object": "file", "created_at": int(self._tick()), "filename": file_name,
                                "bytes": len(content), "purpose": purpose, "FileType": file_type, "Processed": True,
                                "line_count": sum(1 for line in content.splitlines() if line.strip())}
        return json_response(self._files[file_id])

    def _files_list(self, call: _Call) -> Response:
        return json_response({"object": "list", "data": list(reversed(self._files.values()))})

    def _files_retrieve(self, call: _Call) -> Response:
        if call.params["file_id"] not in self._files:
            raise not_found("File", call.params["file_id"])
        return json_response(self._files[call.params["file_id"]])

    def _files_delete(self, call: _Call) -> Response:
        """Together's FileDeleteResponse: {"id", "deleted": true} (DELETE /files/{id}); an unknown id is a 404."""
        file_id = call.params["file_id"]
        if file_id not in self._files:
            raise not_found("File", file_id)
        del self._files[file_id], self._contents[file_id]
        return json_response({"id": file_id, "deleted": True})

    # ----- fine-tunes ------------------------------------------------------------------------------

    def _fine_tunes_create(self, call: _Call) -> Response:
        if self._refusal is not None:
            raise TogetherError(403, self._refusal, code="fine_tuning_not_allowed")
        body = call.body()
        model, training_file = body.get("model"), body.get("training_file")
        if not isinstance(model, str) or model not in FINE_TUNABLE_MODELS:
            raise TogetherError(400, f"Model {model!r} is not supported for fine-tuning; see "
                                     "https://docs.together.ai/docs/fine-tuning-models", param="model")
        if not isinstance(training_file, str) or self._files.get(training_file, {}).get("purpose") != "fine-tune":
            raise TogetherError(400, f"training_file {training_file!r} is not a file uploaded with purpose fine-tune",
                                param="training_file")
        suffix = body.get("suffix")
        if suffix is not None and not (isinstance(suffix, str) and len(suffix) <= MAX_SUFFIX and SUFFIX_CHARS.match(suffix)):
            raise TogetherError(400, f"suffix must be at most {MAX_SUFFIX} characters of letters, digits, '.', '_' and '-'",
                                param="suffix")
        n_epochs = body.get("n_epochs", 1)
        if not isinstance(n_epochs, int) or isinstance(n_epochs, bool) or not 1 <= n_epochs <= 20:
            raise TogetherError(400, "n_epochs must be an integer between 1 and 20", param="n_epochs")
        batch_size = body.get("batch_size", "max")
        if batch_size != "max" and not (isinstance(batch_size, int) and 1 <= batch_size <= DEFAULT_BATCH_SIZE):
            raise TogetherError(400, f"batch_size must be 'max' or an integer up to {DEFAULT_BATCH_SIZE}", param="batch_size")
        method = self._method(body.get("training_method"))
        check = check_dataset(self._contents[training_file])
        if check.problem is None and check.format not in METHOD_FORMATS[method]:
            check = replace(check, problem=f"a {check.format} dataset cannot train with method {method}")
        if check.problem is not None:
            raise TogetherError(400, f"Invalid training file {training_file}: {check.problem}", param="training_file")
        self._check_validation_file(body.get("validation_file"), method)
        job_id = self._new_id("ft-")
        output = f"{self.account}/{model}:{suffix}:{job_id}" if suffix else f"{self.account}/{model}:{job_id}"
        error, self._next_job_error = self._next_job_error, None
        params = {key: body[key] for key in ("learning_rate", "n_checkpoints", "n_evals", "warmup_ratio", "max_grad_norm",
                                             "weight_decay", "random_seed", "training_type", "training_method") if key in body}
        job = JobRecord(id=job_id, created=self._tick(), user_id=self.account, model=model, training_file=training_file,
                        output_name=output, method=method, n_epochs=n_epochs,
                        batch_size=DEFAULT_BATCH_SIZE if batch_size == "max" else batch_size, check=check,
                        durations=self.durations, params=params, suffix=suffix,
                        validation_file=body.get("validation_file") or None, error_message=error)
        self._jobs[job_id] = job
        return json_response(job.truncated(self._tick()))

    def _check_validation_file(self, validation_file: object, method: str) -> None:
        """A validation file is an uploaded fine-tune file in a format the method trains on, like the training file."""
        if validation_file in (None, ""):
            return
        if not isinstance(validation_file, str) or self._files.get(validation_file, {}).get("purpose") != "fine-tune":
            raise TogetherError(400, f"validation_file {validation_file!r} is not a file uploaded with purpose fine-tune",
                                param="validation_file")
        check = check_dataset(self._contents[validation_file])
        problem = check.problem or (None if check.format in METHOD_FORMATS[method]
                                    else f"a {check.format} dataset cannot validate method {method}")
        if problem is not None:
            raise TogetherError(400, f"Invalid validation file {validation_file}: {problem}", param="validation_file")

    @staticmethod
    def _method(given: object) -> str:
        if given is None:
            return "sft"
        method = given.get("method") if isinstance(given, dict) else None
        if method not in METHOD_FORMATS:
            raise TogetherError(400, "training_method.method must be 'sft' or 'dpo'", param="training_method")
        return str(method)

    def _existing_job(self, call: _Call) -> JobRecord:
        job = self._jobs.get(call.params["job_id"])
        if job is None:
            raise not_found("Fine-tune job", call.params["job_id"])
        return job

    def _fine_tunes_list(self, call: _Call) -> Response:
        now = self._tick()
        return json_response({"data": [job.truncated(now) for job in reversed(self._jobs.values())]})

    def _fine_tunes_retrieve(self, call: _Call) -> Response:
        return json_response(self._existing_job(call).full(self._tick()))

    def _fine_tunes_events(self, call: _Call) -> Response:
        return json_response({"data": self._existing_job(call).events(self._tick())})

    def _fine_tunes_metrics(self, call: _Call) -> Response:
        return json_response({"metrics": self._existing_job(call).metrics(self._tick())})

    def _fine_tunes_cancel(self, call: _Call) -> Response:
        job, now = self._existing_job(call), self._tick()
        if job.is_terminal(now):
            raise TogetherError(400, f"Job {job.id} is already {job.status_at(now)} and cannot be cancelled.",
                                param="id")
        if job.cancelled_at is None:
            job.cancelled_at = now
        return json_response(job.truncated(now))
