"""scripts/smoke_test.py against a local stand-in of the API: one budget, retries only where documented.

The stand-in answers the routes the smoke test calls (submit, status, stream) over real HTTP on
127.0.0.1, with scripted answers per test; the script runs as the pipeline runs it, in its own
process, signing with (fake) credentials through the real client library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "smoke_test.py"
# Presigned S3 URLs are absolute; the stand-in serves the output on its own port (filled in below).
OUTPUT_URL = "http://{host}/output/inf-1.out"
SSE_DONE = b'data: {"token": "one"}\n\ndata: {"token": " two"}\n\nevent: done\ndata: {"generated_text": "one two"}\n\n'


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


def api_error(status: int, code: str, retry_after: int | None = None) -> Answer:
    headers = {"Content-Type": "application/json", **({"Retry-After": str(retry_after)} if retry_after else {})}
    return Answer(status, json.dumps({"error": {"code": code, "message": code}}).encode(), headers)


def stream(body: bytes = SSE_DONE, hang: bool = False) -> Answer:
    return Answer(200, body, {"Content-Type": "text/event-stream"}, hang=hang)


def status(value: str, **extra: str) -> Answer:
    return Answer(200, json.dumps({"inference_id": "inf-1", "status": value, **extra}).encode(), {"Content-Type": "application/json"})


class StandIn:
    """Scripted answers per route; the last answer of a route repeats."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {
            "POST /api/v1/inferences": [Answer(202, json.dumps({"inference_id": "inf-1", "status": "InProgress"}).encode())],
            "GET /api/v1/inferences/inf-1": [status("Completed", output_url=OUTPUT_URL)],
            "GET /output/inf-1.out": [Answer(200, b'{"generated_text": "hello"}')],
            "POST /api/v1/generate/stream": [stream()],
        }
        self.requests: list[str] = []
        self.release = threading.Event()

    def answer(self, route: str) -> Answer:
        self.requests.append(route)
        queue = self.answers.get(route, [Answer(404, b"{}")])
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def count(self, route: str) -> int:
        return self.requests.count(route)


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, str]]:
    scripted = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            answer = scripted.answer(f"{self.command} {self.path}")
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.hang:
                self.end_headers()
                self.wfile.write(b'data: {"token": "one"}\n\n')
                self.wfile.flush()
                scripted.release.wait(30)
                return
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = _serve

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    output_url = OUTPUT_URL.format(host=f"127.0.0.1:{server.server_port}")
    scripted.answers[STATUS] = [status("Completed", output_url=output_url)]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield scripted, f"http://127.0.0.1:{server.server_port}/api/"
    finally:
        scripted.release.set()
        server.shutdown()
        server.server_close()


def smoke_test(url: str, budget_seconds: float = 30) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "SMOKE_TEST_BUDGET_SECONDS": str(budget_seconds),
        "SMOKE_TEST_POLL_SECONDS": "0.2",
    }
    env.pop("AWS_PROFILE", None)
    return subprocess.run([sys.executable, str(SCRIPT), url], env=env, capture_output=True, text=True, timeout=budget_seconds + 30)


STREAM = "POST /api/v1/generate/stream"
STATUS = "GET /api/v1/inferences/inf-1"


def test_passes_when_both_paths_answer(stand_in):
    scripted, url = stand_in
    result = smoke_test(url)
    assert result.returncode == 0, result.stderr
    assert "smoke test passed" in result.stderr


def test_retries_the_stream_while_it_answers_503_scaling_from_zero(stand_in):
    scripted, url = stand_in
    scripted.answers[STREAM] = [api_error(503, "no_capacity", retry_after=1), api_error(503, "model_not_ready", retry_after=1), stream()]
    result = smoke_test(url)
    assert result.returncode == 0, result.stderr
    assert scripted.count(STREAM) == 3
    assert "stream: 503 no_capacity, retrying in 1s" in result.stderr


