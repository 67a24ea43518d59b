"""submit, status and wait against the async_api handler behind the local gateway (moto underneath)."""

from __future__ import annotations

import json
import re
import time

import boto3
from handler_harness import INPUT_BUCKET

from .callers import OTHER_CALLER

RESULT = {"generated_text": "Silicon dreams hum / in racks of patient warmth / tokens drift like snow"}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
FAST = ("--interval", "0.1", "--timeout", "20")


def submit(llm_infer, api_url: str, *args: str) -> str:
    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Write a haiku about GPUs", *args)
    assert outcome.exit_code == 0, outcome.stderr
    return outcome.stdout.strip()


def test_submit_prints_the_issued_inference_id_and_sends_the_payload_inline(llm_infer, api_url, aws):
    outcome = llm_infer(
        "--api-url", api_url, "submit", "--inputs", "Write a haiku", "--parameters", '{"max_new_tokens": 64}'
    )

    assert outcome.exit_code == 0
    inference_id = outcome.stdout.strip()
    assert UUID4.fullmatch(inference_id)
    stored = aws.s3.get_object(Bucket=INPUT_BUCKET, Key=f"requests/{inference_id}.json")["Body"].read()
    assert json.loads(stored) == {"inputs": "Write a haiku", "parameters": {"max_new_tokens": 64}}


def test_submit_json_prints_the_whole_answer(llm_infer, api_url):
    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Hello", "--json")

    answer = json.loads(outcome.stdout)
    assert answer == {
        "inference_id": answer["inference_id"],
        "model": "chat",
        "status": "InProgress",
        "status_url": f"/v1/inferences/{answer['inference_id']}",
    }


def test_submit_with_an_idempotency_key_submits_once(llm_infer, api_url, aws):
    first = submit(llm_infer, api_url, "--idempotency-key", "batch-7-item-3")
    second = submit(llm_infer, api_url, "--idempotency-key", "batch-7-item-3")

    assert first == second
    assert len(aws.request_items()) == 1


def test_submit_file_uploads_the_payload_then_submits_its_location(llm_infer, api_url, aws, tmp_path):
    payload = tmp_path / "payload.json"
    payload.write_bytes(json.dumps({"inputs": "A long document " * 2000, "parameters": {"max_new_tokens": 8}}).encode())

    outcome = llm_infer("--api-url", api_url, "submit", "--file", str(payload))

    assert outcome.exit_code == 0, outcome.stderr
    [key] = aws.keys_under(INPUT_BUCKET, "uploads/")
    assert aws.s3.get_object(Bucket=INPUT_BUCKET, Key=key)["Body"].read() == payload.read_bytes()
    [item] = aws.request_items()
    assert item["inference_id"]["S"] == outcome.stdout.strip()
    assert item["input_location"]["S"] == f"s3://{INPUT_BUCKET}/{key}"
    assert aws.keys_under(INPUT_BUCKET, "requests/") == []


def test_status_prints_the_status_json(llm_infer, api_url):
    inference_id = submit(llm_infer, api_url)

    outcome = llm_infer("--api-url", api_url, "status", inference_id)

    assert outcome.exit_code == 0
    status = json.loads(outcome.stdout)
    assert (status["inference_id"], status["status"], status["completed_at"]) == (inference_id, "InProgress", None)


def test_status_of_another_callers_inference_is_the_apis_404(llm_infer, api_url, as_caller):
    inference_id = submit(llm_infer, api_url)
    as_caller(OTHER_CALLER)

    outcome = llm_infer("--api-url", api_url, "status", inference_id)

    assert outcome.exit_code == 1
    assert outcome.stderr == f"error: 404 InferenceNotFound: no inference {inference_id} submitted by you\n"
    assert outcome.stdout == ""


def test_wait_prints_the_output_once_completed_showing_progress(llm_infer, api_url, sagemaker):
    sagemaker.completes_next(RESULT)
    inference_id = submit(llm_infer, api_url)

    outcome = llm_infer("--api-url", api_url, "wait", inference_id, *FAST)

    assert sagemaker.join() == inference_id
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout) == RESULT
    # Not a terminal: a plain line for each status seen, not one per poll.
    lines = outcome.stderr.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"{inference_id}: InProgress", f"{inference_id}: Completed"]


