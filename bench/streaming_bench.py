"""Streaming front benchmarks: what the relay adds per token, and what decoding costs.

(a) Relay latency per token. The event-stream emulator (local/scripted_runtime.py) runs in
    this process and notes ``time.perf_counter()`` right after writing each PayloadPart (one
    token per part, ``TOKEN_INTERVAL_SECONDS`` apart). The same scripted stream is read two
    ways, alternately, ``STREAMS`` times each:

    * direct: boto3's ``invoke_endpoint_with_response_stream`` in this process, a token
      counting as delivered when its PayloadPart is yielded and decoded;
    * relay: ``lambda/streaming/run.sh`` (uvicorn, a separate process, as under the Lambda
      Web Adapter) reading the emulator with boto3, a token counting as delivered when this
      process has read its server-sent event.

    A token's latency is delivery time minus send time; both clocks are this process's
    ``perf_counter`` (CLOCK_MONOTONIC on Linux). The relay's added latency is the difference
    between the two paths' p50 (and p99) latencies. Both paths share this process's GIL with
    the emulator, so absolute numbers are inflated alike; the difference is the relay's hop
    (boto3 in the relay, decoding, a worker-thread handoff, uvicorn, one more local TCP hop).

(b) Decoder throughput against the baseline reader of AWS's streaming blog post
    (bench/blog_line_reader.py: a BytesIO that keeps every part, ``readline()`` from a saved
    position, ``json.loads`` per line). Both read the same ``STREAMING_BENCH_MB`` MB (default 100)
    TGI stream as the PayloadPart events botocore yields (``{"PayloadPart": {"Bytes": ...}}``,
    64-byte parts), produced by cycling through a precomputed list, so producing them costs next
    to nothing and both readers pay the same. Runs alternate, ``DECODER_ROUNDS`` of each, best
    time kept; the time is this thread's CPU time: both readers are CPU-bound in one thread, and
    on a shared machine wall time also counts the waits for a core (best-of-3 wall times of the
    same reader moved by 2x between runs on the 2-core development machines). Peak memory is measured under ``tracemalloc`` on streams of ``TRACED_MB`` sizes:
    the decoder's stays flat, the baseline's grows with the stream. Last, both read a stream whose
    final line has no newline: the decoder ends it at ``finish()``, the baseline never returns
    (run in a subprocess, killed after ``HANG_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.blog_line_reader import blog_token_texts  # noqa: E402
from local.scripted_runtime import Part, SageMakerRuntimeEmulator  # noqa: E402
from tests.streaming.sse_client import StreamingCall  # noqa: E402
from tests.streaming.streaming_modules import SHARED_ROOT, STREAMING_ROOT, token_stream  # noqa: E402

STREAMS = 5
TOKENS_PER_STREAM = 200
TOKEN_INTERVAL_SECONDS = 0.005
PART_BYTES = 64
ENDPOINT_NAME = "bench-endpoint"


# --- (a) relay latency ---


def _tgi_events(count: int) -> list[bytes]:
    events = []
    for index in range(count):
        final = index == count - 1
        event = {
            "index": index + 1,
            "token": {"id": 1000 + index, "text": f" t{index}", "logprob": -0.42, "special": False},
            "top_tokens": None,
            "generated_text": "".join(f" t{i}" for i in range(count)) if final else None,
            "details": None,
        }
        events.append(b"data:" + json.dumps(event).encode() + b"\n\n")
    return events


def _aws_environment(emulator_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator_url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Relay:
    """``run.sh`` in its own process, as the Lambda Web Adapter starts it."""

    def __init__(self, emulator_url: str) -> None:
        port = _free_port()
        environment = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "AWS_LWA_PORT": str(port),
            "MODEL_CATALOG": json.dumps(
                {
                    "default": "chat",
                    "models": {
                        "chat": {
                            "container_format": "tgi",
                            "streaming": {"endpoint_name": ENDPOINT_NAME, "inference_component_name": f"{ENDPOINT_NAME}-chat"},
                        }
                    },
                }
            ),
            # The deployed asset holds the shared package in its root; here it is a folder of its own.
            "PYTHONPATH": str(SHARED_ROOT),
            **_aws_environment(emulator_url),
        }
        self.url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [str(STREAMING_ROOT / "run.sh")], env=environment,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("the relay (run.sh) did not start") from None
                time.sleep(0.1)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def _read_direct(client, key: str) -> list[float]:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName=ENDPOINT_NAME, Body=json.dumps({"inputs": key}).encode(), ContentType="application/json"
    )
    decoder = token_stream.TokenStream()
    delivered = []
    for event in response["Body"]:
        for decoded in decoder.feed(event["PayloadPart"]["Bytes"]):
            if isinstance(decoded, token_stream.Token):
                delivered.append(time.perf_counter())
    return delivered


def _read_relay(relay_url: str, key: str) -> list[float]:
    with StreamingCall(relay_url, "/v1/generate/stream", json.dumps({"inputs": key}).encode()) as call:
        return [event.received_at for event in call.events() if event.event == "message"]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_relay_latency() -> list[tuple[str, str]]:
    import boto3
    from botocore.config import Config

    events = _tgi_events(TOKENS_PER_STREAM)
    latencies: dict[str, list[float]] = {"direct": [], "relay": []}
    with SageMakerRuntimeEmulator() as emulator:
        saved = {name: os.environ.get(name) for name in _aws_environment(emulator.url)}
        os.environ.update(_aws_environment(emulator.url))
        try:
            client = boto3.client("sagemaker-runtime", config=Config(retries={"total_max_attempts": 1}))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        relay = _Relay(emulator.url)
        try:
            readers = (("direct", lambda key: _read_direct(client, key)),
                       ("relay", lambda key: _read_relay(relay.url, key)))
            for _, read in readers:
                read(emulator.script([Part(e) for e in events]).key)  # warm up connections and imports
            for _ in range(STREAMS):
                for path, read in readers:
                    scenario = emulator.script([Part(e, delay=TOKEN_INTERVAL_SECONDS) for e in events])
                    delivered = read(scenario.key)
                    scenario.finished.wait(timeout=10)
                    if len(delivered) != len(scenario.sent_at):
                        raise RuntimeError(f"{path}: {len(delivered)} tokens for {len(scenario.sent_at)} parts")
                    latencies[path].extend(d - s for d, s in zip(delivered, scenario.sent_at))
        finally:
            relay.close()

    def ms(value: float) -> str:
        return f"{value * 1000:.2f} ms"

    direct, relayed = latencies["direct"], latencies["relay"]
    p50 = (_quantile(direct, 0.5), _quantile(relayed, 0.5))
    p99 = (_quantile(direct, 0.99), _quantile(relayed, 0.99))
    return [
        ("streaming relay: sample", f"{STREAMS} streams x {TOKENS_PER_STREAM} tokens per path, "
                                    f"{TOKEN_INTERVAL_SECONDS * 1000:g} ms apart"),
        ("streaming relay: direct boto3 token latency p50 / p99", f"{ms(p50[0])} / {ms(p99[0])}"),
        ("streaming relay: relayed token latency p50 / p99", f"{ms(p50[1])} / {ms(p99[1])}"),
        ("streaming relay: added latency per token p50 / p99", f"{ms(p50[1] - p50[0])} / {ms(p99[1] - p99[0])}"),
        ("streaming relay: mean latency ratio relay / direct",
         f"{statistics.fmean(relayed) / statistics.fmean(direct):.2f}x"),
    ]


# --- (b) decoder throughput ---

DECODER_ROUNDS = 3
TRACED_MB = (5, 20)
HANG_TIMEOUT_SECONDS = 5


class _TgiEvents:
    """About ``total_bytes`` of TGI events as PayloadPart events of PART_BYTES, ending on a whole
    event. The distinct parts of the repeating block are built once, before any timing or tracing."""

    def __init__(self, total_bytes: int) -> None:
        block = b"".join(_tgi_events(1000)[:-1])
        period = len(block) // math.gcd(len(block), PART_BYTES)
        doubled = block + block
        self._cycle = [
            {"PayloadPart": {"Bytes": doubled[offset : offset + PART_BYTES]}}
            for offset in (i * PART_BYTES % len(block) for i in range(period))
        ]
        self._repeats = max(1, total_bytes // (period * PART_BYTES))
        self._final = {"PayloadPart": {"Bytes": _tgi_events(1)[0]}}
        self.megabytes = (self._repeats * period * PART_BYTES + len(_tgi_events(1)[0])) / (1024 * 1024)

    def __iter__(self) -> Iterator[dict]:
        for _ in range(self._repeats):
            yield from self._cycle
        yield self._final


def _decode_all(events: Iterable[dict]) -> int:
    """The decoder's ``events`` over the parts' bytes, as the relay's worker thread reads them (one
    ``next`` at a time, through sse_relay.next_events, which adds a one-item list and a thread hop)."""
    parts = (event["PayloadPart"]["Bytes"] for event in events)
    tokens = 0
    for decoded in token_stream.TokenStream().events(parts):
        tokens += isinstance(decoded, token_stream.Token)
    if tokens == 0:
        raise RuntimeError("the benchmark stream decoded to no token")
    return tokens


def _blog_read_all(events: Iterable[dict]) -> int:
    return sum(1 for _ in blog_token_texts(events))


_READERS = {"decoder": _decode_all, "blog baseline": _blog_read_all}


def _best_seconds(stream: _TgiEvents) -> dict[str, float]:
    best = {name: math.inf for name in _READERS}
    for _ in range(DECODER_ROUNDS):
        for name, reader in _READERS.items():
            started = time.thread_time()
            reader(stream)
            best[name] = min(best[name], time.thread_time() - started)
    return best


def _peak_bytes(reader: Callable[[Iterable[dict]], int], stream: _TgiEvents) -> int:
    tracemalloc.start()
    try:
        reader(stream)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


_UNTERMINATED_STREAM = """
import sys
sys.path[:0] = {paths!r}
from bench.blog_line_reader import blog_token_texts
from token_stream import TokenStream
body = b'{{"token": {{"text": "a"}}}}\\n{{"token": {{"text": "b"}}, "generated_text": "ab"}}'
events = [{{"PayloadPart": {{"Bytes": body[i : i + 16]}}}} for i in range(0, len(body), 16)]
if sys.argv[1] == "decoder":
    decoder = TokenStream()
    decoded = [e for event in events for e in decoder.feed(event["PayloadPart"]["Bytes"])] + decoder.finish()
    print(decoded)
