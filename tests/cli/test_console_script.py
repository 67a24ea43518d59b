"""The installed llm-infer console script (`pip install -e ./cli`), run as a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.scripted_runtime import Part
from tests.streaming.streams import tgi_stream

LLM_INFER = Path(sys.executable).with_name("llm-infer")


def users_environment() -> dict[str, str]:
    """This process's environment (credentials included) as a user's shell has it: stdout buffered."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


@pytest.fixture(scope="module")
def llm_infer_script() -> str:
    assert LLM_INFER.is_file(), f"{LLM_INFER} is missing: install the client with `pip install -e ./cli`"
    return str(LLM_INFER)


def test_submit_wait_prints_the_output_and_exits_0(llm_infer_script, api_url, sagemaker):
    result = {"generated_text": "Hello from the async endpoint"}
    sagemaker.completes_next(result)

    finished = subprocess.run(
        [llm_infer_script, "--api-url", api_url, "submit", "--inputs", "Say hello", "--wait", "--interval", "0.1"],
        capture_output=True,
        timeout=60,
        env=users_environment(),
    )

    inference_id = sagemaker.join()
    assert finished.returncode == 0, finished.stderr.decode()
    assert json.loads(finished.stdout) == result
    assert f"{inference_id}: Completed" in finished.stderr.decode()


def test_streamed_tokens_reach_a_pipe_as_they_arrive(llm_infer_script, api_url, emulator):
    first, rest = tgi_stream(["early", " late"]).split(b"\n\n", 1)
    scenario = emulator.script([Part(first + b"\n\n"), Part(rest, delay=1.5)])

    with subprocess.Popen(
        [llm_infer_script, "--api-url", api_url, "stream", "--inputs", scenario.key],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=users_environment(),
    ) as process:
        early = os.read(process.stdout.fileno(), 100)
        read_at = time.perf_counter()
        rest_of_output, errors = process.communicate(timeout=30)

    assert early == b"early", "the first token must be printed (and flushed) before the stream ends"
    assert read_at < scenario.sent_at[1], "the first token was printed only after the next part was sent"
    assert rest_of_output == b" late\n"
    assert (process.returncode, errors) == (0, b"")
