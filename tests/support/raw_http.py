"""Hand-written HTTP/1.1 requests over a socket, for clients no library would be: bodies
that are huge, chunked without end, or sent a few bytes at a time."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def open_request(
    url: str, method: str, path: str, headers: dict[str, str], *, timeout: float = 60.0
) -> socket.socket:
    """A socket with the request line and headers sent; the body is up to the caller."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    return sock


def send_until_answered(
    sock: socket.socket, *, total: int, chunked: bool
) -> tuple[int, int, dict[str, Any]]:
    """Send up to ``total`` body bytes while reading the answer; stop once the server has
    answered (or stopped reading). Returns (bytes sent, status, JSON body)."""
    answer: list[tuple[int, dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: answer.append(read_response(sock, close=False)))
    reader.start()
    sent = _send_body(sock, total=total, chunked=chunked, until=lambda: bool(answer))
    reader.join()
    sock.close()
    return sent, *answer[0]


def _send_body(sock: socket.socket, *, total: int, chunked: bool, until: Callable[[], bool]) -> int:
    piece = b"[" + b"1," * (512 * 1024) + b"1]" if not chunked else b"1," * (512 * 1024)
    sent = 0
    try:
        while sent < total and not until():
            data = piece
            if chunked:
                data = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            sock.sendall(data)
            sent += len(piece)
    except OSError:  # the server answered and closed: it refused the rest
        pass
    return sent


def read_response(sock: socket.socket, *, close: bool = True) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the response waiting on ``sock``."""
    data = b""
    head, body = b"", b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except ConnectionResetError:  # closed after answering, with our body still unread
        head, _, body = data.partition(b"\r\n\r\n")
    finally:
        if close:
            sock.close()
    status = int(head.split(b" ")[1])
    return status, json.loads(body) if body else {}


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
