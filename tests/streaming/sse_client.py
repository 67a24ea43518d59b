"""A minimal HTTP/1.1 client for the relay: reads server-sent events as they arrive."""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: object
    received_at: float


class StreamingCall:
    """One request (``POST`` by default) whose response is read incrementally; close() drops the connection."""

    def __init__(self, base_url: str, path: str, body: bytes, headers: dict[str, str] | None = None,
                 timeout: float = 30.0, method: str = "POST") -> None:
        url = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        request_headers = {"Content-Type": "application/json", **(headers or {})}
        self._connection.request(method, path, body=body, headers=request_headers)
        self.response = self._connection.getresponse()
        self.comments: list[float] = []
        """``time.perf_counter()`` of each comment line (keep-alive) received."""

    @property
    def status(self) -> int:
        return self.response.status

    def header(self, name: str) -> str | None:
        return self.response.getheader(name)

    def json(self) -> object:
        return json.loads(self.response.read())

    def events(self):
        """Yield each event when its blank line arrives; ``data`` is parsed as JSON; comments are counted."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                return
            line = line.rstrip(b"\n").rstrip(b"\r").decode("utf-8")
            if not line:
                if fields:
                    name = fields.get("event", "message")
                    yield ServerSentEvent(name, json.loads(fields["data"]), time.perf_counter())
                    fields = {}
                continue
            if line.startswith(":"):
                self.comments.append(time.perf_counter())
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value

    def close(self) -> None:
        """Drop the connection the way a caller that goes away does."""
        sock = self._connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.response.close()
        self._connection.close()

    def __enter__(self) -> StreamingCall:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def emf_records(output: str) -> list[dict]:
    """The CloudWatch embedded-metric-format lines in a process's standard output."""
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
