"""A stand-in for vLLM's OpenAI-compatible server on 127.0.0.1 that really generates: a small model from a
directory, and LoRA adapters loaded at run time with PEFT, so an answer after a swap comes from trained weights.

It follows the routes and shapes of `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve DIR --enable-lora`
(vllm/entrypoints/openai/models/serving.py, serve/lora/api_router.py, serve/utils/error_response.py):

- GET /v1/models: the base model (id = --served-model-name, else the directory; root = the directory) and
  one card per loaded adapter (id = lora_name, root = lora_path, parent = the base model's name).
- POST /v1/load_lora_adapter {lora_name, lora_path}: 200 with the text "Success: LoRA adapter '<name>' added
  successfully."; 400 InvalidUserInput when a field is missing or the name is loaded already; 404
  NotFoundError "Loading lora <name> failed: No adapter found for <path>"; any other failure to add it (a
  rank above --max-lora-rank: "LoRA rank 32 is greater than max_lora_rank 16.") 500 InternalServerError.
- POST /v1/unload_lora_adapter {lora_name}: 200 "Success: LoRA adapter '<name>' removed successfully.";
  404 NotFoundError "The lora adapter '<name>' cannot be found.".
- POST /v1/chat/completions (plain and streamed): 404 NotFoundError "The model `<name>` does not exist."
  (param "model") for a name it does not serve. Greedy decoding, so the same question gets the same answer.
- Errors are {"error": {"message", "type", "param", "code"}}; an unknown route is FastAPI's 404 {"detail": "Not Found"}.

Levers: restart() (a new process on the same port: every runtime-loaded adapter is gone), go_down() and
come_back(), reject_next_load(message), serve_base_as(name) (started with another --served-model-name),
fail_next(status, count). torch, transformers and peft are imported when it starts.
"""
from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from sandbox.openai_stub_wire import Response, StubServer, json_response

DEFAULT_MAX_TOKENS = 48


