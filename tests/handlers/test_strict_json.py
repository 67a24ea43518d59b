"""Strict JSON request bodies (RFC 8259), the rule every API route parses with, without any emulator."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inference_common.strict_json import (
    MAX_INTEGER_DIGITS,
    MAX_NESTING_DEPTH,
    REJECTION_CODES,
    JsonRejected,
    is_json_media_type,
    parse_body,
)


def rejection_code(raw: bytes) -> str:
    with pytest.raises(JsonRejected) as caught:
        parse_body(raw)
    assert caught.value.code in REJECTION_CODES
    assert caught.value.message
    return caught.value.code


# --- What Python's json module gets wrong, each with its code ---


def test_nesting_thousands_of_levels_deep_is_too_deep_not_a_recursion_error():
    assert rejection_code(b"[" * 100_000 + b"]" * 100_000) == "json_too_deep"


def test_nesting_at_the_limit_is_accepted_and_one_more_level_is_too_deep():
    at_limit = "[" * MAX_NESTING_DEPTH + "]" * MAX_NESTING_DEPTH
    assert parse_body(at_limit.encode()) is not None
    assert rejection_code(("{\"a\":" + at_limit + "}").encode()) == "json_too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"inputs": "[{" * 1000 + '\\"[' * 100})
    assert parse_body(text.encode()) == json.loads(text)


def test_an_integer_of_thousands_of_digits_is_too_large_not_a_value_error():
    assert rejection_code(b'{"inputs": ' + b"9" * 5000 + b"}") == "number_too_large"


def test_an_integer_at_the_digit_limit_is_accepted_with_or_without_a_sign():
    digits = "9" * MAX_INTEGER_DIGITS
    assert parse_body(f"[{digits}, -{digits}]".encode()) == [int(digits), -int(digits)]


def test_a_number_beyond_a_doubles_range_is_too_large_not_infinity():
    assert rejection_code(b'{"temperature": 1e400}') == "number_too_large"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(literal):
    with pytest.raises(JsonRejected) as caught:
        parse_body(b'{"temperature": ' + literal + b"}")
    assert caught.value.code == "malformed_json"
    assert literal.decode() in caught.value.message


@pytest.mark.parametrize(
    "escaped", [rb'"\ud800"', rb'"\uDFFF"', rb'"\udc00\ud800"', rb'{"\ud83d": 1}', rb'"a\ud83d b"']
)
def test_escaped_lone_surrogates_are_refused(escaped):
    assert rejection_code(escaped) == "unpaired_surrogate"


def test_an_escaped_surrogate_pair_is_one_character():
    assert parse_body(rb'"\ud83d\ude00"') == "\N{GRINNING FACE}"


def test_an_escaped_backslash_before_u_is_not_a_surrogate_escape():
    assert parse_body(rb'"\\ud800"') == "\\ud800"


@pytest.mark.parametrize("raw", [b"", b" \n", b'{"inputs": "x"', b"\xff\xfe", b'{"a": 1} {}', b"\xef\xbb\xbf{}"])
def test_empty_truncated_non_utf8_trailing_or_bom_bodies_are_malformed(raw):
    assert rejection_code(raw) == "malformed_json"


# --- Media type ---


@pytest.mark.parametrize("content_type", [None, "application/json", "Application/JSON", "application/json; charset=utf-8"])
def test_json_media_types(content_type):
    assert is_json_media_type(content_type)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json-patch+json", ""])
def test_other_media_types(content_type):
    assert not is_json_media_type(content_type)


# --- Properties ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_every_json_value_within_the_limits_parses_to_itself(value):
    assert parse_body(json.dumps(value, ensure_ascii=False).encode()) == value


def strictly_reencodable(value: object) -> bool:
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    return True


json_text_pieces = st.sampled_from(
    ['{"a": ', "[", "]", "}", ", ", "1", "-0.5e3", "NaN", "Infinity", "1e400", "9" * 4400, '"\\ud800"',
     '"\\ud83d\\ude00"', '"x"', "true", "null", ' "k": ', '"\\\\u"', "\\"]
)


@given(st.one_of(st.binary(max_size=200), st.lists(json_text_pieces, max_size=40).map(lambda p: "".join(p).encode())))
def test_any_body_parses_to_strict_json_or_is_rejected_with_a_known_code(raw):
    try:
        value = parse_body(raw)
    except JsonRejected as rejected:
        assert rejected.code in REJECTION_CODES
    else:
        assert strictly_reencodable(value)
        assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(value))


def _leaves(value: object):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value
