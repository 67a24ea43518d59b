"""Strict JSON (RFC 8259) request bodies: the one parser and media-type rule every API route uses.

Python's ``json`` module accepts more than JSON, and fails on some JSON in ways a handler does
not expect. Left alone, each becomes a 5xx or forwards something that is not JSON:

* the literals ``NaN``, ``Infinity`` and ``-Infinity`` are accepted, and a number such as
  ``1e400`` becomes ``inf``: re-serialized, both are tokens no other JSON parser reads;
* nesting thousands of levels deep raises ``RecursionError`` (and even a depth the parser
  survives can exhaust the stack when the value is hashed or serialized again);
* an integer of more than 4300 digits raises ``ValueError`` (CPython's int-to-string limit);
* an escaped lone UTF-16 surrogate (``"\\ud800"``) parses into a ``str`` that cannot be
  encoded to UTF-8, so the first write of it to S3, DynamoDB or a model crashes.

``parse_body`` refuses all of them with a ``JsonRejected`` whose ``code`` says which rule the
body broke. These are the codes, the single list that the API documents (docs/api.md uses
the same words in PascalCase, docs/streaming.md as they are):

=====================  =======================================================================
``malformed_json``     empty, not UTF-8, not JSON, or one of the literals NaN/Infinity/-Infinity
``json_too_deep``      arrays and objects nested more than ``MAX_NESTING_DEPTH`` levels
``number_too_large``   an integer of more than ``MAX_INTEGER_DIGITS`` digits, or a number beyond
                       the range of a double
``unpaired_surrogate`` a ``\\uD800``-``\\uDFFF`` escape that is not half of a surrogate pair
=====================  =======================================================================

Duplicate member names are valid JSON (RFC 8259 only says they SHOULD be unique); the last one
wins, and since every route forwards its own re-serialization of the parsed value, a model
sees exactly the value that was validated.

``is_json_media_type`` is the Content-Type rule: ``application/json`` with any parameters,
or no Content-Type at all (API Gateway treats a request without one as ``application/json``).

Pure: no AWS SDK, no I/O.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_NESTING_DEPTH = 64
"""Deeper than any request this API takes, and far from the interpreter's recursion limit, so
the parsed value can be serialized and hashed again without exhausting the stack."""

MAX_INTEGER_DIGITS = 4300
"""CPython's default ``sys.get_int_max_str_digits()``: longer integers cannot be serialized
again. Setting the limit would change it for the whole process, so the parser checks instead."""

MALFORMED_JSON = "malformed_json"
JSON_TOO_DEEP = "json_too_deep"
NUMBER_TOO_LARGE = "number_too_large"
UNPAIRED_SURROGATE = "unpaired_surrogate"
REJECTION_CODES = (MALFORMED_JSON, JSON_TOO_DEEP, NUMBER_TOO_LARGE, UNPAIRED_SURROGATE)

JSON_MEDIA_TYPE = "application/json"

# A JSON string, escapes included; possessive, so an unterminated one costs one linear scan.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JsonRejected(ValueError):
    """The body is not strict JSON; ``code`` is one of ``REJECTION_CODES``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_json_media_type(content_type: str | None) -> bool:
    if content_type is None:
        return True
    return content_type.split(";", 1)[0].strip().lower() == JSON_MEDIA_TYPE


def parse_body(raw: bytes) -> Any:
    """The JSON value of a request body, or ``JsonRejected``."""
    if not raw.strip():
        raise JsonRejected(MALFORMED_JSON, "the body is empty; send a JSON object")
    _check_depth(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonRejected(MALFORMED_JSON, f"the body is not valid UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_integer, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise JsonRejected(
            MALFORMED_JSON, f"the body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if _SURROGATE_ESCAPE.search(raw):
        _check_encodable(value)
    return value


def dumps_utf8(value: Any) -> bytes:
    """``value`` as JSON in UTF-8, for answers that carry a model's text. A model may send a lone
    UTF-16 surrogate (the escape ``\\ud800``), which has no UTF-8 form: such a value is written
    with JSON's own escapes instead, so the caller gets what the model sent and the answer never fails."""
    encoded = _utf8(value)
    return encoded if encoded is not None else json.dumps(value).encode("ascii")


def _utf8(value: Any) -> bytes | None:
    """``value`` as JSON in UTF-8, or None when it holds a lone surrogate, which has no UTF-8 form."""
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None


def _check_depth(raw: bytes) -> None:
    # Counting brackets is C-speed and settles nearly every body; only a body with more
    # brackets than the limit pays for the exact walk, which skips brackets inside strings.
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING_DEPTH:
        return
    brackets = _BRACKETS.findall(_STRING.sub(b'""', raw))
    if max(accumulate(_DEPTH_STEP[b[0]] for b in brackets), default=0) > MAX_NESTING_DEPTH:
        raise JsonRejected(JSON_TOO_DEEP, f"the body nests arrays and objects more than {MAX_NESTING_DEPTH} levels deep")


def _reject_constant(name: str) -> Any:
    raise JsonRejected(MALFORMED_JSON, f"the body is not valid JSON: {name} is not a JSON number")


def _integer(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INTEGER_DIGITS:
        raise JsonRejected(NUMBER_TOO_LARGE, f"the body has an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRejected(NUMBER_TOO_LARGE, f"the body has a number beyond the range of a double: {text[:40]}")
    return value


def _check_encodable(value: Any) -> None:
    if _utf8(value) is None:
        raise JsonRejected(
            UNPAIRED_SURROGATE, "the body has a \\u escape of a lone UTF-16 surrogate, which is no Unicode character"
        )