class _Server(StubServer):
    """Keeps its open connections, so stopping it drops them as a dying process would (keep-alive included)."""

    def __init__(self, address: tuple[str, int], dispatch: Any) -> None:
        super().__init__(address, dispatch)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Closing also drops the connections still open, as a dying process would."""
        super().server_close()
        self.drop_connections()

    def drop_connections(self) -> None:
        with self._open_lock:
            open_now = list(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@dataclass
class _Adapter:
    name: str
    path: str
    model: Any  # a PeftModel over its own copy of the base model
    created: int


class VllmError(Exception):
    def __init__(self, status: HTTPStatus, message: str, err_type: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.err_type, self.param = status, message, err_type, param

    def response(self) -> Response:
        return json_response({"error": {"message": self.message, "type": self.err_type, "param": self.param,
                                        "code": self.status.value}}, int(self.status))


class VllmStub:
    def __init__(self, model_dir: Path, *, served_model_name: str | None = None, max_lora_rank: int = 16,
                 runtime_lora_updating: bool = True) -> None:
        self.model_dir = Path(model_dir)
        self.served_model_name = served_model_name or str(model_dir)
        self.max_lora_rank = max_lora_rank
        self.runtime_lora_updating = runtime_lora_updating  # VLLM_ALLOW_RUNTIME_LORA_UPDATING: without it, no routes
        self._lock = threading.RLock()
        self._generate_lock = threading.Lock()
        self._adapters: dict[str, _Adapter] = {}
        self._failures: list[int] = []
        self._next_rejection: str | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._tokenizer: Any = None
        self._base: Any = None
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, json body)

    # ----- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int | None = None) -> VllmStub:
        if self._base is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self._base = AutoModelForCausalLM.from_pretrained(self.model_dir).eval()
        if self._server is None:
            self._server = _Server((host, self._port if port is None else port), self._dispatch)
            self._port = self._server.server_address[1]
            self._thread = self._server.serve_in_background("vllm-stub")
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.stop_serving(thread)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base, ending in /v1, as VLLM_BASE_URL takes it."""
        return f"http://127.0.0.1:{self._port}/v1"

    def __enter__(self) -> VllmStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- levers ----------------------------------------------------------------------------------

    def restart(self) -> None:
        """vLLM restarted: the same port and base model, and none of the adapters loaded at run time."""
        self.stop()
        with self._lock:
            self._adapters.clear()
        self.start()

    def go_down(self) -> None:
        """The server stops: connections are refused until come_back()."""
        self.stop()

    def come_back(self) -> None:
        self.restart()

    def reject_next_load(self, message: str) -> None:
        """The next load_lora_adapter fails in the engine with `message` (vLLM answers it as a 500)."""
        with self._lock:
            self._next_rejection = message

    def serve_base_as(self, name: str) -> None:
        with self._lock:
            self.served_model_name = name

    def fail_next(self, status: int, count: int = 1) -> None:
        with self._lock:
            self._failures += [status] * count

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._adapters)

    # ----- what it serves ----------------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Response:
        path = target.split("?", 1)[0]
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        with self._lock:
            self.requests.append((method, path, body))
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return VllmError(HTTPStatus(failure), f"the stand-in was told to answer {failure}", "InternalServerError"
                             if failure >= 500 else "BadRequestError").response()
        routes = {
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/chat/completions"): self._chat,
        }
        if self.runtime_lora_updating:
            routes[("POST", "/v1/load_lora_adapter")] = self._load
            routes[("POST", "/v1/unload_lora_adapter")] = self._unload
        if (method, path) == ("GET", "/health"):
            return Response(200, b"", content_type="application/json")
        route = routes.get((method, path))
        if route is None:
            return json_response({"detail": "Not Found"}, 404)
        if not isinstance(body, dict):
            return VllmError(HTTPStatus.BAD_REQUEST, "The request body is not a valid JSON object.", "BadRequestError").response()
        try:
            return route(body)
        except VllmError as error:
            return error.response()

    def _models(self, body: dict[str, Any]) -> Response:
        now = int(time.time())
        with self._lock:
            cards = [{"id": self.served_model_name, "object": "model", "created": now, "owned_by": "vllm",
                      "root": str(self.model_dir), "parent": None, "max_model_len": 512, "permission": []}]
            cards += [{"id": a.name, "object": "model", "created": a.created, "owned_by": "vllm", "root": a.path,
                       "parent": self.served_model_name, "max_model_len": None, "permission": []}
                      for a in self._adapters.values()]
        return json_response({"object": "list", "data": cards})

    def _load(self, body: dict[str, Any]) -> Response:
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            raise VllmError(HTTPStatus.BAD_REQUEST, "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput")
        with self._lock:
            if name in self._adapters and not body.get("load_inplace"):
                raise VllmError(HTTPStatus.BAD_REQUEST, f"The lora adapter '{name}' has already been loaded. If you want "
                                "to load the adapter in place, set 'load_inplace' to True.", "InvalidUserInput")
            rejection, self._next_rejection = self._next_rejection, None
        config_file = Path(path) / "adapter_config.json"
        if not config_file.is_file():
            raise VllmError(HTTPStatus.NOT_FOUND, f"Loading lora {name} failed: No adapter found for {path}", "NotFoundError")
        rank = int(json.loads(config_file.read_text()).get("r") or 0)
        if rejection is None and rank > self.max_lora_rank:
            rejection = f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}."
        if rejection is not None:
            raise VllmError(HTTPStatus.INTERNAL_SERVER_ERROR, rejection, "InternalServerError")
        from peft import PeftModel

        with self._generate_lock:
            model = PeftModel.from_pretrained(copy.deepcopy(self._base), path).eval()
        with self._lock:
            self._adapters[name] = _Adapter(name, str(path), model, int(time.time()))
        return Response(200, f"Success: LoRA adapter '{name}' added successfully.".encode(), content_type="text/plain")

    def _unload(self, body: dict[str, Any]) -> Response:
        name = body.get("lora_name")
        if not name:
            raise VllmError(HTTPStatus.BAD_REQUEST, "'lora_name' needs to be provided to unload a LoRA adapter.",
                            "InvalidUserInput")
        with self._lock:
            if self._adapters.pop(name, None) is None:
                raise VllmError(HTTPStatus.NOT_FOUND, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
        return Response(200, f"Success: LoRA adapter '{name}' removed successfully.".encode(), content_type="text/plain")

    def _chat(self, body: dict[str, Any]) -> Response:
        model_name = body.get("model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise VllmError(HTTPStatus.BAD_REQUEST, "messages must be a non-empty list", "BadRequestError", "messages")
        with self._lock:
            adapter = self._adapters.get(str(model_name)) if model_name else None
            if model_name and adapter is None and model_name != self.served_model_name:
                raise VllmError(HTTPStatus.NOT_FOUND, f"The model `{model_name}` does not exist.", "NotFoundError", "model")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
        text, prompt_tokens, completion_tokens = self.generate(messages, adapter, int(max_tokens))
        served = adapter.name if adapter else self.served_model_name
        ids = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": served}
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        if not body.get("stream"):
            return json_response({**ids, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}]})
        pieces = [{"role": "assistant", "content": ""}] + [{"content": word} for word in _pieces(text)]
        chunks = [{**ids, "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]} for delta in pieces]
        chunks.append({**ids, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
        events = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks] + [b"data: [DONE]\n\n"]
        return Response(200, content_type="text/event-stream; charset=utf-8", chunks=events)

    def generate(self, messages: list[dict[str, Any]], adapter: _Adapter | None, max_tokens: int) -> tuple[str, int, int]:
        """Greedy decoding with the base model, or with the adapter's PeftModel: (text, prompt tokens, new tokens)."""
        import torch

        chat = [{"role": str(m.get("role")), "content": _text(m.get("content"))} for m in messages if isinstance(m, dict)]
        model = adapter.model if adapter is not None else self._base
        with self._generate_lock, torch.no_grad():
            inputs = self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                                         return_dict=True)
            output = model.generate(**inputs, max_new_tokens=min(max_tokens, 256), do_sample=False,
                                    pad_token_id=self._tokenizer.pad_token_id)
            new = output[0][inputs["input_ids"].shape[1]:]
            text = self._tokenizer.decode(new, skip_special_tokens=True)
        return text, int(inputs["input_ids"].shape[1]), int(new.shape[0])


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _pieces(text: str) -> list[str]:
    """The text in word-sized deltas that add up to it exactly."""
    return [piece for piece in re.findall(r"\S*\s*", text) if piece]
