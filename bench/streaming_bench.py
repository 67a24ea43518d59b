"""Streaming front benchmarks: what the relay adds per token, and what decoding costs.

(a) Relay latency per token. The event-stream emulator (tests/streaming/emulator.py) runs in
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

(b) Decoder cost. A TGI stream of ``STREAMING_BENCH_MB`` MB (default 100) in 64-byte parts
    is fed to ``TokenStream`` and, in the same run, to a plain line splitter (a carry buffer
    and ``bytes.split(b"\\n")``), which is the least any reader must do. Throughput is timed
    without tracing. Peak memory is measured in separate runs under ``tracemalloc`` over the
    first ``STREAMING_BENCH_TRACED_MB`` MB (default 20): tracing slows the decoder about
    fivefold, so tracing all 100 MB would take minutes, and neither reader's memory depends
    on the stream's length (tests/streaming checks the decoder's buffer over 50 MB). Parts
    are cut lazily from a repeated block built before tracing starts, so neither reader
    holds the stream; that slicing is part of both timings.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.streaming.emulator import Part, SageMakerRuntimeEmulator  # noqa: E402
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


# --- (b) decoder cost ---


class _TgiStream:
    """A TGI stream of whole events, about ``total_bytes`` long, cut into PART_BYTES parts on
    demand. The repeated block is built up front, so tracing a reader leaves it out."""

    def __init__(self, total_bytes: int) -> None:
        self.block = b"".join(_tgi_events(1000)[:-1])
        self.final = _tgi_events(1)[0]
        self.body_bytes = -(-total_bytes // len(self.block)) * len(self.block)
        self._doubled = self.block + self.block

    @property
    def megabytes(self) -> float:
        return (self.body_bytes + len(self.final)) / (1024 * 1024)

    def parts(self) -> Iterator[bytes]:
        doubled, length, body_bytes = self._doubled, len(self.block), self.body_bytes
        for offset in range(0, body_bytes, PART_BYTES):
            position = offset % length
            yield doubled[position : position + min(PART_BYTES, body_bytes - offset)]
        yield self.final


def _decode_all(stream: _TgiStream) -> int:
    decoder = token_stream.TokenStream()
    events = 0
    for part in stream.parts():
        events += len(decoder.feed(part))
    if not decoder.finished:
        raise RuntimeError("the benchmark stream did not decode to its final event")
    return events


def _split_lines(stream: _TgiStream) -> int:
    carry = b""
    lines = 0
    for part in stream.parts():
        pieces = (carry + part).split(b"\n")
        carry = pieces.pop()
        lines += len(pieces)
    return lines + (1 if carry else 0)


def _timed(reader: Callable[[_TgiStream], int], stream: _TgiStream) -> float:
    started = time.perf_counter()
    reader(stream)
    return time.perf_counter() - started


def _peak_bytes(reader: Callable[[_TgiStream], int], stream: _TgiStream) -> int:
    tracemalloc.start()
    try:
        reader(stream)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure_decoder(total_mb: int, traced_mb: int) -> list[tuple[str, str]]:
    stream = _TgiStream(total_mb * 1024 * 1024)
    decoder_seconds = _timed(_decode_all, stream)
    splitter_seconds = _timed(_split_lines, stream)
    traced = _TgiStream(traced_mb * 1024 * 1024) if traced_mb < total_mb else stream
    decoder_peak = _peak_bytes(_decode_all, traced)
    splitter_peak = _peak_bytes(_split_lines, traced)
    megabytes = stream.megabytes
    return [
        ("token decoder: stream", f"{megabytes:.0f} MB of TGI events in {PART_BYTES}-byte parts"),
        ("token decoder: throughput",
         f"{megabytes / decoder_seconds:.1f} MB/s; line splitter {megabytes / splitter_seconds:.1f} MB/s "
         f"(decoder/splitter time {decoder_seconds / splitter_seconds:.1f}x)"),
        (f"token decoder: peak traced memory ({traced.megabytes:.0f} MB)",
         f"{decoder_peak / 1024:.1f} KiB; line splitter {splitter_peak / 1024:.1f} KiB "
         f"(ratio {decoder_peak / splitter_peak:.2f}x)"),
    ]


def run() -> list[tuple[str, str]]:
    total_mb = int(os.environ.get("STREAMING_BENCH_MB", "100"))
    traced_mb = int(os.environ.get("STREAMING_BENCH_TRACED_MB", "20"))
    return measure_relay_latency() + measure_decoder(total_mb, traced_mb)


def main() -> None:
    for label, value in run():
        print(f"{label}: {value}")


if __name__ == "__main__":
    main()
