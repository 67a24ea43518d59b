"""Scale to zero: what a cold start costs a streaming caller beyond the start itself.

The streaming front (the app as the Lambda runs it, under uvicorn in this process) serves an
inference component at zero copies. The local stand-in (local/scale_to_zero.py) plays SageMaker's
control plane and the wake alarm's step policy, against moto's CloudWatch; a woken copy becomes
routable ``COLD_START_SECONDS`` later, and until then the event-stream emulator refuses the
component's requests as SageMaker does ("no capacity"). Production hold settings (keep-alive 15 s,
poll 1 s) are used.

Figure: the time from sending the request to receiving its first token, minus the simulated start
time, median of ``RUNS`` cold starts. The same stream read from a warm component in the same run is
the baseline (what a caller waits with no cold start at all). The issue's target is under 1 s.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLD_START_SECONDS = float(os.environ.get("LOCAL_COLD_START_SECONDS", "5"))
RUNS = 3
ENDPOINT_NAME = "bench-streaming"


def run() -> list[tuple[str, str]]:
    import boto3
    from moto.server import ThreadedMotoServer

    from local.scale_to_zero import ScaleToZeroStandIn
    from local.scripted_runtime import SageMakerRuntimeEmulator, parts
    from local.asgi_server import serve
    from tests.streaming.streaming_modules import MODEL_CATALOG
    from tests.streaming.sse_client import StreamingCall
    from tests.streaming.streaming_modules import load_app_module, stream_settings
    from tests.streaming.streams import tgi_stream

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    saved = dict(os.environ)
    try:
        with SageMakerRuntimeEmulator() as emulator:
            os.environ.update(
                {
                    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    "AWS_ENDPOINT_URL_CLOUDWATCH": f"http://{host}:{port}",
                    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator.url,
                }
            )
            cloudwatch = boto3.client("cloudwatch")
            with ScaleToZeroStandIn(cloudwatch_client=cloudwatch, cold_start_seconds=COLD_START_SECONDS) as stand_in:
                os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] = stand_in.url
                emulator.gate_capacity(stand_in.has_capacity)
                # The module builds its own app from the environment when imported; the bench builds its own.
                os.environ["MODEL_CATALOG"] = json.dumps(MODEL_CATALOG)
                app_module = load_app_module()

                def first_token_after(component: str) -> float:
                    settings = stream_settings.Settings.one_model(
                        ENDPOINT_NAME, inference_component_name=component, scale_to_zero=True,
                        upstream_max_attempts=1,
                    )
                    scenario = emulator.script(parts(tgi_stream(["Hello", " world"]), []))
                    with serve(app_module.create_app(settings)) as url:
                        started = time.perf_counter()
                        with StreamingCall(url, "/v1/generate/stream", json.dumps({"inputs": scenario.key}).encode()) as call:
                            first = next(e for e in call.events() if e.event == "message")
                    return first.received_at - started

                cold, warm = [], []
                for index in range(RUNS):
                    stand_in.add_inference_component(f"cold-{index}", endpoint_name=ENDPOINT_NAME)
                    cold.append(first_token_after(f"cold-{index}") - COLD_START_SECONDS)
                    stand_in.add_inference_component(f"warm-{index}", endpoint_name=ENDPOINT_NAME, copies=1)
                    warm.append(first_token_after(f"warm-{index}"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        moto.stop()
    cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    return [
        (
            f"scale to zero: first token minus a {COLD_START_SECONDS:g} s start / warm first token",
            f"{cold_ms:.0f} ms / {warm_ms:.0f} ms (median of {RUNS}; target under 1000 ms)",
        )
    ]


if __name__ == "__main__":
    for label, value in run():
        print(f"{label:<70} {value}")
