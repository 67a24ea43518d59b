"""``run.sh``, the command the Lambda Web Adapter starts, serves the relay on AWS_LWA_PORT."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from local.scripted_runtime import parts

from .sse_client import StreamingCall
from .streaming_modules import MODEL_CATALOG, SHARED_ROOT, STREAMING_ROOT
from .streams import tgi_stream


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lambda_web_adapter_target(emulator):
    port = free_port()
    environment = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "AWS_LWA_PORT": str(port),
        "MODEL_CATALOG": json.dumps(MODEL_CATALOG),
        # The deployed asset holds the shared package in its root; here it is a folder of its own.
        "PYTHONPATH": str(SHARED_ROOT),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    process = subprocess.Popen(
        [str(STREAMING_ROOT / "run.sh")], env=environment, cwd="/",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                assert json.loads(response.read()) == {"status": "ok"}
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"run.sh did not serve on port {port}: {process.stdout.read().decode()}")
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_run_sh_is_executable():
    assert os.access(STREAMING_ROOT / "run.sh", os.X_OK)


def test_run_sh_serves_the_relay_on_the_adapters_port(emulator, lambda_web_adapter_target):
    scenario = emulator.script(parts(tgi_stream(["ok", "!"]), cuts=[7]))
    body = json.dumps({"inputs": scenario.key}).encode()
    with StreamingCall(lambda_web_adapter_target, "/v1/generate/stream", body) as call:
        assert [(e.event, e.data) for e in call.events()] == [
            ("message", {"token": "ok"}), ("message", {"token": "!"}), ("done", {"generated_text": "ok!"}),
        ]
