"""Every bad request gets a 4xx with {"error": {"code", "message"}}, and nothing is submitted."""

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler_harness import ALICE, INPUT_BUCKET, MAX_INLINE_BYTES, ApiResponse, LambdaContext


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


# --- Bodies Python's json module mishandles: each a 400 with its own code, nothing submitted ---


@pytest.mark.parametrize(
    "body, code",
    [
        # Past Python's recursion limit (1000), within the tests' MAX_INLINE_BYTES.
        ("[" * 2000 + "]" * 2000, "JsonTooDeep"),
        ('{"inputs": "x", "parameters": {"temperature": 1e400}}', "NumberTooLarge"),
        ('{"inputs": "x", "parameters": {"temperature": NaN}}', "MalformedJson"),
        ('{"inputs": [Infinity, -Infinity]}', "MalformedJson"),
        ('{"inputs": "\\ud800"}', "UnpairedSurrogate"),
    ],
    ids=["deep-nesting", "number-overflow", "nan", "infinity", "lone-surrogate"],
)
def test_bodies_that_are_not_strict_json_are_400_with_their_code(api, nothing_submitted, body, code):
    assert error_of(submit_raw(api, body)) == (400, code)


def test_a_lone_surrogate_carried_unescaped_in_the_event_is_400(api, nothing_submitted):
    assert error_of(submit_raw(api, '{"inputs": "\ud800"}')) == (400, "MalformedJson")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_json_by_content_type_is_415(api, nothing_submitted, content_type):
    answer = api.request(
        "POST", "/v1/inferences", body=json.dumps({"inputs": "Hello"}), headers={"Content-Type": content_type}
    )

    assert error_of(answer) == (415, "UnsupportedMediaType")


def test_json_with_a_charset_parameter_is_accepted(api):
    answer = api.request(
        "POST",
        "/v1/inferences",
        body=json.dumps({"inputs": "Hello"}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert answer.status == 202


def test_a_body_flagged_base64_that_is_not_base64_is_400(async_api_module, aws, nothing_submitted):
    event = proxy_event(body="{not base64!}", isBase64Encoded=True)

    assert error_of(call(async_api_module, event)) == (400, "MalformedBody")


def test_a_base64_body_is_decoded_before_parsing(async_api_module, aws):
    event = proxy_event(body=base64.b64encode(b'{"inputs": "Hello"}').decode(), isBase64Encoded=True)

    assert call(async_api_module, event).status == 202


@pytest.mark.parametrize(
    "request_context",
    [{}, {"identity": None}, {"identity": {}}, {"identity": {"userArn": ""}}, None],
    ids=["no-identity", "null-identity", "empty-identity", "empty-user-arn", "no-request-context"],
)
def test_an_event_without_the_callers_identity_is_403(async_api_module, aws, nothing_submitted, request_context):
    event = proxy_event(body=json.dumps({"inputs": "Hello"}))
    if request_context is None:
        del event["requestContext"]
    else:
        event["requestContext"] = request_context

    assert error_of(call(async_api_module, event)) == (403, "MissingCallerIdentity")


def proxy_event(**overrides) -> dict:
    """A REST proxy event for POST /v1/inferences, by Alice, that a test may break."""
    return {
        "resource": "/{proxy+}",
        "path": "/v1/inferences",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": "r-1", "identity": {"userArn": ALICE}},
        "body": None,
        "isBase64Encoded": False,
        **overrides,
    }


def call(handler_module, event: dict) -> ApiResponse:
    answer = handler_module.handler(event, LambdaContext())
    return ApiResponse(status=answer["statusCode"], headers={}, body=json.loads(answer["body"]))


def test_a_content_type_with_a_lone_surrogate_is_415_in_valid_json(async_api_module, aws, nothing_submitted):
    event = proxy_event(body=json.dumps({"inputs": "Hello"}), headers={"Content-Type": "text/\ud800"})

    answer = async_api_module.handler(event, LambdaContext())

    assert answer["statusCode"] == 415
    answer["body"].encode("utf-8")


# --- Any event for POST /v1/inferences: a documented answer in the documented shape, never a 5xx ---

DOCUMENTED_SUBMIT_ANSWERS = {
    (202, None), (400, "MalformedJson"), (400, "JsonTooDeep"), (400, "NumberTooLarge"),
    (400, "UnpairedSurrogate"), (400, "MalformedBody"), (400, "InvalidRequest"), (400, "InvalidInputLocation"),
    (400, "InvalidIdempotencyKey"), (403, "MissingCallerIdentity"), (413, "PayloadTooLarge"),
    (415, "UnsupportedMediaType"),
}
text_bodies = st.one_of(
    st.fixed_dictionaries(
        {"inputs": st.text(max_size=20)}, optional={"parameters": st.dictionaries(st.text(max_size=5), st.integers())}
    ).map(json.dumps),
    st.lists(
        st.sampled_from(['{"inputs": ', '"x"', "NaN", "1e999", '"\\ud800"', "[", "]", "}", ", ", "\ud800"]), max_size=12
    ).map("".join),
    st.text(max_size=30),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.one_of(
            st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8"]),
            st.text(max_size=10),
            st.integers(),
        ),
        "Idempotency-Key": st.one_of(st.text(max_size=8), st.integers()),
    },
)
identities = st.one_of(
    st.none(),
    st.just({"userArn": ALICE}),
    st.fixed_dictionaries({"userArn": st.one_of(st.none(), st.text(max_size=5), st.integers())}),
)
events = st.fixed_dictionaries(
    {"path": st.just("/v1/inferences"), "httpMethod": st.just("POST")},
    optional={
        "headers": st.one_of(st.none(), headers),
        "requestContext": st.one_of(st.none(), st.just({}), st.fixed_dictionaries({"identity": identities})),
        "body": st.one_of(st.none(), text_bodies, st.integers()),
        "isBase64Encoded": st.booleans(),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
def test_any_submit_event_gets_a_documented_answer_in_the_documented_shape(async_api_module, aws, event):
    answer = async_api_module.handler(event, LambdaContext())

    body = json.loads(answer["body"])
    code = body["error"]["code"] if answer["statusCode"] != 202 else None
    assert (answer["statusCode"], code) in DOCUMENTED_SUBMIT_ANSWERS
    if code is not None:
        assert set(body) == {"error"} and body["error"]["message"]
