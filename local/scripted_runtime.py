"""A scripted stand-in for SageMaker runtime's ``InvokeEndpointWithResponseStream``, for tests.

moto does not implement the operation, so this threaded HTTP server answers
``POST /endpoints/<name>/invocations-response-stream`` with AWS event-stream frames, the
way the service does: ``application/vnd.amazon.eventstream``, chunked, one frame per
``PayloadPart`` (whose payload is the raw blob: the member is an ``eventpayload``), and
``ModelStreamError`` / ``InternalStreamFailure`` as exception frames with a JSON payload.
boto3 reaches it through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``.

Each test scripts a ``Scenario`` and sends the key the emulator gives back as the prompt
(``inputs``, or the content of the last chat message); the emulator records what it received, when it sent each part, and whether
the caller closed the connection before the script ended.
"""

from __future__ import annotations

import json
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from local.event_stream import exception_frame, payload_part_frame

_PATH = re.compile(r"/endpoints/(?P<endpoint>[^/]+)/invocations-response-stream")


# --- Scripts ---


@dataclass(frozen=True)
class Part:
    """Send ``data`` as one PayloadPart, ``delay`` seconds after the previous step."""

    data: bytes
    delay: float = 0.0


@dataclass(frozen=True)
class ModelStreamError:
    message: str
    error_code: str = "ModelInvocationTimeExceeded"


@dataclass(frozen=True)
class InternalStreamFailure:
    message: str


@dataclass(frozen=True)
class Stall:
    """Send nothing for ``seconds`` (ending early if the caller closes the connection)."""

    seconds: float


@dataclass(frozen=True)
class Refuse:
    """Answer with an error instead of a stream (what SageMaker does before streaming)."""

    status: int
    error_type: str
    message: str
    extra: dict = field(default_factory=dict)


Step = Part | ModelStreamError | InternalStreamFailure | Stall | Refuse


def parts(data: bytes, cuts: list[int], delay: float = 0.0) -> list[Part]:
    """Split ``data`` at the byte offsets ``cuts`` into PayloadParts."""
    bounds = [0, *sorted(cuts), len(data)]
    return [Part(data[a:b], delay) for a, b in zip(bounds, bounds[1:]) if b > a]


@dataclass
class Scenario:
    key: str
    steps: list[Step]
    requests: list[dict] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    """``time.perf_counter()`` right after each PayloadPart was written to the socket."""
    caller_closed: threading.Event = field(default_factory=threading.Event)
    caller_closed_at: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def mark_closed(self) -> None:
        if self.caller_closed_at is None:
            self.caller_closed_at = time.perf_counter()
        self.caller_closed.set()


class _CallerGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        match = _PATH.fullmatch(self.path.split("?")[0])
        component = self.headers.get("X-Amzn-SageMaker-Inference-Component")
        gate = self.server.capacity_gate
        if match and component and gate is not None and not gate(component):
            # What SageMaker answers for an inference component at zero copies.
            self._refuse(Refuse(400, "ValidationError", "Inference Component has no capacity to process this request. "
                                "ApplicationAutoScaling may be in-progress (if configured) or try to increase the capacity"))
            return
        scenario = self.server.find(body) if match else None
        if scenario is None:
            self._refuse(Refuse(400, "ValidationError", f"no scenario for {self.path}"))
            return
        scenario.requests.append(
            {
                "endpoint": match.group("endpoint"),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": json.loads(body),
            }
        )
        try:
            if scenario.steps and isinstance(scenario.steps[0], Refuse):
                self._refuse(scenario.steps[0])
                return
            self._stream(scenario)
        except _CallerGone:
            scenario.mark_closed()
            self.close_connection = True
        finally:
            scenario.finished.set()

    def _refuse(self, refusal: Refuse) -> None:
        payload = json.dumps({"message": refusal.message, **refusal.extra}).encode("utf-8")
        self.send_response(refusal.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", refusal.error_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, scenario: Scenario) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-SageMaker-Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for step in scenario.steps:
            if isinstance(step, Part):
                if step.delay:
                    time.sleep(step.delay)
                self._chunk(payload_part_frame(step.data))
                scenario.sent_at.append(time.perf_counter())
            elif isinstance(step, ModelStreamError):
                error = {"Message": step.message, "ErrorCode": step.error_code}
                self._chunk(exception_frame("ModelStreamError", error))
            elif isinstance(step, InternalStreamFailure):
                self._chunk(exception_frame("InternalStreamFailure", {"Message": step.message}))
            elif isinstance(step, Stall):
                self._wait_unless_closed(step.seconds)
        self._write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            raise _CallerGone() from None

    def _wait_unless_closed(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.05))
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        raise _CallerGone()
                except ConnectionResetError:
                    raise _CallerGone() from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._scenarios: dict[str, Scenario] = {}
        self._lock = threading.Lock()
        self.capacity_gate: Callable[[str], bool] | None = None
        self._counter = 0

    def handle_error(self, request: object, client_address: object) -> None:
        # A caller dropping an idle keep-alive connection is routine, not a test failure.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def add(self, steps: list[Step]) -> Scenario:
        with self._lock:
            self._counter += 1
            scenario = Scenario(key=f"scenario-{self._counter}", steps=list(steps))
            self._scenarios[scenario.key] = scenario
        return scenario

    def find(self, body: bytes) -> Scenario | None:
        try:
            request = json.loads(body)
            key = request.get("inputs") or request["messages"][-1]["content"]
        except (ValueError, AttributeError, KeyError, IndexError, TypeError):
            return None
        with self._lock:
            return self._scenarios.get(key)


class SageMakerRuntimeEmulator:
    """Run with ``with SageMakerRuntimeEmulator() as emulator:``; ``emulator.url`` is the
    value for ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def gate_capacity(self, has_capacity: Callable[[str], bool] | None) -> None:
        """Refuse requests to an inference component for which ``has_capacity(name)`` is False, as
        SageMaker does at zero copies (None: always serve)."""
        self._server.capacity_gate = has_capacity

    def script(self, steps: list[Step]) -> Scenario:
        """Register a scenario; send ``scenario.key`` as ``inputs`` to play it."""
        return self._server.add(steps)

    def __enter__(self) -> SageMakerRuntimeEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
