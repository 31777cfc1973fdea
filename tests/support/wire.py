"""Raw HTTP to the bot (what urllib will not send: a huge announced length, a chunked body), and its log."""
from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from bot.logs import configure_logging


@contextmanager
def bot_log(secrets: list[str], level: str = "INFO") -> Iterator[io.StringIO]:
    """The bot's log lines, as `finetune-bot run` writes them, while the block runs."""
    out = io.StringIO()
    configure_logging(level, secrets, stream=out)
    try:
        yield out
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.get_name() == "finetune-bot"]:
            root.removeHandler(handler)


def lines_with(log: io.StringIO, needle: str) -> list[str]:
    return [line for line in log.getvalue().splitlines() if needle in line]


class RawRequest:
    """One POST written by hand on a socket; `status()` reads the answer's status line."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.sent = 0

    def send(self, data: bytes) -> bool:
        """False once the server has closed its side (it refused the request and stopped reading)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        self.sent += len(data)
        return True

    def chunk(self, data: bytes) -> bool:
        return self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def status(self) -> int:
        answer = b""
        while b"\r\n" not in answer:
            piece = self.sock.recv(4096)
            if not piece:
                break
            answer += piece
        return int(answer.split(b" ", 2)[1])

    def close(self) -> None:
        self.sock.close()
