"""Scale to zero in the local mode: models start at zero capacity (LOCAL_COLD_START_SECONDS) and
the handlers wake them with the same SetAlarmState call as in AWS, which the local stand-in answers
as the wake alarm's step policy would (a copy or instance runs the start time later).

Each test starts `python -m local` of its own, so that its model is cold: "chat" starts in 2 s,
"small" in 60 s (longer than the hold, which is set to 6 s)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from inference_client import SigV4Auth

from .conftest import MODEL, ROOT, LocalProcess, free_port, local_environment
from .test_async_flow import submit, wait_until_done

CHAT_START_SECONDS = 2
MAX_HOLD_SECONDS = 6
SLOW = "small"
WOKE_CHAT = "scale to zero: woke llm-dev-chat "
HELLO = [{"role": "user", "content": "Hello there"}]
ANSWER = "This is the local model. You said: Hello there"


@pytest.fixture
def cold_local() -> Iterator[LocalProcess]:
    running = LocalProcess(
        free_port(),
        {
            "LOCAL_COLD_START_SECONDS": f"{MODEL}={CHAT_START_SECONDS},{SLOW}=60",
            "LOCAL_MAX_HOLD_SECONDS": str(MAX_HOLD_SECONDS),
        },
    )
    running.wait_ready()
    yield running
    running.stop()


def stream_lines(http: httpx.Client, url: str, body: dict) -> tuple[int, list[str], float]:
    """Status, the lines of the stream, and the seconds from sending to the first data line."""
    started = time.monotonic()
    first_data = None
    with http.stream("POST", url, json=body) as answer:
        lines = []
        for line in answer.iter_lines():
            if first_data is None and line.startswith("data:") and '"token"' in line:
                first_data = time.monotonic() - started
            lines.append(line)
    return answer.status_code, lines, first_data or float("inf")


def wait_for_output(process: LocalProcess, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in process.output:
        assert time.monotonic() < deadline, f"{text!r} never printed: {process.output}"
        time.sleep(0.05)


def test_the_banner_names_the_models_at_zero_and_their_start_time(cold_local):
    assert f"at zero capacity, woken by the first request (start time): {MODEL} 2 s, {SLOW} 60 s" in cold_local.output


def test_a_stream_to_a_cold_model_succeeds_with_no_retry_once_its_copy_has_started(cold_local, signed_http):
    status, lines, first_token = stream_lines(
        signed_http, f"{cold_local.url}v1/generate/stream", {"model": MODEL, "inputs": "hi"}
    )

    assert status == 200
    assert lines[:2] == [": keep-alive", ""]
    assert 'data: {"state": "waking", "elapsed_seconds": 0}' in lines
    assert "event: done" in lines
    assert first_token >= CHAT_START_SECONDS
    assert cold_local.output.count(WOKE_CHAT) == 1


def test_the_openai_sdk_streams_from_a_cold_model_as_from_a_warm_one(cold_local, caller_credentials):
    client = openai.OpenAI(
        base_url=f"{cold_local.url}v1", api_key="unused", max_retries=0,
        http_client=httpx.Client(auth=SigV4Auth(region="eu-west-1"), timeout=30),
    )

    chunks = list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True))

    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert WOKE_CHAT in cold_local.output


def test_a_hold_longer_than_max_hold_seconds_ends_with_capacity_timeout(cold_local, signed_http):
    status, lines, _ = stream_lines(signed_http, f"{cold_local.url}v1/generate/stream", {"model": SLOW, "inputs": "hi"})

    assert status == 200
    assert lines[-3:-1] == [
        "event: error",
        'data: {"code": "capacity_timeout", "message": "the model did not start within 6 seconds; retry later"}',
    ]


def test_two_concurrent_requests_to_a_cold_model_wake_it_once(cold_local, signed_http):
    results: list[tuple[int, list[str], float]] = []

    def call() -> None:
        results.append(stream_lines(signed_http, f"{cold_local.url}v1/generate/stream", {"model": MODEL, "inputs": "hi"}))

    callers = [threading.Thread(target=call) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)

    assert [(status, "event: done" in lines) for status, lines, _ in results] == [(200, True), (200, True)]
    assert cold_local.output.count("scale to zero: ") == 1
    assert cold_local.output.count(WOKE_CHAT) == 1


def test_a_caller_that_disconnects_during_the_wait_stops_it(cold_local, signed_http):
    with signed_http.stream("POST", f"{cold_local.url}v1/generate/stream", json={"model": SLOW, "inputs": "hi"}) as answer:
        assert next(answer.iter_lines()) == ": keep-alive"

    # Well before the hold's own end (MAX_HOLD_SECONDS), which would print "no capacity after".
    wait_for_output(cold_local, "caller disconnected while its model was waking", timeout=MAX_HOLD_SECONDS / 2)
    assert "no capacity after" not in cold_local.output


def test_an_async_submit_to_a_cold_endpoint_wakes_it_at_once_and_the_job_completes(cold_local, signed_http):
    job = submit(signed_http, cold_local, {"model": MODEL, "messages": HELLO})

    assert job["capacity"]["state"] == "waking"
    # Woken by the submit itself, not by the alarm's datapoints minutes later.
    wait_for_output(cold_local, "scale to zero: woke llm-dev-chat-async ", timeout=1)
    status_url = f"{cold_local.url}{job['status_url'].lstrip('/')}"
    assert signed_http.get(status_url).json()["capacity"]["state"] == "waking"
    status = wait_until_done(signed_http, status_url)
    assert status["status"] == "Completed"
    assert httpx.get(status["output_url"]).json()["choices"][0]["message"]["content"] == ANSWER


def refusal_of(variables: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local"], cwd=ROOT, env={**local_environment(free_port()), **variables},
                          capture_output=True, text=True, timeout=60)


def test_a_cold_start_for_a_model_not_in_the_config_is_refused_naming_the_near_miss():
    answer = refusal_of({"LOCAL_COLD_START_SECONDS": "chta=5"})

    assert answer.returncode == 2
    assert answer.stderr == (
        "error: LOCAL_COLD_START_SECONDS: no model 'chta' in the config (did you mean 'chat'?); models: chat, small\n"
    )


@pytest.mark.parametrize("value", ["soon", "chat=soon", "chat=-1"])
def test_a_cold_start_that_is_not_a_number_of_seconds_is_refused_with_one_line(value):
    answer = refusal_of({"LOCAL_COLD_START_SECONDS": value})

    assert answer.returncode == 2
    assert answer.stderr.startswith("error: LOCAL_COLD_START_SECONDS")
    assert "Traceback" not in answer.stderr
