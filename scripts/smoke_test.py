#!/usr/bin/env python3
"""Post-deployment smoke test: one async inference to Completed and its output read, one token stream to done.

    .venv/bin/python scripts/smoke_test.py https://<id>.execute-api.<region>.amazonaws.com/api/

The pipeline runs it after each wave with `smoke_test: true`; run it by hand against any
environment (your AWS credentials sign the requests, as `llm-infer` does).

One budget covers everything (SMOKE_TEST_BUDGET_SECONDS, default 3600; the pipeline sets it from
`smoke_test_timeout_minutes`; SMOKE_TEST_POLL_SECONDS, default 15, between two status checks).
Both endpoints may start at zero instances, so the async request waits for scale-out while the
stream is tried alongside it, not after it. The stream is retried
only on the answers docs/streaming.md documents as retryable, 503 (no capacity yet, model not
ready) and 429 (throttled), after their Retry-After, and a held stream that ends in
`capacity_timeout` before any token (scale to zero: the copy did not start within the hold); any
other answer fails at once. When the
budget is spent, even in the middle of a request, the script stops with exit code 2.

Exit codes: 0 passed; 1 a part failed (the message says which and why); 2 the budget ran out;
3 the test could not start (no credentials, no region).
"""

from __future__ import annotations

import io
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import boto3

from inference_client.api import TERMINAL_STATUSES, ApiError, InferenceApi
from inference_client.signing import (
    MissingCredentials,
    SignedClient,
    Unreachable,
    new_http,
    region_in_url,
    require_credentials,
)

PASSED, FAILED, OUT_OF_BUDGET, CANNOT_RUN = 0, 1, 2, 3
DEFAULT_BUDGET_SECONDS = 3600.0
# docs/streaming.md, "Errors before the stream begins": the answers that come with Retry-After.
RETRYABLE_STATUSES = frozenset({429, 503})
DEFAULT_RETRY_AFTER_SECONDS = 30.0
POLL_INTERVAL_SECONDS = float(os.environ.get("SMOKE_TEST_POLL_SECONDS", 15))
ASYNC_REQUEST = {"inputs": "Say hello in five words.", "parameters": {"max_new_tokens": 32}}
STREAM_REQUEST = {"inputs": "Count from one to five.", "parameters": {"max_new_tokens": 32}}

T = TypeVar("T")


class CapacityTimeout(Exception):
    """A held stream ended with `capacity_timeout` before its first token: retry, as docs/streaming.md says."""


class OutOfBudget(Exception):
    pass


class SmokeTestFailed(Exception):
    pass


@dataclass
class Budget:
    deadline: float
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def call(self, step: Callable[[], T]) -> T:
        """Run one network step, but return by the deadline whatever the step is doing.

        The step runs in a daemon thread: a stream that stalls (the client's read timeout is 910 s)
        cannot hold the script past its budget, and the process exits without waiting for it.
        """
        answers: queue.Queue = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                answers.put((True, step()))
            except BaseException as error:  # handed to the caller's thread as it is
                answers.put((False, error))

        threading.Thread(target=run, daemon=True).start()
        try:
            ok, value = answers.get(timeout=max(self.remaining(), 0.0))
        except queue.Empty:
            raise OutOfBudget from None
        if not ok:
            raise value
        return value


@dataclass
class AsyncCheck:
    inference_id: str | None = None
    done: bool = False
    next_try: float = 0.0


@dataclass
class StreamCheck:
    done: bool = False
    next_try: float = 0.0
    attempts: int = 0


def run(api: InferenceApi, budget: Budget) -> int:
    async_check, stream_check = AsyncCheck(), StreamCheck()
    try:
        while not (async_check.done and stream_check.done):
            now = time.monotonic()
            if not async_check.done and now >= async_check.next_try:
                _advance_async(api, budget, async_check)
            if not stream_check.done and now >= stream_check.next_try:
                _advance_stream(api, budget, stream_check)
            waits = [c.next_try for c in (async_check, stream_check) if not c.done]
            if waits:
                pause = min(waits) - time.monotonic()
                if pause > budget.remaining():
                    raise OutOfBudget
                time.sleep(max(pause, 0.0))
    except OutOfBudget:
        pending = [name for name, c in (("async", async_check), ("stream", stream_check)) if not c.done]
        budget.log(f"error: the smoke test budget ran out before {' and '.join(pending)} passed")
        return OUT_OF_BUDGET
    except SmokeTestFailed as failure:
        budget.log(f"error: {failure}")
        return FAILED
    budget.log("smoke test passed: async Completed, stream done")
    return PASSED


