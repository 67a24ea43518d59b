"""`llm-infer chat` against `make local`: a conversation on stdin, answers streamed to stdout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ALICE, MODEL

LLM_INFER = shutil.which("llm-infer", path=str(Path(sys.executable).parent))


@pytest.fixture
def llm_infer(local_api):
    if LLM_INFER is None:
        pytest.skip("llm-infer is not installed (make cli)")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update(AWS_ACCESS_KEY_ID=ALICE[0], AWS_SECRET_ACCESS_KEY=ALICE[1], AWS_DEFAULT_REGION="us-east-1",
                       AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                       LLM_API_URL=local_api.url)

    def run(*arguments: str, stdin: str) -> subprocess.CompletedProcess:
        return subprocess.run([LLM_INFER, "chat", *arguments], input=stdin, env=environment, capture_output=True,
                              text=True, timeout=60)

    return run


def test_each_line_is_a_turn_answered_on_its_own_line(llm_infer):
    answer = llm_infer(stdin="Hello\nAnd again\n")

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.splitlines() == [
        "This is the local model. You said: Hello",
        "This is the local model. You said: And again",
    ]


def test_the_model_defaults_to_the_first_streaming_model(llm_infer):
    named = llm_infer("--model", MODEL, stdin="Hi\n")
    default = llm_infer(stdin="Hi\n")

    assert named.stdout == default.stdout != ""


def test_a_refused_turn_is_one_error_line_and_the_conversation_goes_on(llm_infer):
    answer = llm_infer("--temperature", "9", stdin="Hi\n")

    assert answer.returncode == 1
    assert answer.stderr.strip() == "error: 400 invalid_request_error: 'temperature' must be a number in [0, 2]"


def test_a_failure_mid_answer_keeps_what_arrived_and_says_why(llm_infer):
    answer = llm_infer(stdin="[[fail]]\nHi\n")

    assert answer.stdout.splitlines() == ["This is", "This is the local model. You said: Hi"]
    assert "model_error: Request failed during generation" in answer.stderr
    assert answer.returncode == 1
