"""Every bad request gets a 4xx with {"error": {"code", "message"}}, and nothing is submitted."""

import json

import pytest

from handler_harness import INPUT_BUCKET, MAX_INLINE_BYTES


@pytest.fixture
def nothing_submitted(aws):
    yield
    assert aws.keys_under(INPUT_BUCKET, "requests/") == []
    assert aws.moto_async_result_buckets() == []
    assert aws.request_items() == []


def error_of(answer) -> tuple[int, str]:
    assert set(answer.body) == {"error"}
    assert set(answer.body["error"]) == {"code", "message"}
    assert answer.body["error"]["message"]
    return answer.status, answer.body["error"]["code"]


def submit_raw(api, body: str):
    return api.request("POST", "/v1/inferences", body=body)


def test_malformed_json_is_400(api, nothing_submitted):
    assert error_of(submit_raw(api, '{"inputs": "Hello"')) == (400, "MalformedJson")


def test_body_that_is_not_utf8_is_400(api, nothing_submitted):
    assert error_of(api.request("POST", "/v1/inferences", body=b'{"inputs": "\xff"}')) == (400, "MalformedJson")


def test_empty_body_is_400(api, nothing_submitted):
    assert error_of(submit_raw(api, "")) == (400, "MalformedJson")


def test_json_that_is_not_an_object_is_400(api, nothing_submitted):
    assert error_of(submit_raw(api, '["Hello"]')) == (400, "InvalidRequest")


def test_missing_inputs_is_400(api, nothing_submitted):
    assert error_of(api.submit({"parameters": {"max_new_tokens": 8}})) == (400, "InvalidRequest")


def test_null_inputs_is_400(api, nothing_submitted):
    assert error_of(api.submit({"inputs": None})) == (400, "InvalidRequest")


def test_parameters_of_the_wrong_type_are_400(api, nothing_submitted):
    assert error_of(api.submit({"inputs": "Hello", "parameters": "max_new_tokens=8"})) == (400, "InvalidRequest")


def test_request_ttl_outside_sagemakers_bounds_is_400(api, nothing_submitted):
    assert error_of(api.submit({"inputs": "Hello", "request_ttl_seconds": 21601})) == (400, "InvalidRequest")


def test_invocation_timeout_of_the_wrong_type_is_400(api, nothing_submitted):
    assert error_of(api.submit({"inputs": "Hello", "invocation_timeout_seconds": "60"})) == (400, "InvalidRequest")


def test_inline_body_over_the_limit_is_413_pointing_to_uploads(api, nothing_submitted):
    answer = api.submit({"inputs": "x" * MAX_INLINE_BYTES})

    assert error_of(answer) == (413, "PayloadTooLarge")
    assert "/v1/uploads" in answer.body["error"]["message"]


def test_input_location_in_another_bucket_is_400(api, nothing_submitted):
    answer = api.submit({"input_location": "s3://someone-elses-bucket/uploads/payload.json"})

    assert error_of(answer) == (400, "InvalidInputLocation")


def test_input_location_outside_uploads_is_400(api, nothing_submitted):
    answer = api.submit({"input_location": f"s3://{INPUT_BUCKET}/requests/payload.json"})

    assert error_of(answer) == (400, "InvalidInputLocation")


def test_input_location_that_is_not_a_string_is_400(api, nothing_submitted):
    answer = api.submit({"input_location": {"bucket": INPUT_BUCKET, "key": "uploads/x"}})

    assert error_of(answer) == (400, "InvalidInputLocation")


def test_invalid_idempotency_key_is_400(api, nothing_submitted):
    answer = api.submit({"inputs": "Hello"}, idempotency_key="has spaces in it")

    assert error_of(answer) == (400, "InvalidIdempotencyKey")


def test_lookup_of_an_id_not_of_the_issued_form_is_400(api):
    assert error_of(api.get("not-an-inference-id")) == (400, "InvalidInferenceId")


def test_unknown_route_is_404(api):
    assert error_of(api.request("GET", "/v1/engines")) == (404, "RouteNotFound")


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/v1/inferences", "POST"),
        ("DELETE", "/v1/inferences/8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b", "GET"),
        ("PUT", "/v1/uploads", "POST"),
    ],
)
def test_wrong_method_on_a_known_route_is_405_with_allow(api, method, path, allowed):
    answer = api.request(method, path, body=json.dumps({}))

    assert error_of(answer) == (405, "MethodNotAllowed")
    assert answer.headers["Allow"] == allowed


def test_request_without_a_caller_identity_is_403(api, nothing_submitted):
    answer = api.request("POST", "/v1/inferences", body=json.dumps({"inputs": "Hello"}), principal=None)

    assert error_of(answer) == (403, "MissingCallerIdentity")
