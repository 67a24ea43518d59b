"""Scale to zero: what a cold start costs a streaming caller beyond the start itself, through ``make local``.

Each run starts ``python -m local`` with Dev's default model at zero capacity and a simulated start
of ``COLD_START_SECONDS`` (``LOCAL_COLD_START_SECONDS=chat=5``): the first signed
``POST /v1/generate/stream`` is held by the streaming front, which wakes the model with the same
SetAlarmState call as in AWS; the local stand-in plays the wake alarm's step policy (a copy runs
5 s after the wake) and the runtime stand-in refuses the component with SageMaker's "no capacity"
error until then. Production hold settings (keep-alive 15 s, poll 1 s) are used.

Figure: the time from sending the first request to receiving its first token, minus the simulated
start time, median of ``RUNS`` cold starts (one process each). The same request repeated in the
same process once the model is warm is the baseline: what a caller waits with no cold start. The
issue's target is under 1 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import httpx
from botocore.credentials import Credentials

from bench.chat_bench import KEYS, MODEL, _free_port, _Process
from inference_client import SigV4Auth

COLD_START_SECONDS = 5.0
RUNS = 3


def _first_token_after(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    with client.stream("POST", url, json={"model": MODEL, "inputs": "Hello"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data:") and '"token"' in line:
                return time.perf_counter() - started
            if line.startswith("event: error"):
                raise RuntimeError(f"the held stream failed: {response.read()!r}")
    raise RuntimeError("the stream ended without a token")


def run() -> list[tuple[str, str]]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    auth = SigV4Auth(region="us-east-1", credentials=Credentials(*KEYS))
    cold, warm = [], []
    for _ in range(RUNS):
        port = _free_port()
        local = _Process(
            [sys.executable, "-m", "local"],
            {**environment, "LOCAL_PORT": str(port), "LOCAL_ACCESS_KEY_ID": KEYS[0],
             "LOCAL_SECRET_ACCESS_KEY": KEYS[1], "LOCAL_TOKENS_PER_SECOND": "0",
             "LOCAL_COLD_START_SECONDS": f"{MODEL}={COLD_START_SECONDS:g}"},
            "Ctrl-C stops it.",
        )
        try:
            with httpx.Client(auth=auth, timeout=60) as client:
                url = f"http://127.0.0.1:{port}/api/v1/generate/stream"
                cold.append(_first_token_after(client, url) - COLD_START_SECONDS)
                warm.append(_first_token_after(client, url))
        finally:
            local.stop()
    cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    return [
        (
            f"scale to zero via make local: first token minus a {COLD_START_SECONDS:g} s start / warm",
            f"{cold_ms:.0f} ms / {warm_ms:.0f} ms (median of {RUNS}; runs {', '.join(f'{c * 1000:.0f}' for c in cold)} ms;"
            " target under 1000 ms)",
        )
    ]


if __name__ == "__main__":
    for label, value in run():
        print(f"{label:<70} {value}")
