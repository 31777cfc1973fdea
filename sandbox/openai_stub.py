"""A local stand-in for the OpenAI HTTP API, speaking the real wire formats.

The real `openai.OpenAI(base_url=stub.base_url, api_key=...)` client works against it unchanged, so
tests and the offline sandbox exercise the same code paths as production: file upload, fine-tuning
jobs that progress with an injected clock, models, and chat completions (plain and streamed) whose
replies show whether a model was fine-tuned. Failures can be injected per route to test retries,
permission errors and lost responses.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from finetune.clock import Clock, SystemClock
from sandbox import openai_stub_errors as errors
from sandbox.clock import ManualClock
from sandbox.openai_stub_errors import ApiError
from sandbox.openai_stub_jobs import (
    DPO_MODELS,
    FINE_TUNABLE_MODELS,
    JobDurations,
    JobRecord,
    auto_batch_size,
    auto_learning_rate_multiplier,
    auto_n_epochs,
    check_metadata,
    check_suffix,
    check_training_file,
    method_type,
    parse_hyperparameters,
)
from sandbox.openai_stub_replies import (
    base_reply,
    estimate_tokens,
    finetuned_reply,
    message_text,
    stream_pieces,
)
from sandbox.openai_stub_wire import Multipart, Response, StreamHold, StubServer, json_response, parse_multipart

__all__ = ["OpenAIStub", "JobDurations", "RecordedRequest", "ROUTE_NAMES", "BASE_MODELS",
           "FINE_TUNABLE_MODELS", "Clock", "SystemClock", "ManualClock"]

_ROUTE_TABLE: tuple[tuple[str, str, str], ...] = (
    ("POST", r"/v1/files", "files.create"),
    ("GET", r"/v1/files", "files.list"),
    ("GET", r"/v1/files/(?P<file_id>[^/]+)", "files.retrieve"),
    ("GET", r"/v1/files/(?P<file_id>[^/]+)/content", "files.content"),
    ("DELETE", r"/v1/files/(?P<file_id>[^/]+)", "files.delete"),
    ("POST", r"/v1/fine_tuning/jobs", "jobs.create"),
    ("GET", r"/v1/fine_tuning/jobs", "jobs.list"),
    ("GET", r"/v1/fine_tuning/jobs/(?P<job_id>[^/]+)", "jobs.retrieve"),
    ("GET", r"/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/events", "jobs.events"),
    ("POST", r"/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/cancel", "jobs.cancel"),
    ("GET", r"/v1/models", "models.list"),
    ("GET", r"/v1/models/(?P<model>[^/]+)", "models.retrieve"),
    ("POST", r"/v1/chat/completions", "chat.completions"),
)
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(f"^{pattern}$"), name) for method, pattern, name in _ROUTE_TABLE)
ROUTE_NAMES: frozenset[str] = frozenset(name for _, _, name in _ROUTE_TABLE)

FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# model id -> (created, owned_by); what GET /models/{id} knows besides fine-tuned models
BASE_MODELS: dict[str, tuple[int, str]] = {
    "gpt-3.5-turbo": (1677610602, "openai"),
    "gpt-3.5-turbo-0125": (1706048358, "system"),
    "gpt-4": (1687882411, "openai"),
    "gpt-4-turbo": (1712361441, "system"),
    "gpt-4o": (1715367049, "system"),
    "gpt-4o-2024-08-06": (1722814719, "system"),
    "gpt-4o-mini": (1721172741, "system"),
    "gpt-4o-mini-2024-07-18": (1721172717, "system"),
    "gpt-4.1": (1744316542, "system"),
    "gpt-4.1-2025-04-14": (1744315746, "system"),
    "gpt-4.1-mini": (1744318173, "system"),
    "gpt-4.1-mini-2025-04-14": (1744317547, "system"),
    "gpt-4.1-nano": (1744321707, "system"),
    "gpt-4.1-nano-2025-04-14": (1744321025, "system"),
    "gpt-5": (1754425777, "system"),
    "gpt-5-mini": (1754425928, "system"),
    "gpt-5-nano": (1754426384, "system"),
    "o4-mini": (1744225351, "system"),
}
DEFAULT_REFUSAL = ("Fine-tuning is not available for this organization. Your organization must be verified and "
                   "on a paid usage tier to create fine-tuning jobs; contact us through our help center at "
                   "help.openai.com if you believe this is an error.")
REFUSAL_CODE = "training_not_available"
DEFAULT_JOB_FAILURE_CODE = "internal_error"
DEFAULT_JOB_FAILURE_MESSAGE = ("The job failed due to an internal error. Please try again; if the problem "
                               "persists, contact us through our help center at help.openai.com.")
_ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class RecordedRequest:
    """One request as the stub saw it, with the status it answered."""

    method: str
    path: str  # full path, e.g. "/v1/fine_tuning/jobs" (no query string)
    query: dict[str, str]  # last value per key; metadata filters arrive as "metadata[key]"
    headers: dict[str, str]  # lower-case keys
    json: Any  # parsed JSON body, or None (multipart uploads, GETs, unparsable bodies)
    status: int
    route: str | None = None  # e.g. "jobs.create"; None for unknown URLs
    form: dict[str, str] | None = None  # multipart fields; uploaded files appear as their filename


@dataclass
class _Failure:
    status: int
    message: str | None
    code: str | None
    type: str | None
    apply_first: bool
    retry_after: float | None
    should_retry: bool | None

    def error(self) -> ApiError:
        error = errors.default_error(self.status, message=self.message, code=self.code, type=self.type)
        error.headers.update(errors.retry_headers(self.retry_after, self.should_retry))
        return error


@dataclass
class _Call:
    """A request being answered: what handlers read."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    json_ok: bool = False
    multipart: Multipart | None = None