def test_retries_the_stream_after_a_throttle(stand_in):
    scripted, url = stand_in
    scripted.answers[STREAM] = [api_error(429, "throttled", retry_after=1), stream()]
    assert smoke_test(url).returncode == 0
    assert scripted.count(STREAM) == 2


@pytest.mark.parametrize(("status_code", "code"), [(502, "upstream_unreachable"), (504, "upstream_timeout"), (400, "invalid_request"), (403, "Forbidden")])
def test_a_stream_refused_for_any_other_reason_fails_at_once(stand_in, status_code, code):
    scripted, url = stand_in
    scripted.answers[STREAM] = [api_error(status_code, code), stream()]
    result = smoke_test(url)
    assert result.returncode == 1
    assert scripted.count(STREAM) == 1
    assert f"stream: {status_code} {code}" in result.stderr


def test_a_stream_that_ends_in_an_error_event_fails_without_a_retry(stand_in):
    scripted, url = stand_in
    scripted.answers[STREAM] = [stream(b'data: {"token": "one"}\n\nevent: error\ndata: {"code": "model_error", "message": "boom"}\n\n'), stream()]
    result = smoke_test(url)
    assert result.returncode == 1 and scripted.count(STREAM) == 1
    assert "error event model_error: boom" in result.stderr


def test_a_held_stream_that_ends_in_capacity_timeout_before_any_token_is_retried(stand_in):
    scripted, url = stand_in
    held = b": keep-alive\n\nevent: status\ndata: {\"state\": \"waking\", \"elapsed_seconds\": 0}\n\n"
    timeout = b'event: error\ndata: {"code": "capacity_timeout", "message": "the model did not start within 600 seconds"}\n\n'
    scripted.answers[STREAM] = [stream(held + timeout), stream()]
    result = smoke_test(url)
    assert result.returncode == 0, result.stderr
    assert scripted.count(STREAM) == 2
    assert "stream: capacity_timeout (the model did not start within 600 seconds), retrying" in result.stderr


def test_an_unreadable_output_fails_the_test(stand_in):
    scripted, url = stand_in
    scripted.answers["GET /output/inf-1.out"] = [
        Answer(403, b"<Error><Code>AccessDenied</Code><Message>KMS denied</Message></Error>", {"Content-Type": "application/xml"})
    ]
    result = smoke_test(url)
    assert result.returncode == 1
    assert "the output of inf-1 cannot be read: 403 AccessDenied: KMS denied" in result.stderr


def test_an_async_inference_that_failed_fails_the_test(stand_in):
    scripted, url = stand_in
    scripted.answers[STATUS] = [status("Failed", failure_reason="the model ran out of memory")]
    result = smoke_test(url)
    assert result.returncode == 1
    assert "inf-1 failed: the model ran out of memory" in result.stderr


def test_the_stream_is_tried_while_the_async_request_waits(stand_in):
    """Both endpoints may start from zero: waiting for one after the other would double the time."""
    scripted, url = stand_in
    scripted.answers[STATUS] = [status("InProgress"), *scripted.answers[STATUS]]
    smoke_test(url)
    assert scripted.requests.index(STREAM) < scripted.requests.index(STATUS)


def test_stops_with_the_budget_when_capacity_never_arrives(stand_in):
    scripted, url = stand_in
    scripted.answers[STREAM] = [api_error(503, "no_capacity", retry_after=1)]
    started = time.monotonic()
    result = smoke_test(url, budget_seconds=4)
    assert result.returncode == 2
    assert "budget ran out before stream passed" in result.stderr
    assert 2 <= scripted.count(STREAM) <= 6, "retried after Retry-After, not in a tight loop"
    assert time.monotonic() - started < 4 + 15, "the script itself stops, not the subprocess timeout"


def test_a_stalled_stream_cannot_hold_the_script_past_its_budget(stand_in):
    scripted, url = stand_in
    scripted.answers[STREAM] = [stream(hang=True)]
    result = smoke_test(url, budget_seconds=4)
    assert result.returncode == 2
    assert "budget ran out before" in result.stderr and "stream passed" in result.stderr
