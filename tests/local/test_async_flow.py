"""The async path end to end in the local mode: the submit reaches the model stand-in through the
async endpoint stand-in, the answer lands in the output bucket, SageMaker's notification travels
SNS -> SQS -> the notifications handler, and the caller reads the result."""

from __future__ import annotations

import time

import httpx

from .conftest import BOB, MODEL


def wait_until_done(http: httpx.Client, url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get(url).json()
        if status["status"] != "InProgress":
            return status
        time.sleep(0.2)
    raise AssertionError(f"still InProgress after {timeout} s: {status}")


def submit(http: httpx.Client, local_api, body: dict) -> dict:
    answer = http.post(f"{local_api.url}v1/inferences", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_a_chat_job_completes_with_a_chat_completion_in_the_output_bucket(local_api, signed_http):
    job = submit(signed_http, local_api, {"model": MODEL, "messages": [{"role": "user", "content": "Summarise X"}]})

    status = wait_until_done(signed_http, f"{local_api.url}{job['status_url'].lstrip('/')}")

    assert status["status"] == "Completed"
    result = httpx.get(status["output_url"]).json()
    assert result["object"] == "chat.completion"
    assert result["choices"][0]["message"]["content"] == "This is the local model. You said: Summarise X"


def test_a_generate_job_completes_with_the_generated_text(local_api, signed_http):
    job = submit(signed_http, local_api, {"inputs": "Write a haiku", "parameters": {"max_new_tokens": 4}})

    status = wait_until_done(signed_http, f"{local_api.url}{job['status_url'].lstrip('/')}")

    assert status["status"] == "Completed"
    # Dev's default model is LMI, which answers one object (TGI would answer a list of one).
    assert httpx.get(status["output_url"]).json() == {"generated_text": "This is the local"}


def test_a_job_the_model_refuses_fails_with_sagemakers_reason(local_api, signed_http):
    job = submit(signed_http, local_api, {"model": MODEL, "messages": [{"role": "user", "content": "[[reject]]"}]})

    status = wait_until_done(signed_http, f"{local_api.url}{job['status_url'].lstrip('/')}")

    assert status["status"] == "Failed"
    assert "Received server error (400) from model" in status["failure_reason"]


def test_each_key_pair_is_its_own_caller(local_api, signed_http, caller_credentials):
    job = submit(signed_http, local_api, {"model": MODEL, "messages": [{"role": "user", "content": "mine"}]})
    caller_credentials(BOB)

    from inference_client import SigV4Auth

    with httpx.Client(auth=SigV4Auth()) as bob:
        assert bob.get(f"{local_api.url}{job['status_url'].lstrip('/')}").status_code == 404