class OpenAIStub:
    """The OpenAI API on 127.0.0.1, with state kept in memory and time taken from an injected clock."""

    def __init__(self, clock: Clock | None = None, *, organization: str = "sandbox-org",
                 api_key: str | None = None, durations: JobDurations | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._organization = organization
        self._api_key = api_key
        self._durations = durations or JobDurations()
        self._lock = threading.RLock()
        self._ids = random.Random(f"openai-stub:ids:{organization}")
        self._chat_ids = random.Random(f"openai-stub:chat:{organization}")
        self._high_water = float("-inf")
        self._files: dict[str, dict[str, Any]] = {}
        self._contents: dict[str, bytes] = {}
        self._jobs: dict[str, JobRecord] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._refusal: str | None = None
        self._refusal_code: str | None = None
        self._next_job_error: dict[str, Any] | None = None
        self._scripted_answers: deque[str] = deque()
        self._garbled_streams = 0
        self._stream_hold: StreamHold | None = None
        self._request_count = 0
        self._revision = 0
        self._server: StubServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []

    # ----- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> OpenAIStub:
        """Serves in a daemon thread; port 0 picks a free port (read it back from `base_url`)."""
        if self._server is not None:
            return self
        self._server = StubServer((host, port), self._dispatch)
        self._thread = self._server.serve_in_background("openai-stub")
        return self

    def stop(self) -> None:
        self.stream_freely()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.stop_serving(thread)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("OpenAIStub is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- what happened ---------------------------------------------------------------------------

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests by method and path prefix; the prefix may omit the leading "/v1"."""
        if not (path_prefix == "/v1" or path_prefix.startswith("/v1/")):
            path_prefix = "/v1/" + path_prefix.lstrip("/")
        with self._lock:
            return [r for r in self.requests if r.method == method.upper() and r.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """file id -> FileObject dict (a snapshot; result files of succeeded jobs included)."""
        with self._lock:
            self._tick()
            return {file_id: dict(obj) for file_id, obj in self._files.items()}

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            self._tick()
            return self._contents[file_id]

    def jobs(self) -> list[dict[str, Any]]:
        """Every FineTuningJob dict in creation order, status resolved at the clock's now."""
        with self._lock:
            now = self._tick()
            return [job.to_dict(now) for job in self._jobs.values()]

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._jobs[job_id].to_dict(self._tick())

    # ----- saved state -----------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """Goes up whenever state worth saving changes, so a saver can skip writes when nothing did."""
        with self._lock:
            return self._revision

    def snapshot(self) -> dict[str, Any]:
        """Files, jobs, id generators and the high-water clock as plain JSON, for a sandbox restart.

        Recorded requests and injected failures are test observation and control, so they are left out.
        """
        with self._lock:
            return {
                "organization": self._organization,
                "files": [{"file": dict(obj), "content": base64.b64encode(self._contents[file_id]).decode("ascii")}
                          for file_id, obj in self._files.items()],
                "jobs": [job.to_state() for job in self._jobs.values()],
                "ids": _rng_state(self._ids),
                "chat_ids": _rng_state(self._chat_ids),
                "request_count": self._request_count,
                "high_water": self._high_water if self._high_water != float("-inf") else None,
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Replaces files, jobs and id generators with a snapshot's; all or nothing.

        Raises KeyError/TypeError/ValueError for a state that is not a snapshot, leaving the stub as it was.
        Works before start() and while serving.
        """
        files: dict[str, dict[str, Any]] = {}
        contents: dict[str, bytes] = {}
        for entry in state["files"]:
            obj = dict(entry["file"])
            files[obj["id"]] = obj
            contents[obj["id"]] = base64.b64decode(entry["content"].encode("ascii"), validate=True)
        jobs = {job.id: job for job in (JobRecord.from_state(item) for item in state["jobs"])}
        ids, chat_ids = random.Random(), random.Random()
        ids.setstate(_rng_tuple(state["ids"]))
        chat_ids.setstate(_rng_tuple(state["chat_ids"]))
        request_count = int(state["request_count"])
        high_water = float("-inf") if state["high_water"] is None else float(state["high_water"])
        with self._lock:
            self._files, self._contents, self._jobs = files, contents, jobs
            self._ids, self._chat_ids = ids, chat_ids
            self._request_count, self._high_water = request_count, high_water
            self._revision += 1

    # ----- failures on demand ----------------------------------------------------------------------

    def fail_next(self, route: str, status: int, *, message: str | None = None, code: str | None = None,
                  type: str | None = None, count: int = 1, apply_first: bool = False,
                  retry_after: float | None = None, should_retry: bool | None = None) -> None:
        """The next `count` requests to `route` answer `status` with OpenAI's error body.

        apply_first=True performs the operation first (e.g. really creates the job) and then answers the
        error, simulating a lost response. retry_after sets `retry-after`/`retry-after-ms`; should_retry
        sets `x-should-retry`, both of which the SDK obeys.
        """
        if route not in ROUTE_NAMES:
            raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTE_NAMES)}")
        if status < 400:
            raise ValueError("fail_next needs an error status (>= 400)")
        failure = _Failure(status, message, code, type, apply_first, retry_after, should_retry)
        with self._lock:
            self._failures.setdefault(route, deque()).extend([failure] * count)

    def hold_streams(self, after_pieces: int = 2) -> StreamHold:
        """From now on, streamed chat completions send the role and `after_pieces` pieces of the answer, then
        wait until the returned hold is released (a slow model, or one to kill a bot in the middle of)."""
        hold = StreamHold(after=1 + after_pieces)
        with self._lock:
            self._stream_hold = hold
        return hold

    def stream_freely(self) -> None:
        with self._lock:
            hold, self._stream_hold = self._stream_hold, None
        if hold is not None:
            hold.release()

    def refuse_fine_tuning(self, message: str = DEFAULT_REFUSAL, code: str | None = REFUSAL_CODE) -> None:
        """Every jobs.create answers 403 (PermissionDeniedError) until allow_fine_tuning().

        OpenAI's refusal of organisations its closing self-serve fine-tuning no longer serves carries
        the code `training_not_available`.
        """
        with self._lock:
            self._refusal = message
            self._refusal_code = code

    def allow_fine_tuning(self) -> None:
        with self._lock:
            self._refusal = None

    def fail_next_job(self, *, code: str = DEFAULT_JOB_FAILURE_CODE,
                      message: str = DEFAULT_JOB_FAILURE_MESSAGE) -> None:
        """The next created job goes through its phases and ends `failed` with this error."""
        with self._lock:
            self._next_job_error = {"code": code, "message": message, "param": None}

    def answer_next(self, text: str, count: int = 1) -> None:
        """The next `count` chat completions answer exactly `text`: whatever a model may write (a special
        mention, odd bytes), for tests of what the bot does with it."""
        with self._lock:
            self._scripted_answers.extend([text] * count)

    def garble_next_stream(self, count: int = 1) -> None:
        """The next `count` streamed answers break off with a line that is not UTF-8, as a faulty proxy
        might send: the openai SDK fails reading it with a codec error."""
        with self._lock:
            self._garbled_streams += count

    # ----- dispatch --------------------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Response:
        """Answers one HTTP request; the whole answer is computed under the lock, then recorded."""
        split = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        call = _Call(method.upper(), split.path, query, headers, raw)
        _decode_body(call)
        with self._lock:
            self._tick()
            route = self._route(call)
            try:
                response = self._answer(call, route)
            except ApiError as error:
                response = json_response(error.body(), error.status, error.headers)
            response.headers.update(self._standard_headers())
            self.requests.append(RecordedRequest(
                call.method, call.path, query, dict(headers), call.json if call.json_ok else None,
                response.status, route, _form_record(call.multipart)))
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
            raise errors.invalid_url(call.method, call.path)
        failures = self._failures.get(route)
        failure = failures.popleft() if failures else None
        if failure and not failure.apply_first:
            raise failure.error()
        handler: Callable[[_Call], Response] = getattr(self, "_" + route.replace(".", "_"))
        response = handler(call)
        if failure:
            raise failure.error()
        return response

    def _authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.missing_api_key()
        if self._api_key is not None and token != self._api_key:
            raise errors.incorrect_api_key(token)

    def _standard_headers(self) -> dict[str, str]:
        self._request_count += 1
        request_id = "req_" + hashlib.md5(f"{self._organization}:{self._request_count}".encode()).hexdigest()
        return {"x-request-id": request_id, "openai-organization": self._organization,
                "openai-version": "2020-10-01", "openai-processing-ms": "1"}

    # ----- time ------------------------------------------------------------------------------------

    def _tick(self) -> float:
        """The effective now: the clock, but never earlier than a time already shown (status never goes
        backwards even if a test sets the clock back). Also publishes result files of finished jobs."""
        self._high_water = max(self._high_water, self._clock.now().timestamp())
        for job in self._jobs.values():
            if not job.results_published and job.status_at(self._high_water) == "succeeded":
                self._publish_results(job)
        return self._high_water

    def _publish_results(self, job: JobRecord) -> None:
        content = job.results_csv()
        finished = job.to_dict(self._high_water)["finished_at"]
        self._store_file(job.result_file, "step_metrics.csv", "fine-tune-results", content, finished)
        job.results_published = True

    def _new_id(self, prefix: str, length: int, rng: random.Random | None = None) -> str:
        rng = rng or self._ids
        return prefix + "".join(rng.choice(_ALPHANUM) for _ in range(length))

    # ----- files -----------------------------------------------------------------------------------

    def _files_create(self, call: _Call) -> Response:
        form = call.multipart
        if form is None:
            raise ApiError(400, f"Invalid Content-Type header ({call.headers.get('content-type', 'none')}), "
                                "expected multipart/form-data.")
        purpose = form.fields.get("purpose")
        if purpose is None:
            raise errors.missing_param("purpose")
        if purpose not in FILE_PURPOSES:
            raise ApiError(400, f"'{purpose}' is not one of {list(FILE_PURPOSES)} - 'purpose'", param="purpose",
                           code="invalid_value")
        if "file" not in form.files:
            raise errors.missing_param("file")
        filename, content = form.files["file"]
        if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
            raise ApiError(400, "Invalid file format for Fine-Tuning API. Must be .jsonl", param="file")
        file_id = self._new_id("file-", 22)
        self._store_file(file_id, filename, purpose, content, int(self._tick()))
        return json_response(self._files[file_id])

    def _store_file(self, file_id: str, filename: str, purpose: str, content: bytes, created: int) -> None:
        self._revision += 1
        self._contents[file_id] = content
        self._files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": created,
                                "filename": filename, "purpose": purpose, "status": "processed",
                                "expires_at": None, "status_details": None}

    def _files_list(self, call: _Call) -> Response:
        items = [f for f in reversed(self._files.values()) if call.query.get("purpose") in (None, f["purpose"])]
        if call.query.get("order") == "asc":
            items.reverse()
        return json_response(_page(items, call.query, default_limit=10000, max_limit=10000))

    def _existing_file(self, file_id: str) -> dict[str, Any]:
        if file_id not in self._files:
            raise errors.file_not_found(file_id)
        return self._files[file_id]

    def _files_retrieve(self, call: _Call) -> Response:
        return json_response(self._existing_file(call.params["file_id"]))

    def _files_content(self, call: _Call) -> Response:
        file_id = self._existing_file(call.params["file_id"])["id"]
        return Response(200, self._contents[file_id], content_type="application/octet-stream")

    def _files_delete(self, call: _Call) -> Response:
        """OpenAI's FileDeleted: {"id", "object": "file", "deleted": true}; an unknown id is a 404."""
        file_id = self._existing_file(call.params["file_id"])["id"]
        self._revision += 1
        del self._files[file_id], self._contents[file_id]
        return json_response({"id": file_id, "object": "file", "deleted": True})

    # ----- fine-tuning jobs ------------------------------------------------------------------------

    def _jobs_create(self, call: _Call) -> Response:
        if self._refusal is not None:
            raise ApiError(403, self._refusal, code=self._refusal_code)
        body = _json_object(call)
        model = _required_str(body, "model")
        if model not in FINE_TUNABLE_MODELS:
            raise ApiError(400, f"Model {model} is not available for fine-tuning or does not exist.",
                           param="model", code="model_not_available")
        training_file = self._fine_tune_file(body, "training_file")
        validation_file = self._fine_tune_file(body, "validation_file") if body.get("validation_file") else None
        method = method_type(body)
        if method == "dpo" and FINE_TUNABLE_MODELS[model] not in DPO_MODELS:
            raise ApiError(400, f"Model {model} does not support the 'dpo' fine-tuning method.", param="model",
                           code="model_not_available")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise errors.invalid_type("seed", "an integer", seed)
        job = self._new_job(FINE_TUNABLE_MODELS[model], training_file, validation_file,
                            check_suffix(body.get("suffix")), check_metadata(body.get("metadata")),
                            seed, parse_hyperparameters(body), method)
        self._jobs[job.id] = job
        self._revision += 1
        return json_response(job.to_dict(self._tick()))

    def _fine_tune_file(self, body: dict[str, Any], param: str) -> str:
        file_id = _required_str(body, param)
        if file_id not in self._files:
            raise ApiError(400, f"invalid {param}: {file_id}", param=param)
        purpose = self._files[file_id]["purpose"]
        if purpose != "fine-tune":
            raise ApiError(400, f"File {file_id} has purpose '{purpose}', but {param} must be a file uploaded "
                                "with purpose 'fine-tune'.", param=param)
        return file_id

    def _new_job(self, model: str, training_file: str, validation_file: str | None, suffix: str | None,
                 metadata: dict[str, str] | None, seed: int | None, requested: dict[str, Any],
                 method: str = "supervised") -> JobRecord:
        check = check_training_file(self._contents[training_file], method=method)
        resolved = _resolve_hyperparameters(requested, check.n_examples, model)
        job_id = self._new_id("ftjob-", 24)
        training_error, self._next_job_error = self._next_job_error, None
        return JobRecord(
            id=job_id, created=self._tick(), model=model, organization=self._organization,
            training_file=training_file, validation_file=validation_file, suffix=suffix, metadata=metadata,
            seed=seed if seed is not None else self._ids.randrange(2 ** 31), requested=requested,
            resolved=resolved, durations=self._durations, examples=check.examples,
            trained_tokens=check.word_count * resolved["n_epochs"],
            fine_tuned_model=f"ft:{model}:{self._organization}:{suffix or ''}:{self._new_id('', 8)}",
            result_file=self._new_id("file-", 22),
            validation_error=self._validation_error(check.problem, validation_file, method),
            training_error=training_error, method=method)

    def _validation_error(self, training_problem: str | None, validation_file: str | None,
                          method: str = "supervised") -> dict[str, Any] | None:
        """What validating_files will find: checked now (files are immutable), revealed when the phase ends."""
        if training_problem:
            return {"code": "invalid_training_file", "param": "training_file",
                    "message": f"The job failed due to an invalid training file. {training_problem}"}
        if validation_file:
            problem = check_training_file(self._contents[validation_file], min_examples=1, method=method).problem
            if problem:
                return {"code": "invalid_validation_file", "param": "validation_file",
                        "message": f"The job failed due to an invalid validation file. {problem}"}
        return None

    def _existing_job(self, job_id: str) -> JobRecord:
        if job_id not in self._jobs:
            raise errors.job_not_found(job_id)
        return self._jobs[job_id]

    def _jobs_retrieve(self, call: _Call) -> Response:
        return json_response(self._existing_job(call.params["job_id"]).to_dict(self._tick()))

    def _jobs_list(self, call: _Call) -> Response:
        now = self._tick()
        wanted = {key[len("metadata["):-1]: value for key, value in call.query.items()
                  if key.startswith("metadata[") and key.endswith("]")}
        null_only = call.query.get("metadata") == "null"
        jobs = [job for job in reversed(self._jobs.values())
                if (job.metadata is None if null_only else
                    all((job.metadata or {}).get(key) == value for key, value in wanted.items()))]
        return json_response(_page([job.to_dict(now) for job in jobs], call.query))

    def _jobs_events(self, call: _Call) -> Response:
        job = self._existing_job(call.params["job_id"])
        return json_response(_page(job.events(self._tick()), call.query))

    def _jobs_cancel(self, call: _Call) -> Response:
        job = self._existing_job(call.params["job_id"])
        now = self._tick()
        status = job.status_at(now)
        if job.is_terminal(now):
            raise ApiError(400, f"Job {job.id} has already {status} and cannot be cancelled.", param="job_id")
        job.cancelled_at = now
        self._revision += 1
        return json_response(job.to_dict(now))

    # ----- models ----------------------------------------------------------------------------------

    def _model_objects(self) -> dict[str, dict[str, Any]]:
        now = self._tick()
        models = {name: {"id": name, "object": "model", "created": created, "owned_by": owner}
                  for name, (created, owner) in BASE_MODELS.items()}
        for job in self._jobs.values():
            shown = job.to_dict(now)
            if shown["status"] == "succeeded":
                models[job.fine_tuned_model] = {"id": job.fine_tuned_model, "object": "model",
                                                "created": shown["finished_at"], "owned_by": self._organization}
        return models

    def _models_list(self, call: _Call) -> Response:
        return json_response({"object": "list", "data": list(self._model_objects().values())})

    def _models_retrieve(self, call: _Call) -> Response:
        model = call.params["model"]
        models = self._model_objects()
        if model not in models:
            raise errors.model_not_found(model)
        return json_response(models[model])

    def _finetuned_job(self, model: str) -> JobRecord | None:
        now = self._tick()
        for job in self._jobs.values():
            if job.fine_tuned_model == model and job.status_at(now) == "succeeded":
                return job
        return None

    # ----- chat completions ------------------------------------------------------------------------

    def _chat_completions(self, call: _Call) -> Response:
        body = _json_object(call)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "you must provide a model parameter", param="model",
                           code="missing_required_parameter")
        if model not in self._model_objects():
            raise errors.model_not_found(model)
        messages = _checked_messages(body.get("messages"))
        options = _chat_options(body)
        job = self._finetuned_job(model)
        if self._scripted_answers:
            reply = self._scripted_answers.popleft()
        else:
            reply = finetuned_reply(messages, job.examples) if job else base_reply(messages)
        text, finish = _truncate(reply, options["max_tokens"])
        usage = _usage(messages, text)
        self._revision += 1  # the chat id generator moved on
        ids = {"id": self._new_id("chatcmpl-", 29, self._chat_ids), "created": int(self._tick()), "model": model,
               "system_fingerprint": "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10],
               "service_tier": "default"}
        if options["stream"]:
            streamed = _stream_response(ids, text, finish, usage, options)
            if self._garbled_streams and streamed.chunks:
                self._garbled_streams -= 1
                streamed.chunks = streamed.chunks[:2] + [b'data: {"choices": "\xff\xfe"}\n\n']
            streamed.hold = self._stream_hold
            return streamed
        return json_response({
            **ids, "object": "chat.completion", "usage": usage,
            "choices": [{"index": i, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []}}
                        for i in range(options["n"])]})


# ----- saved state helpers (pure) ------------------------------------------------------------------


def _rng_state(rng: random.Random) -> list[Any]:
    """random.Random's state as JSON lists: restoring it continues the same id sequence, so ids stay unique."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_tuple(state: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = state
    return int(version), tuple(int(x) for x in internal), gauss


# ----- request helpers (pure) ----------------------------------------------------------------------


def _decode_body(call: _Call) -> None:
    """JSON or multipart, as the content type says; a JSON body that does not parse is flagged, not raised."""
    content_type = call.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        call.multipart = parse_multipart(content_type, call.raw)
        return
    if not call.raw.strip():
        return
    try:
        call.json, call.json_ok = json.loads(call.raw), True
    except ValueError:
        call.json_ok = False


def _form_record(multipart: Multipart | None) -> dict[str, str] | None:
    if multipart is None:
        return None
    return {**multipart.fields, **{name: filename for name, (filename, _) in multipart.files.items()}}


def _json_object(call: _Call) -> dict[str, Any]:
    if not call.json_ok or not isinstance(call.json, dict):
        raise errors.invalid_json()
    return call.json


def _required_str(body: dict[str, Any], param: str) -> str:
    value = body.get(param)
    if value is None:
        raise errors.missing_param(param)
    if not isinstance(value, str):
        raise errors.invalid_type(param, "a string", value)
    return value


def _page(items: list[dict[str, Any]], query: dict[str, str], *, default_limit: int = 20,
          max_limit: int = 100) -> dict[str, Any]:
    """A cursor page: items after the one whose id is `after`, at most `limit` of them."""
    limit = _limit(query.get("limit"), default_limit, max_limit)
    after = query.get("after")
    if after:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    data = items[:limit]
    return {"object": "list", "data": data, "has_more": len(items) > limit,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise errors.invalid_type("limit", "an integer", raw) from None
    if not 1 <= limit <= maximum:
        raise errors.invalid_value("limit", f"Invalid 'limit': integer below minimum value or above maximum "
                                            f"value. Expected a value between 1 and {maximum}, but got {limit} "
                                            "instead.")
    return limit


def _resolve_hyperparameters(requested: dict[str, Any], n_examples: int, model: str) -> dict[str, Any]:
    """'auto' replaced by the numbers OpenAI would pick for this data set."""
    auto = {"n_epochs": auto_n_epochs(n_examples), "batch_size": auto_batch_size(n_examples),
            "learning_rate_multiplier": auto_learning_rate_multiplier(model), "beta": 0.1}
    return {key: auto[key] if value == "auto" else value for key, value in requested.items()}


def _checked_messages(messages: object) -> list[dict[str, Any]]:
    if messages is None:
        raise errors.missing_param("messages")
    if not isinstance(messages, list):
        raise errors.invalid_type("messages", "an array", messages)
    if not messages:
        raise ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
                            "an empty array instead.", param="messages", code="empty_array")
    for index, message in enumerate(messages):
        _check_message(index, message)
    return messages


def _check_message(index: int, message: object) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise errors.invalid_type(where, "an object", message)
    role = message.get("role")
    if role is None:
        raise errors.missing_param(f"{where}.role")
    if role not in CHAT_ROLES:
        raise errors.invalid_value(f"{where}.role", f"Invalid value: '{role}'. Supported values are: 'system', "
                                                    "'assistant', 'user', 'function', 'tool', and 'developer'.")
    content = message.get("content")
    if content is None and role != "assistant":
        raise errors.missing_param(f"{where}.content")
    if content is not None and not isinstance(content, (str, list)):
        raise errors.invalid_type(f"{where}.content", "one of a string or array of objects", content)


def _chat_options(body: dict[str, Any]) -> dict[str, Any]:
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise errors.invalid_type("stream", "a boolean", stream)
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
        raise errors.invalid_value("temperature", f"Invalid 'temperature': {temperature!r}. Expected a number "
                                                  "between 0 and 2.")
    n = body.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= 128:
        raise errors.invalid_value("n", f"Invalid 'n': {n!r}. Expected an integer between 1 and 128.")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    stream_options = body.get("stream_options") or {}
    return {"stream": stream, "n": n, "max_tokens": max_tokens if isinstance(max_tokens, int) else None,
            "include_usage": bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))}


def _truncate(text: str, max_tokens: int | None) -> tuple[str, str]:
    """Cuts the reply at `max_tokens` (estimated), reporting finish_reason "length" as OpenAI does."""
    if max_tokens is None or estimate_tokens(text) <= max_tokens:
        return text, "stop"
    return text[: max(0, max_tokens) * 4], "length"


def _usage(messages: list[dict[str, Any]], reply: str) -> dict[str, Any]:
    prompt = sum(estimate_tokens(message_text(m.get("content"))) + 4 for m in messages) + 3
    completion = estimate_tokens(reply)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _stream_response(ids: dict[str, Any], text: str, finish: str, usage: dict[str, Any],
                     options: dict[str, Any]) -> Response:
    """Server-sent events of ChatCompletionChunk objects, ending with `data: [DONE]`."""
    base = {**ids, "object": "chat.completion.chunk"}
    if options["include_usage"]:
        base["usage"] = None
    chunks: list[dict[str, Any]] = []
    for index in range(options["n"]):
        deltas = [{"role": "assistant", "content": "", "refusal": None}]
        deltas += [{"content": piece} for piece in stream_pieces(text)]
        chunks += [{**base, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]}
                   for delta in deltas]
        chunks.append({**base, "choices": [{"index": index, "delta": {}, "logprobs": None,
                                            "finish_reason": finish}]})
    if options["include_usage"]:
        chunks.append({**base, "choices": [], "usage": usage})
    events = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks] + [b"data: [DONE]\n\n"]
    return Response(200, content_type="text/event-stream; charset=utf-8", chunks=events)