def _advance_async(api: InferenceApi, budget: Budget, check: AsyncCheck) -> None:
    if check.inference_id is None:
        try:
            answer = budget.call(lambda: api.submit(ASYNC_REQUEST))
        except ApiError as error:
            _retry_later_or_fail("async submit", error, budget, check)
            return
        except Unreachable as error:
            raise SmokeTestFailed(f"async submit: {error}") from None
        check.inference_id = answer["inference_id"]
        budget.log(f"async: submitted {check.inference_id}")
        check.next_try = time.monotonic() + POLL_INTERVAL_SECONDS
        return
    try:
        answer = budget.call(lambda: api.status(check.inference_id))
    except (ApiError, Unreachable) as error:
        raise SmokeTestFailed(f"async status of {check.inference_id}: {error}") from None
    status = answer["status"]
    if status not in TERMINAL_STATUSES:
        check.next_try = time.monotonic() + POLL_INTERVAL_SECONDS
        return
    if status == "Failed":
        raise SmokeTestFailed(f"async: inference {check.inference_id} failed: {answer.get('failure_reason')}")
    if "output_url" not in answer:
        raise SmokeTestFailed(f"async: inference {check.inference_id} Completed without an output_url")
    # The result must also be readable: the presigned URL exercises the bucket policy and the KMS key.
    output = io.BytesIO()
    try:
        size = budget.call(lambda: api.download(answer["output_url"], output))
    except (ApiError, Unreachable) as error:
        raise SmokeTestFailed(f"async: the output of {check.inference_id} cannot be read: {error}") from None
    if size == 0:
        raise SmokeTestFailed(f"async: the output of {check.inference_id} is empty")
    budget.log(f"async: {check.inference_id} Completed, output {size} bytes")
    check.done = True


def _advance_stream(api: InferenceApi, budget: Budget, check: StreamCheck) -> None:
    check.attempts += 1
    try:
        tokens = budget.call(lambda: _stream_to_done(api))
    except ApiError as error:
        _retry_later_or_fail("stream", error, budget, check)
        return
    except CapacityTimeout as timeout:
        # The hold already waited its whole bound: try again at once.
        budget.log(f"stream: capacity_timeout ({timeout}), retrying ({budget.remaining():.0f}s of budget left)")
        return
    except Unreachable as error:
        raise SmokeTestFailed(f"stream: {error}") from None
    budget.log(f"stream: done after {tokens} tokens")
    check.done = True


def _stream_to_done(api: InferenceApi) -> int:
    tokens = 0
    for event in api.generate_stream(STREAM_REQUEST):
        data = _json_object(event.data)
        if event.event == "done":
            return tokens
        if event.event == "error" and data.get("code") == "capacity_timeout" and tokens == 0:
            raise CapacityTimeout(data.get("message", ""))
        if event.event == "error":
            raise SmokeTestFailed(f"stream: error event {data.get('code', 'unknown')}: {data.get('message', event.data)}")
        tokens += event.event == "message"  # not the hold's `status` events
    raise SmokeTestFailed("stream: the stream ended before its done event")


def _retry_later_or_fail(step: str, error: ApiError, budget: Budget, check: AsyncCheck | StreamCheck) -> None:
    if error.status not in RETRYABLE_STATUSES:
        raise SmokeTestFailed(f"{step}: {error}")
    delay = error.retry_after if error.retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
    budget.log(f"{step}: {error.status} {error.code}, retrying in {delay:g}s ({budget.remaining():.0f}s of budget left)")
    check.next_try = time.monotonic() + delay


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: scripts/smoke_test.py <api url>", file=sys.stderr)
        return CANNOT_RUN
    api_url = argv[0]
    budget = Budget(deadline=time.monotonic() + float(os.environ.get("SMOKE_TEST_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS)))
    session = boto3.Session()
    try:
        credentials = require_credentials(session)
    except MissingCredentials as error:
        print(f"error: {error}", file=sys.stderr)
        return CANNOT_RUN
    region = region_in_url(api_url) or session.region_name
    if region is None:
        print(f"error: cannot tell the region of {api_url}: set AWS_DEFAULT_REGION", file=sys.stderr)
        return CANNOT_RUN
    api = InferenceApi(SignedClient(api_url, credentials=credentials, region=region, http=new_http()))
    budget.log(f"smoke test of {api_url}, budget {budget.remaining():.0f}s")
    return run(api, budget)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
