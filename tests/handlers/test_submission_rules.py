"""The submission domain rules, without any emulator: what POST /v1/inferences accepts and rejects."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api_errors import ApiError
from inference_common.s3_location import S3Location
from submission import new_inference_id, parse_submission, require_inference_id

BUCKET = "inference-input"


def parse(body, *, max_inline_bytes=262144):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_submission(raw, input_bucket=BUCKET, max_inline_bytes=max_inline_bytes)


def rejection(body, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse(body, **kwargs)
    return caught.value


def test_issued_ids_are_accepted_as_lookup_ids():
    inference_id = new_inference_id()

    assert require_inference_id(inference_id) == inference_id


@pytest.mark.parametrize(
    "candidate",
    [
        "not-an-id",
        "8F0E2B9C-3A4D-4E5F-8A6B-7C8D9E0F1A2B",  # uppercase: not the form the API issues
        "8f0e2b9c3a4d4e5f8a6b7c8d9e0f1a2b",  # no hyphens
        "8f0e2b9c-3a4d-1e5f-8a6b-7c8d9e0f1a2b",  # version 1
        "8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b-extra",
        "..%2F..%2Fetc",
    ],
)
def test_ids_not_of_the_issued_form_are_rejected(candidate):
    with pytest.raises(ApiError) as caught:
        require_inference_id(candidate)

    assert (caught.value.status, caught.value.code) == (400, "InvalidInferenceId")


def test_inline_payload_is_inputs_and_parameters_only():
    submission = parse({"inputs": "Hello", "parameters": {"max_new_tokens": 8}, "request_ttl_seconds": 600})

    assert json.loads(submission.inline_payload) == {"inputs": "Hello", "parameters": {"max_new_tokens": 8}}
    assert submission.input_location is None


def test_uploaded_payload_is_referenced_by_location():
    submission = parse({"input_location": f"s3://{BUCKET}/uploads/abc"})

    assert submission.input_location == S3Location(BUCKET, "uploads/abc")
    assert submission.inline_payload is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("request_ttl_seconds", 60),
        ("request_ttl_seconds", 21600),
        ("invocation_timeout_seconds", 1),
        ("invocation_timeout_seconds", 3600),
    ],
)
def test_invocation_options_at_sagemaker_bounds_are_accepted(field, value):
    submission = parse({"inputs": "x", field: value})

    assert getattr(submission.options, field) == value


@pytest.mark.parametrize(
    "field, value",
    [
        ("request_ttl_seconds", 59),
        ("request_ttl_seconds", 21601),
        ("invocation_timeout_seconds", 0),
        ("invocation_timeout_seconds", 3601),
    ],
)
def test_invocation_options_outside_sagemaker_bounds_are_rejected(field, value):
    error = rejection({"inputs": "x", field: value})

    assert (error.status, error.code) == (400, "InvalidRequest")
    assert field in error.message


@pytest.mark.parametrize("value", [True, "600", 600.0, None])
def test_invocation_options_must_be_integers(value):
    assert rejection({"inputs": "x", "request_ttl_seconds": value}).code == "InvalidRequest"


def test_body_size_is_checked_before_parsing():
    error = rejection(b"{" + b" " * 200, max_inline_bytes=100)

    assert error.status == 413


def test_inputs_and_input_location_together_are_rejected():
    error = rejection({"inputs": "x", "input_location": f"s3://{BUCKET}/uploads/abc"})

    assert (error.status, error.code) == (400, "InvalidRequest")


def test_parameters_belong_in_the_uploaded_payload_not_beside_its_location():
    error = rejection({"input_location": f"s3://{BUCKET}/uploads/abc", "parameters": {}})

    assert error.code == "InvalidRequest"


def test_misspelt_fields_are_rejected_not_ignored():
    error = rejection({"inputs": "x", "parameter": {"max_new_tokens": 8}})

    assert error.code == "InvalidRequest"
    assert "parameter" in error.message


@pytest.mark.parametrize(
    "location",
    [
        f"s3://{BUCKET}/uploads/",  # no key
        f"s3://{BUCKET}/requests/abc",  # the API's own prefix
        f"s3://{BUCKET}/uploadsx/abc",
        "s3://someone-elses-bucket/uploads/abc",
        f"https://{BUCKET}.s3.amazonaws.com/uploads/abc",
        f"s3://{BUCKET}/uploads/" + "k" * 1024,
    ],
)
def test_input_locations_outside_the_uploads_prefix_are_rejected(location):
    error = rejection({"input_location": location})

    assert (error.status, error.code) == (400, "InvalidInputLocation")


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"[" * 100_000 + b"]" * 100_000, "JsonTooDeep"),
        (b'{"inputs": ' + b"1" * 5000 + b"}", "NumberTooLarge"),
        (b'{"inputs": "x", "parameters": {"temperature": NaN}}', "MalformedJson"),
        (rb'{"inputs": "\udfff"}', "UnpairedSurrogate"),
    ],
    ids=["deep-nesting", "huge-integer", "nan", "lone-surrogate"],
)
def test_bodies_that_are_not_strict_json_are_rejected_with_their_code(raw, code):
    error = rejection(raw, max_inline_bytes=1024 * 1024)

    assert (error.status, error.code) == (400, code)


SUBMIT_REJECTIONS = {
    (400, "MalformedJson"), (400, "JsonTooDeep"), (400, "NumberTooLarge"), (400, "UnpairedSurrogate"),
    (400, "InvalidRequest"), (400, "InvalidInputLocation"), (413, "PayloadTooLarge"),
}
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    | st.sampled_from([float("nan"), float("inf"), -float("inf")]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
submissions = st.fixed_dictionaries(
    {},
    optional={
        "inputs": values,
        "parameters": values,
        "input_location": st.one_of(st.text(max_size=40).map(lambda k: f"s3://{BUCKET}/uploads/{k}"), values),
        "request_ttl_seconds": st.one_of(st.integers(0, 30000), values),
        "invocation_timeout_seconds": st.one_of(st.integers(0, 4000), values),
        "parameter": values,
    },
)
raw_bodies = st.one_of(
    submissions.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=100),
    st.lists(st.sampled_from(['{"inputs": ', '"x"', "NaN", "-Infinity", "1e999", '"\\ud800"', "[", "]", "}", ", ",
                              "9" * 4500]),
             max_size=20).map(lambda pieces: "".join(pieces).encode()),
    st.integers(900, 3000).map(lambda depth: b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"),
)


@given(raw_bodies)
def test_any_body_is_a_submission_of_strict_json_or_a_documented_rejection(raw):
    try:
        submission = parse(raw, max_inline_bytes=64 * 1024)
    except ApiError as rejected:
        assert (rejected.status, rejected.code) in SUBMIT_REJECTIONS
        return
    if submission.inline_payload is not None:
        json.loads(submission.inline_payload.decode("utf-8"), parse_constant=_not_json)
    else:
        assert submission.input_location.is_under(BUCKET, "uploads/")


def _not_json(literal: str):
    raise AssertionError(f"{literal} would reach the model")