else:
    print(list(blog_token_texts(events)))
"""


def _reads_unterminated_stream(reader: str) -> str:
    script = _UNTERMINATED_STREAM.format(paths=[str(ROOT), str(STREAMING_ROOT)])
    try:
        result = subprocess.run(
            [sys.executable, "-c", script, reader], capture_output=True, text=True, timeout=HANG_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        return f"no answer after {HANG_TIMEOUT_SECONDS} s (killed)"
    return f"returned {result.stdout.strip()}"


def measure_decoder(total_mb: int) -> list[tuple[str, str]]:
    stream = _TgiEvents(total_mb * 1024 * 1024)
    best = _best_seconds(stream)
    decoder_rate = stream.megabytes / best["decoder"]
    baseline_rate = stream.megabytes / best["blog baseline"]
    lines = [
        ("token decoder: stream", f"{stream.megabytes:.0f} MB of TGI events in {PART_BYTES}-byte PayloadPart events"),
        (
            f"token decoder: throughput, best of {DECODER_ROUNDS}",
            f"decoder {decoder_rate:.1f} MB/s; blog baseline {baseline_rate:.1f} MB/s "
            f"(decoder / baseline {decoder_rate / baseline_rate:.2f}x)",
        ),
    ]
    for megabytes in TRACED_MB:
        traced = _TgiEvents(megabytes * 1024 * 1024)
        peaks = {name: _peak_bytes(reader, traced) / 1024 for name, reader in _READERS.items()}
        lines.append(
            (
                f"token decoder: peak traced memory, {traced.megabytes:.0f} MB stream",
                f"decoder {peaks['decoder']:.0f} KiB; blog baseline {peaks['blog baseline']:.0f} KiB",
            )
        )
    for reader in _READERS:
        lines.append((f"token decoder: last line without newline, {reader}", _reads_unterminated_stream(reader)))
    return lines


def run() -> list[tuple[str, str]]:
    return measure_relay_latency() + measure_decoder(int(os.environ.get("STREAMING_BENCH_MB", "100")))


def main() -> None:
    for label, value in run():
        print(f"{label}: {value}")


if __name__ == "__main__":
    main()
