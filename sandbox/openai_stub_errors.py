"""OpenAI-shaped error answers for the stub.

The real SDK turns `{"error": {...}}` bodies into typed exceptions by status code, and decides
whether to retry from the status and the `retry-after` / `x-should-retry` headers. Producing
exactly that shape is what lets callers test their error handling against the stub.
"""
from __future__ import annotations

from typing import Any

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"

# status -> (type, message, code): what OpenAI answers when nothing more specific is known.
DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: (INVALID_REQUEST, "Invalid request. Please check the parameters and try again.", None),
    401: (INVALID_REQUEST, "Incorrect API key provided. You can find your API key at "
                           "https://platform.openai.com/account/api-keys.", "invalid_api_key"),
    403: (INVALID_REQUEST, "You are not allowed to perform this request.", None),
    404: (INVALID_REQUEST, "The requested resource was not found.", None),
    408: (SERVER_ERROR, "Request timed out.", None),
    409: (INVALID_REQUEST, "The request conflicted with another request modifying the same resource. "
                           "Please try again.", "conflict"),
    422: (INVALID_REQUEST, "The request could not be processed.", None),
    429: ("requests", "Rate limit reached for requests in organization on requests per min (RPM): "
                      "Limit 60, Used 60, Requested 1. Please try again later. Visit "
                      "https://platform.openai.com/account/rate-limits to learn more.", "rate_limit_exceeded"),
    500: (SERVER_ERROR, "The server had an error while processing your request. Sorry about that!", None),
    502: (SERVER_ERROR, "Bad gateway.", None),
    503: (SERVER_ERROR, "The server is overloaded or not ready yet.", None),
    504: (SERVER_ERROR, "Gateway timeout.", None),
}


class ApiError(Exception):
    """Raised inside a handler; the server answers it as OpenAI would (status, body, headers)."""

    def __init__(self, status: int, message: str, *, type: str = INVALID_REQUEST,
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def default_error(status: int, *, message: str | None = None, code: str | None = None,
                  type: str | None = None) -> ApiError:
    """An error for `status` with OpenAI's usual wording, overridable field by field."""
    d_type, d_message, d_code = DEFAULT_ERRORS.get(
        status, (SERVER_ERROR if status >= 500 else INVALID_REQUEST, f"Request failed with status {status}.", None))
    return ApiError(status, message if message is not None else d_message, type=type or d_type,
                    code=code if code is not None else d_code)


def retry_headers(retry_after: float | None, should_retry: bool | None) -> dict[str, str]:
    """Headers the SDK reads to decide whether and when to retry."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        seconds = int(retry_after) if float(retry_after).is_integer() else retry_after
        headers["retry-after"] = str(seconds)
        headers["retry-after-ms"] = str(int(round(retry_after * 1000)))
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return headers


def mask_key(key: str) -> str:
    """Shows a key the way OpenAI echoes it in 401 messages: ends kept, middle starred."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def missing_api_key() -> ApiError:
    return ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                         "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API "
                         "key from https://platform.openai.com/account/api-keys.", code="invalid_api_key")


def incorrect_api_key(key: str) -> ApiError:
    return ApiError(401, f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
                         "https://platform.openai.com/account/api-keys.", code="invalid_api_key")


def invalid_url(method: str, path: str) -> ApiError:
    return ApiError(404, f"Invalid URL ({method} {path})")


def invalid_json() -> ApiError:
    return ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                         "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                         "sent was not valid JSON.)")


def missing_param(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def json_type_name(value: object) -> str:
    """The article-and-noun OpenAI uses in type errors ('a string', 'an integer', ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid_type(param: str, expected: str, value: object) -> ApiError:
    return ApiError(400, f"Invalid type for '{param}': expected {expected}, but got {json_type_name(value)} "
                         "instead.", param=param, code="invalid_type")


def string_too_long(param: str, limit: int, length: int) -> ApiError:
    return ApiError(400, f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
                         f"but got a string with length {length} instead.", param=param,
                    code="string_above_max_length")


def invalid_value(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value")


def model_not_found(model: str) -> ApiError:
    return ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found")


def file_not_found(file_id: str) -> ApiError:
    return ApiError(404, f"No such File object: {file_id}", param="id")


def job_not_found(job_id: str) -> ApiError:
    return ApiError(404, f"Could not find fine tune: {job_id}", param="fine_tune_id", code="fine_tune_not_found")
