"""Together AI error bodies and OpenAI-compatible chat answers for the stand-in (sandbox.together_stub).

Errors are Together's `ErrorData` shape, `{"error": {"message", "type", "param", "code"}}`; chat
completions answer like Together's /v1/chat/completions (plain JSON, or server-sent events ending in
`data: [DONE]`). The reply text comes from the OpenAI stub's deterministic writers: a base model answers
plainly, a fine-tuned one in the style its training answers taught.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sandbox.openai_stub_jobs import TrainingExample
from sandbox.openai_stub_replies import base_reply, estimate_tokens, finetuned_reply, message_text, stream_pieces
from sandbox.openai_stub_wire import Response, json_response

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
# status -> (type, code, message) when nothing more specific is known. The 401 wording is Together's own
# (quoted in sandbox/together_api_notes.md); the others are the stand-in's.
DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: (INVALID_REQUEST, None, "Invalid request. Check the parameters and try again."),
    401: (INVALID_REQUEST, "invalid_api_key", "Invalid API key provided. You can find your API key at "
                                              "https://api.together.xyz/settings/api-keys."),
    402: (INVALID_REQUEST, "payment_required", "Your account has reached its monthly spending limit. Adjust your "
                                               "billing settings at https://api.together.ai/settings/billing."),
    403: (INVALID_REQUEST, "forbidden", "You are not allowed to perform this request."),
    404: (INVALID_REQUEST, "not_found", "The requested resource was not found."),
    408: (SERVER_ERROR, None, "Request timed out."),
    409: (INVALID_REQUEST, "conflict", "The request conflicts with another request; try again."),
    422: (INVALID_REQUEST, None, "The request could not be processed."),
    429: ("rate_limit_error", "rate_limit_exceeded", "Rate limit exceeded: too many requests in a short period. "
                                                     "Please slow down and try again later."),
    500: (SERVER_ERROR, None, "Internal server error. Please try again after a brief wait."),
    502: (SERVER_ERROR, None, "Bad gateway."),
    503: (SERVER_ERROR, None, "The engine is currently overloaded, please try again later."),
    504: (SERVER_ERROR, None, "Gateway timeout."),
}
DEFAULT_REFUSAL = ("Fine-tuning is not available for this account. Add a payment method or credits at "
                   "https://api.together.ai/settings/billing, or contact support@together.ai.")
SERVERLESS_MODELS = ("Qwen/Qwen3-8B", "Qwen/Qwen3-14B", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "openai/gpt-oss-20b")


class TogetherError(Exception):
    """Raised inside a handler; answered as Together answers errors."""

    def __init__(self, status: int, message: str | None = None, *, type: str | None = None, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        d_type, d_code, d_message = DEFAULT_ERRORS.get(
            status, (SERVER_ERROR if status >= 500 else INVALID_REQUEST, None, f"Request failed with status {status}."))
        self.status = status
        self.message = message if message is not None else d_message
        self.type = type or d_type
        self.code = code if code is not None else d_code
        self.param = param
        self.headers = dict(headers or {})
        super().__init__(self.message)

    def response(self) -> Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return json_response(body, self.status, self.headers)


def not_found(what: str, ident: str) -> TogetherError:
    return TogetherError(404, f"{what} {ident} not found", code="not_found")


def model_object(model: str, created: int, *, organization: str, context_length: int = 40960) -> dict[str, Any]:
    """One ModelInfo entry of GET /v1/models (a bare JSON array)."""
    return {"id": model, "object": "model", "created": created, "type": "chat", "display_name": model.rsplit("/", 1)[-1],
            "organization": organization, "link": "", "license": "", "context_length": context_length,
            "pricing": {"hourly": 0, "input": 0.2, "output": 0.2, "base": 0, "finetune": 0}}


def checked_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TogetherError(400, "messages must be a non-empty list", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool"):
            raise TogetherError(400, f"messages[{index}].role must be one of system, user, assistant, tool",
                                param=f"messages.{index}.role")
    return messages


def chat_answer(chat_id: str, created: int, model: str, messages: Sequence[dict[str, Any]],
                examples: Sequence[TrainingExample] | None, *, stream: bool) -> Response:
    """The completion for `messages`; styled by `examples` when the model was fine-tuned on them."""
    text = finetuned_reply(messages, examples) if examples else base_reply(messages)
    prompt = sum(estimate_tokens(message_text(m.get("content"))) + 4 for m in messages)
    completion = estimate_tokens(text)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    ids = {"id": chat_id, "created": created, "model": model}
    if not stream:
        return json_response({**ids, "object": "chat.completion", "prompt": [], "usage": usage, "choices": [
            {"index": 0, "finish_reason": "stop", "logprobs": None, "seed": 0,
             "message": {"role": "assistant", "content": text, "tool_calls": []}}]})
    chunks = [{**ids, "object": "chat.completion.chunk", "choices": [
        {"index": 0, "text": piece, "delta": {"role": "assistant", "content": piece}, "finish_reason": None,
         "logprobs": None}]} for piece in stream_pieces(text)]
    chunks.append({**ids, "object": "chat.completion.chunk", "usage": usage, "choices": [
        {"index": 0, "text": "", "delta": {"role": "assistant", "content": ""}, "finish_reason": "stop", "logprobs": None}]})
    events = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks] + [b"data: [DONE]\n\n"]
    return Response(200, content_type="text/event-stream;charset=utf-8", chunks=events)
