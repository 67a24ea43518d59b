"""What ``POST /v1/chat/completions`` adds over reading the model container's stream directly.

Two processes serve the same deterministic answer from the same model container stand-in
(``local/model_container.py``, in the format of Dev's default model, LMI, as fast as it can write): ``python -m local`` (the
whole API: SigV4 gateway, the streaming front under uvicorn, the SageMaker runtime stand-in's
event-stream frames, the decoder and the chunk normalisation), and a bare container process.
This process reads each, alternately, ``ROUNDS`` times:

* direct: ``POST /invocations`` on the bare container with the chat body, ``stream: true``;
* API: ``POST /v1/chat/completions`` on the local API, signed with ``SigV4Auth``.

The API path also crosses the local stand-ins for API Gateway and SageMaker runtime, in the same
Python process as the front, so its ratio is an upper bound on what the front itself adds. Both
are read with httpx, line by line, and a chunk counts when its line with content has arrived (a
``data:`` event from the API, a JSON line from LMI). Time to first chunk is from sending the request to the first content chunk; the
per-chunk time is the rest of the stream divided by its chunks (``TOKENS`` words). Figures are
medians; the ratios are API over direct in the same run. The local mode's time to its ready
banner is reported too (the issue asks for under 15 s on 2 cores).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "cli") not in sys.path:
    sys.path.insert(0, str(ROOT / "cli"))

from inference_client import SigV4Auth  # noqa: E402

ROUNDS = 7
TOKENS = 1000
PROMPT = " ".join(f"w{i}" for i in range(TOKENS - 7))
MODEL = "chat"
KEYS = ("bench", "bench-secret")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Process:
    def __init__(self, command: list[str], environment: dict[str, str], ready_line: str) -> None:
        started = time.monotonic()
        self._process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read() -> None:
            for line in self._process.stdout:
                if ready_line in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60):
            self._process.kill()
            raise RuntimeError(f"{command} did not start")
        self.ready_after = time.monotonic() - started

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=15)


def _read(client: httpx.Client, url: str, body: dict) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = None
    chunks = 0
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            # The API sends server-sent events; LMI itself sends JSON lines.
            payload = line.removeprefix("data:").strip()
            if not payload.startswith("{"):
                continue
            event = json.loads(payload)
            choices = event.get("choices") or []
            if choices and choices[0].get("delta", {}).get("content"):
                chunks += 1
                if first is None:
                    first = time.perf_counter()
    ended = time.perf_counter()
    assert first is not None and chunks == TOKENS, (chunks, TOKENS)
    return first - started, (ended - first) / (chunks - 1), chunks


def run() -> list[tuple[str, str]]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    api_port = _free_port()
    local = _Process(
        [sys.executable, "-m", "local"],
        {**environment, "LOCAL_PORT": str(api_port), "LOCAL_ACCESS_KEY_ID": KEYS[0],
         "LOCAL_SECRET_ACCESS_KEY": KEYS[1], "LOCAL_TOKENS_PER_SECOND": "0"},
        "Ctrl-C stops it.",
    )
    container_port = _free_port()
    container = _Process(
        [sys.executable, "-c",
         "import signal, sys; sys.path.insert(0, '.'); from local.model_container import ModelContainer\n"
         f"with ModelContainer('lmi', port={container_port}):\n"
         "    print('serving', flush=True); signal.sigwait([signal.SIGTERM])"],
        environment,
        "serving",
    )
    messages = [{"role": "user", "content": PROMPT}]
    try:
        from botocore.credentials import Credentials

        auth = SigV4Auth(region="us-east-1", credentials=Credentials(*KEYS))
        with httpx.Client(auth=auth, timeout=60) as api, httpx.Client(timeout=60) as direct:
            samples: dict[str, list[tuple[float, float, int]]] = {"api": [], "direct": []}
            for _ in range(ROUNDS):
                samples["direct"].append(_read(direct, f"http://127.0.0.1:{container_port}/invocations",
                                               {"messages": messages, "stream": True, "max_tokens": TOKENS}))
                samples["api"].append(_read(api, f"http://127.0.0.1:{api_port}/api/v1/chat/completions",
                                            {"model": MODEL, "messages": messages, "stream": True,
                                             "max_tokens": TOKENS}))
    finally:
        local.stop()
        container.stop()
    first = {path: statistics.median(s[0] for s in runs) for path, runs in samples.items()}
    per_chunk = {path: statistics.median(s[1] for s in runs) for path, runs in samples.items()}
    return [
        ("chat: time to first chunk, API / direct (median of 7)",
         f"{first['api'] * 1000:.2f} ms / {first['direct'] * 1000:.2f} ms = {first['api'] / first['direct']:.1f}x"),
        (f"chat: time per chunk after the first, API / direct ({TOKENS} chunks)",
         f"{per_chunk['api'] * 1e6:.0f} us / {per_chunk['direct'] * 1e6:.0f} us = "
         f"{per_chunk['api'] / per_chunk['direct']:.1f}x"),
        ("local mode: start to ready banner", f"{local.ready_after:.1f} s"),
    ]


if __name__ == "__main__":
    for label, value in run():
        print(f"{label:<70} {value}")
