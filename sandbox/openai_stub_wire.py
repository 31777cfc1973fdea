"""HTTP plumbing for the OpenAI stub: request bodies in, responses out, standard library only.

Kept apart from the API logic so the stub's behaviour can be read without the socket details.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.httpserver import QuietThreadingHTTPServer

# (method, target, lower-cased headers, raw body) -> response
Dispatch = Callable[[str, str, dict[str, str], bytes], "Response"]


@dataclass
class Response:
    """A complete answer; `chunks` (when set) is streamed with chunked transfer-encoding, as OpenAI streams SSE."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None
    hold: StreamHold | None = None  # a stream that stops part-way until released (see OpenAIStub.hold_streams)


@dataclass
class StreamHold:
    """Streams stop after `after` chunks and wait for `release()`; `reached` is set once one is waiting there."""

    after: int
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    timeout: float = 30.0  # a test that never releases does not keep a stub thread forever

    def release(self) -> None:
        self.released.set()


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), headers=dict(headers or {}))


@dataclass
class Multipart:
    """A parsed multipart/form-data body: plain fields and uploaded files (filename, bytes)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def parse_multipart(content_type: str, body: bytes) -> Multipart:
    """Byte-exact multipart parsing (the `email` parser may rewrite line endings in file content)."""
    boundary = _header_params(content_type).get("boundary")
    parsed = Multipart()
    if not boundary:
        return parsed
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        _add_part(parsed, part)
    return parsed


def _add_part(parsed: Multipart, part: bytes) -> None:
    part = part[2:] if part.startswith(b"\r\n") else part
    head, _, content = part.partition(b"\r\n\r\n")
    content = content[:-2] if content.endswith(b"\r\n") else content
    headers = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    params = _header_params(headers.get("content-disposition", ""))
    name = params.get("name")
    if name is None:
        return
    if "filename" in params:
        parsed.files[name] = (params["filename"], content)
    else:
        parsed.fields[name] = content.decode("utf-8", "replace")


def _header_params(value: str) -> dict[str, str]:
    """`form-data; name="file"; filename="a.jsonl"` -> {"name": "file", "filename": "a.jsonl"}."""
    params: dict[str, str] = {}
    for item in _split_params(value)[1:]:
        key, _, raw = item.partition("=")
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[key.strip().lower()] = raw
    return params


def _split_params(value: str) -> list[str]:
    """Splits on semicolons that are not inside quotes."""
    items, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items


class StubServer(QuietThreadingHTTPServer):
    """A threading HTTP server that hands every request to one dispatch function."""

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        super().__init__(address, _Handler)
        self.dispatch = dispatch

    def serve_in_background(self, name: str) -> threading.Thread:
        """Serves on a daemon thread of its own, polling often so that stopping is quick."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True)
        thread.start()
        return thread

    def stop_serving(self, thread: threading.Thread | None) -> None:
        """Ends the loop, closes the listening socket and waits for the serving thread."""
        self.shutdown()
        self.server_close()
        if thread is not None:
            thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; every answer has a length or is chunked
    server_version = "openai-stub"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait 40 ms between
    server: StubServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence: tests read `stub.requests` instead of stderr."""

    def _serve(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.dispatch(self.command, self.path, headers, body)
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline()

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.chunks is None:
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for index, piece in enumerate(response.chunks):
            if response.hold is not None and index == response.hold.after:
                response.hold.reached.set()
                response.hold.released.wait(response.hold.timeout)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
