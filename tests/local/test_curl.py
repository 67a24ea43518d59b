"""curl's own SigV4 signing (--aws-sigv4, curl 7.75+) against `make local`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from .conftest import ALICE, MODEL

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl(url: str, *arguments: str, user: tuple[str, str] = ALICE) -> str:
    command = ["curl", "-sS", "-N", "--aws-sigv4", "aws:amz:eu-central-1:execute-api", "--user", ":".join(user),
               *arguments, url]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout


def chat_body(**fields) -> str:
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], **fields})


def test_curl_lists_the_models(local_api):
    assert json.loads(curl(f"{local_api.url}v1/models"))["data"][0]["id"] == MODEL


def test_curl_gets_a_chat_completion(local_api):
    answer = json.loads(curl(f"{local_api.url}v1/chat/completions", "-H", "Content-Type: application/json",
                             "-d", chat_body()))

    assert answer["choices"][0]["message"]["content"] == "This is the local model. You said: Hi"


def test_curl_streams_chunks_ending_with_done(local_api):
    events = curl(f"{local_api.url}v1/chat/completions", "-H", "Content-Type: application/json",
                  "-d", chat_body(stream=True)).strip().split("\n\n")

    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0].removeprefix("data: "))["object"] == "chat.completion.chunk"


def test_curl_with_a_wrong_secret_gets_api_gateways_403(local_api):
    answer = json.loads(curl(f"{local_api.url}v1/models", user=(ALICE[0], "wrong")))

    assert answer["error"]["code"] == "INVALID_SIGNATURE"


def test_an_unsigned_request_gets_missing_authentication_token(local_api):
    answer = subprocess.run(["curl", "-sS", f"{local_api.url}v1/models"], capture_output=True, text=True, timeout=30)

    assert json.loads(answer.stdout)["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"
