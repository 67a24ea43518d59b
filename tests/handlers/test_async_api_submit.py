"""POST /v1/inferences and POST /v1/uploads against moto (S3, DynamoDB, SageMaker runtime)."""

import base64
import json
from datetime import datetime

import requests

from handler_harness import ALICE, BOB, ENDPOINT_NAME, INPUT_BUCKET, MAX_INLINE_BYTES


def test_inline_submit_answers_202_with_an_issued_id_and_its_status_url(api):
    answer = api.submit({"inputs": "Write a haiku about GPUs", "parameters": {"max_new_tokens": 64}})

    assert answer.status == 202
    inference_id = answer.body["inference_id"]
    assert answer.body == {
        "inference_id": inference_id,
        "model": "chat",
        "status": "InProgress",
        "status_url": f"/v1/inferences/{inference_id}",
    }
    assert api.request("GET", answer.body["status_url"]).status == 200


def test_inline_submit_writes_the_payload_under_requests(api, aws):
    answer = api.submit({"inputs": "Hello", "parameters": {"max_new_tokens": 8}})

    key = f"requests/{answer.body['inference_id']}.json"
    assert aws.keys_under(INPUT_BUCKET, "") == [key]
    stored = aws.s3.get_object(Bucket=INPUT_BUCKET, Key=key)["Body"].read()
    assert json.loads(stored) == {"inputs": "Hello", "parameters": {"max_new_tokens": 8}}


def test_inline_submit_invokes_the_endpoint_once(api, aws):
    api.submit({"inputs": "Hello"})

    assert len(aws.moto_async_result_buckets()) == 1


def test_submit_records_the_request_in_progress_for_its_caller(api, aws):
    answer = api.submit({"inputs": "Hello"})

    [item] = aws.request_items()
    assert item["inference_id"]["S"] == answer.body["inference_id"]
    assert item["status"]["S"] == "InProgress"
    assert item["principal"]["S"] == ALICE
    assert item["input_location"]["S"] == f"s3://{INPUT_BUCKET}/requests/{answer.body['inference_id']}.json"
    assert int(item["expires_at"]["N"]) > 0


def test_request_record_expires_after_the_configured_days(api, aws):
    api.submit({"inputs": "Hello"})

    [item] = aws.request_items()
    lifetime = int(item["expires_at"]["N"]) - int(datetime.fromisoformat(item["submitted_at"]["S"]).timestamp())
    assert 7 * 86400 - 2 <= lifetime <= 7 * 86400  # REQUEST_RECORD_TTL_DAYS=7 in the test environment


def test_endpoint_receives_the_issued_id_payload_location_and_invocation_options(
    api_on_scripted_runtime, scripted_runtime
):
    answer = api_on_scripted_runtime.submit(
        {"inputs": "Hello", "request_ttl_seconds": 600, "invocation_timeout_seconds": 120}
    )

    [invoke] = scripted_runtime.invocations
    inference_id = answer.body["inference_id"]
    assert invoke.path == f"/endpoints/{ENDPOINT_NAME}/async-invocations"
    assert invoke.headers["x-amzn-sagemaker-inference-id"] == inference_id
    assert invoke.headers["x-amzn-sagemaker-inputlocation"] == f"s3://{INPUT_BUCKET}/requests/{inference_id}.json"
    assert invoke.headers["x-amzn-sagemaker-requestttlseconds"] == "600"
    assert invoke.headers["x-amzn-sagemaker-invocationtimeoutseconds"] == "120"


def test_upload_answers_201_with_a_presigned_post_under_uploads(api):
    answer = api.request("POST", "/v1/uploads")

    assert answer.status == 201
    assert answer.body["expires_in"] == 300
    key = answer.body["upload"]["fields"]["key"]
    assert key.startswith("uploads/") and len(key) > len("uploads/")
    assert answer.body["input_location"] == f"s3://{INPUT_BUCKET}/{key}"


def test_upload_policy_caps_the_size_at_sagemakers_1_gb_async_limit(api):
    answer = api.request("POST", "/v1/uploads")

    policy = json.loads(base64.b64decode(answer.body["upload"]["fields"]["policy"]))
    assert ["content-length-range", 1, 1073741824] in policy["conditions"]