def test_wait_saves_the_output_to_a_file(llm_infer, api_url, sagemaker, tmp_path):
    sagemaker.completes_next(RESULT)
    inference_id = submit(llm_infer, api_url)
    output = tmp_path / "result.json"

    outcome = llm_infer("--api-url", api_url, "wait", inference_id, *FAST, "--output", str(output))

    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(output.read_bytes()) == RESULT
    assert outcome.stdout == ""
    assert f"saved {output.stat().st_size} bytes to {output}" in outcome.stderr


def test_submit_wait_chains_submit_and_wait(llm_infer, api_url, sagemaker):
    sagemaker.completes_next(RESULT)

    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Write a haiku", "--wait", *FAST)

    inference_id = sagemaker.join()
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout) == RESULT
    assert outcome.stderr.startswith(f"submitted {inference_id}\n")


def test_wait_on_a_failed_inference_exits_1_with_the_reason(llm_infer, api_url, sagemaker):
    sagemaker.fails_next("ClientError: Received server error (500) from model")
    inference_id = submit(llm_infer, api_url)

    outcome = llm_infer("--api-url", api_url, "wait", inference_id, *FAST)

    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    assert outcome.stderr.endswith(
        f"error: inference {inference_id} failed: ClientError: Received server error (500) from model\n"
    )


def test_wait_gives_up_at_its_timeout_with_exit_2(llm_infer, api_url):
    inference_id = submit(llm_infer, api_url)

    started = time.monotonic()
    outcome = llm_infer("--api-url", api_url, "wait", inference_id, "--interval", "0.1", "--timeout", "0.5")

    assert outcome.exit_code == 2
    assert 0.5 <= time.monotonic() - started < 5
    assert f"error: inference {inference_id} is still InProgress after 0s;" in outcome.stderr
    assert f"llm-infer wait {inference_id}" in outcome.stderr


def test_status_waits_the_retry_after_of_a_throttled_answer_then_retries(llm_infer, api_url, gateway):
    inference_id = submit(llm_infer, api_url)
    gateway.reset()
    gateway.throttle(1, retry_after="1")

    started = time.monotonic()
    outcome = llm_infer("--api-url", api_url, "status", inference_id)

    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["status"] == "InProgress"
    assert time.monotonic() - started >= 1
    assert len(gateway.requests) == 2


def test_status_gives_up_after_a_few_throttled_answers(llm_infer, api_url, gateway):
    inference_id = submit(llm_infer, api_url)
    gateway.reset()
    gateway.throttle(10, retry_after="0")

    outcome = llm_infer("--api-url", api_url, "status", inference_id)

    assert outcome.exit_code == 1
    assert outcome.stderr == "error: 429 THROTTLED: Too Many Requests (retry after 0 s)\n"
    assert len(gateway.requests) == 4


def test_a_throttled_submit_is_not_retried(llm_infer, api_url, gateway, aws):
    gateway.throttle(1, retry_after="5")

    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Hello")

    assert outcome.exit_code == 1
    assert outcome.stderr == "error: 429 THROTTLED: Too Many Requests (retry after 5 s)\n"
    assert len(gateway.requests) == 1
    assert aws.request_items() == []


def test_stack_option_reads_the_api_url_from_the_stacks_apiurl_output(llm_infer, api_url):
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": api_url}, "RequestsTableName": {"Value": "inference-requests"}},
    }
    # On moto, through AWS_ENDPOINT_URL, as the CLI's own CloudFormation client is.
    boto3.client("cloudformation").create_stack(StackName="llm-test-api", TemplateBody=json.dumps(template))
    inference_id = submit(llm_infer, api_url)

    outcome = llm_infer("--stack", "llm-test-api", "status", inference_id)

    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["inference_id"] == inference_id


def test_unknown_stack_exits_3(llm_infer, aws):
    outcome = llm_infer("--stack", "llm-nowhere-api", "status", "8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b")

    assert outcome.exit_code == 3
    assert outcome.stderr.startswith("error: cannot read stack llm-nowhere-api: ")


def test_submit_sends_the_named_model(llm_infer, api_url):
    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Summarise", "--model", "summarizer", "--json")

    assert json.loads(outcome.stdout)["model"] == "summarizer"


def test_models_prints_the_catalog(llm_infer, api_url):
    outcome = llm_infer("--api-url", api_url, "models")

    assert outcome.exit_code == 0
    listed = json.loads(outcome.stdout)
    assert [(model["id"], model["modes"]) for model in listed["data"]] == [
        ("chat", ["async", "streaming"]), ("summarizer", ["async"]), ("small", ["streaming"]),
    ]
