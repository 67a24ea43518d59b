"""Request validation and the container body, without any server."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .streaming_modules import generation_request, stream_settings

InvalidRequest = generation_request.InvalidRequest
parse = generation_request.parse_generation_request


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_inputs_alone_is_a_valid_request():
    request = parse(body({"inputs": "Tell me a story"}))
    assert request.inputs == "Tell me a story"
    assert request.parameters == {}


def test_known_parameters_within_bounds_are_kept():
    parameters = {"max_new_tokens": 4096, "temperature": 0.7, "top_p": 0.95, "top_k": 50,
                  "repetition_penalty": 1.1, "do_sample": True, "seed": 42, "stop": ["\n\n"]}
    assert parse(body({"inputs": "x", "parameters": parameters})).parameters == parameters


def test_tgi_body_asks_for_a_stream():
    request = parse(body({"inputs": "héllo", "parameters": {"max_new_tokens": 5, "stop": ["."]}}))
    assert json.loads(request.container_body("tgi")) == {
        "inputs": "héllo", "stream": True, "parameters": {"max_new_tokens": 5, "stop": ["."]},
    }


def test_lmi_body_asks_for_a_stream_and_names_stop_sequences_its_way():
    request = parse(body({"inputs": "x", "parameters": {"stop": ["."]}}))
    assert json.loads(request.container_body("lmi")) == {
        "inputs": "x", "stream": True, "parameters": {"stop_sequences": ["."]},
    }


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (b"", "malformed_json", "empty"),
        (b"{not json", "malformed_json", "not valid JSON"),
        (b"\xff\xfe", "malformed_json", "UTF-8"),
        (b'{"inputs": "x", "parameters": {"temperature": NaN}}', "malformed_json", "NaN"),
        (b'["inputs"]', "invalid_request", "JSON object"),
        (b"{}", "invalid_request", "inputs is required"),
        (b'{"inputs": 3}', "invalid_request", "inputs is required and must be a string"),
        (b'{"inputs": "   "}', "invalid_request", "inputs must not be empty"),
        (b'{"inputs": "x", "stream": false}', "invalid_request", "unknown field(s) stream"),
        (b'{"inputs": "x", "parameters": []}', "invalid_request", "parameters must be a JSON object"),
        (b'{"inputs": "x", "parameters": {"details": true}}', "invalid_request", "unknown parameter(s) details"),
        (b'{"inputs": "x", "parameters": {"max_new_tokens": 0}}', "invalid_request", "max_new_tokens"),
        (b'{"inputs": "x", "parameters": {"max_new_tokens": 4097}}', "invalid_request", "[1, 4096]"),
        (b'{"inputs": "x", "parameters": {"max_new_tokens": 10.5}}', "invalid_request", "an integer"),
        (b'{"inputs": "x", "parameters": {"max_new_tokens": true}}', "invalid_request", "max_new_tokens"),
        (b'{"inputs": "x", "parameters": {"max_new_tokens": "10"}}', "invalid_request", "max_new_tokens"),
        (b'{"inputs": "x", "parameters": {"temperature": 0}}', "invalid_request", "temperature"),
        (b'{"inputs": "x", "parameters": {"top_p": 1.0}}', "invalid_request", "(0, 1)"),
        (b'{"inputs": "x", "parameters": {"top_k": 0}}', "invalid_request", "top_k"),
        (b'{"inputs": "x", "parameters": {"repetition_penalty": 0}}', "invalid_request", "repetition_penalty"),
        (b'{"inputs": "x", "parameters": {"seed": -1}}', "invalid_request", "seed"),
        (b'{"inputs": "x", "parameters": {"do_sample": 1}}', "invalid_request", "do_sample"),
        (b'{"inputs": "x", "parameters": {"stop": "."}}', "invalid_request", "stop"),
        (b'{"inputs": "x", "parameters": {"stop": ["a", "b", "c", "d", "e"]}}', "invalid_request", "at most 4"),
        (b'{"inputs": "x", "parameters": {"stop": [""]}}', "invalid_request", "non-empty"),
    ],
)
def test_invalid_requests_are_rejected_with_a_message_naming_the_problem(raw, code, fragment):
    with pytest.raises(InvalidRequest) as raised:
        parse(raw)
    assert raised.value.code == code
    assert fragment in raised.value.message


# --- Settings from the environment ---

Settings = stream_settings.Settings
ConfigurationError = stream_settings.ConfigurationError


CATALOG = json.dumps({
    "default": "chat",
    "models": {"chat": {"container_format": "lmi", "streaming": {"endpoint_name": "ep", "inference_component_name": "ic"}}},
})


def test_settings_default_to_a_60_second_read_timeout_and_two_attempts():
    settings = Settings.from_environ({"MODEL_CATALOG": CATALOG})
    assert (settings.upstream_read_timeout_seconds, settings.upstream_max_attempts) == (60.0, 2)


def test_settings_read_every_variable():
    settings = Settings.from_environ(
        {"MODEL_CATALOG": CATALOG, "UPSTREAM_READ_TIMEOUT_SECONDS": "2.5", "UPSTREAM_MAX_ATTEMPTS": "3"}
    )
    chat = settings.catalog.resolve(None)
    assert (chat.container_format, chat.streaming_target.endpoint_name, chat.streaming_target.inference_component_name) == (
        "lmi", "ep", "ic",
    )
    assert (settings.upstream_read_timeout_seconds, settings.upstream_max_attempts) == (2.5, 3)


def test_scale_to_zero_settings_are_read_with_the_hold_bounds():
    settings = Settings.from_environ({
        "MODEL_CATALOG": CATALOG, "SCALE_TO_ZERO": "true", "MAX_HOLD_SECONDS": "300", "HOLD_KEEPALIVE_SECONDS": "10", "HOLD_POLL_SECONDS": "0.5",
    })
    assert (settings.scale_to_zero, settings.max_hold_seconds, settings.hold_keepalive_seconds,
            settings.hold_poll_seconds) == (True, 300.0, 10.0, 0.5)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "MODEL_CATALOG"),
        ({"MODEL_CATALOG": "{not json"}, "MODEL_CATALOG"),
        ({"MODEL_CATALOG": CATALOG, "UPSTREAM_READ_TIMEOUT_SECONDS": "0"}, "UPSTREAM_READ_TIMEOUT_SECONDS"),
        ({"MODEL_CATALOG": CATALOG, "UPSTREAM_READ_TIMEOUT_SECONDS": "soon"}, "UPSTREAM_READ_TIMEOUT_SECONDS"),
        ({"MODEL_CATALOG": CATALOG, "UPSTREAM_MAX_ATTEMPTS": "0"}, "UPSTREAM_MAX_ATTEMPTS"),
        ({"MODEL_CATALOG": CATALOG, "SCALE_TO_ZERO": "yes"}, "SCALE_TO_ZERO"),
        ({"MODEL_CATALOG": CATALOG, "MAX_HOLD_SECONDS": "-1"}, "MAX_HOLD_SECONDS"),
        ({"MODEL_CATALOG": CATALOG, "HOLD_KEEPALIVE_SECONDS": "often"}, "HOLD_KEEPALIVE_SECONDS"),
    ],
)
def test_bad_settings_stop_the_start_naming_the_variable(environ, named):
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_environ(environ)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
        (b'{"inputs": "x", "parameters": {"seed": ' + b"1" * 5000 + b"}}", "number_too_large"),
        (b'{"inputs": "x", "parameters": {"temperature": 1e400}}', "number_too_large"),
        (b'{"inputs": "x", "parameters": {"temperature": -Infinity}}', "malformed_json"),
        (rb'{"inputs": "\ud800"}', "unpaired_surrogate"),
    ],
    ids=["deep-nesting", "huge-integer", "number-overflow", "infinity", "lone-surrogate"],
)
def test_bodies_that_are_not_strict_json_are_rejected_with_their_code(raw, code):
    with pytest.raises(InvalidRequest) as raised:
        parse(raw)
    assert raised.value.code == code


REQUEST_CODES = {"malformed_json", "json_too_deep", "number_too_large", "unpaired_surrogate", "invalid_request"}
parameter_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 2**65), st.floats(), st.text(max_size=5), st.lists(st.text(max_size=300), max_size=6)
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "inputs": st.one_of(st.text(max_size=20), parameter_values),
        "parameters": st.one_of(
            st.dictionaries(st.sampled_from(sorted(generation_request.KNOWN_PARAMETERS) + ["details"]), parameter_values),
            parameter_values,
        ),
        "stream": st.booleans(),
    },
)
bodies = st.one_of(
    documents.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=100),
    st.lists(st.sampled_from(['{"inputs": ', '"x"', "NaN", "1e999", '"\\udc00"', "[", "]", "}", ", "]), max_size=20).map(
        lambda pieces: "".join(pieces).encode()
    ),
)


@given(bodies)
def test_any_body_is_a_request_both_containers_accept_as_json_or_a_documented_rejection(raw):
    try:
        request = parse(raw)
    except InvalidRequest as rejected:
        assert rejected.code in REQUEST_CODES
        assert rejected.message
        return
    for container_format in ("tgi", "lmi"):
        body = json.loads(request.container_body(container_format).decode("utf-8"), parse_constant=_not_json)
        assert body["inputs"] == request.inputs and body["stream"] is True


def _not_json(literal: str):
    raise AssertionError(f"{literal} would reach the model")