def test_uploaded_payload_is_submitted_by_its_location(api, aws):
    upload = api.request("POST", "/v1/uploads").body
    posted = requests.post(
        upload["upload"]["url"],
        data=upload["upload"]["fields"],
        files={"file": ("payload.json", json.dumps({"inputs": "a long document"}))},
        timeout=10,
    )
    assert posted.status_code in (200, 201, 204)

    answer = api.submit({"input_location": upload["input_location"]})

    assert answer.status == 202
    [item] = aws.request_items()
    assert item["input_location"]["S"] == upload["input_location"]
    assert aws.keys_under(INPUT_BUCKET, "requests/") == []


def test_same_idempotency_key_returns_the_first_answer_and_invokes_once(api, aws):
    first = api.submit({"inputs": "Hello"}, idempotency_key="order-42")
    second = api.submit({"inputs": "Hello"}, idempotency_key="order-42")

    assert second.status == 202
    assert second.body == first.body
    assert len(aws.keys_under(INPUT_BUCKET, "requests/")) == 1
    assert len(aws.moto_async_result_buckets()) == 1
    assert len(aws.request_items()) == 1


def test_same_idempotency_key_with_a_different_body_is_rejected(api, aws):
    api.submit({"inputs": "Hello"}, idempotency_key="order-42")

    answer = api.submit({"inputs": "Goodbye"}, idempotency_key="order-42")

    assert answer.status == 422
    assert answer.body["error"]["code"] == "IdempotencyKeyReused"
    assert len(aws.moto_async_result_buckets()) == 1


def test_idempotency_keys_are_scoped_to_the_caller(api):
    alice = api.submit({"inputs": "Hello"}, idempotency_key="order-42", principal=ALICE)
    bob = api.submit({"inputs": "Hello"}, idempotency_key="order-42", principal=BOB)

    assert alice.body["inference_id"] != bob.body["inference_id"]
    assert api.get(bob.body["inference_id"], principal=BOB).status == 200


def test_submits_without_idempotency_key_are_independent(api, aws):
    first = api.submit({"inputs": "Hello"})
    second = api.submit({"inputs": "Hello"})

    assert first.body["inference_id"] != second.body["inference_id"]
    assert len(aws.moto_async_result_buckets()) == 2


def test_endpoint_throttling_answers_429_with_retry_after(api_on_scripted_runtime, scripted_runtime):
    scripted_runtime.error = (429, "ThrottlingException")

    answer = api_on_scripted_runtime.submit({"inputs": "Hello"})

    assert answer.status == 429
    assert answer.body["error"]["code"] == "Throttled"
    assert int(answer.headers["Retry-After"]) > 0


def test_endpoint_throttling_is_retried_by_the_sdk_before_answering(api_on_scripted_runtime, scripted_runtime):
    scripted_runtime.error = (429, "ThrottlingException")

    api_on_scripted_runtime.submit({"inputs": "Hello"})

    assert len(scripted_runtime.invocations) == 3  # botocore "standard" retry mode: 3 attempts


def test_endpoint_unavailable_answers_503_with_retry_after(api_on_scripted_runtime, scripted_runtime):
    scripted_runtime.error = (503, "ServiceUnavailable")

    answer = api_on_scripted_runtime.submit({"inputs": "Hello"})

    assert answer.status == 503
    assert answer.body["error"]["code"] == "EndpointUnavailable"
    assert int(answer.headers["Retry-After"]) > 0


def test_failed_invoke_leaves_no_request_claiming_in_progress(api_on_scripted_runtime, scripted_runtime, aws):
    scripted_runtime.error = (503, "ServiceUnavailable")

    api_on_scripted_runtime.submit({"inputs": "Hello"})

    assert aws.request_items() == []


def test_idempotent_submit_that_failed_can_be_retried_with_the_same_key(api_on_scripted_runtime, scripted_runtime, aws):
    scripted_runtime.error = (503, "ServiceUnavailable")
    api_on_scripted_runtime.submit({"inputs": "Hello"}, idempotency_key="order-42")
    scripted_runtime.error = None

    retried = api_on_scripted_runtime.submit({"inputs": "Hello"}, idempotency_key="order-42")

    assert retried.status == 202
    assert [item["inference_id"]["S"] for item in aws.request_items()] == [retried.body["inference_id"]]


def test_inline_limit_is_the_configured_max_inline_bytes(api):
    just_fits = "x" * (MAX_INLINE_BYTES - len(json.dumps({"inputs": ""})))

    assert api.submit({"inputs": just_fits}).status == 202
    assert api.submit({"inputs": just_fits + "x"}).status == 413
