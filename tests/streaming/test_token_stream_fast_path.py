"""The decoder's fast path for plain token lines decodes every line exactly as the full parse does.

The fast path (``_CANONICAL_TOKEN``) recognizes the shape TGI and LMI serialize a plain token in
and skips the JSON parse; any other line takes the full parse. The proof that no line is decoded
differently: for generated lines in and around that shape, and for byte-level near misses of
them, feeding the line through ``feed`` (fast path when it matches) gives the same events as the
full parse of the same line.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from .streaming_modules import token_stream

TokenStream = token_stream.TokenStream

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=6)
)
token_texts = st.one_of(st.text(max_size=12), st.sampled_from(["", " the", '"', "\\", "\n", "\x00", "\ud800", "é"]))


@st.composite
def token_lines(draw) -> bytes:
    """A TGI or LMI token line, half of them a plain token (the fast path's shape), in either
    serialization; the other half varies every field's value."""
    tgi = draw(st.booleans())
    plain = draw(st.booleans())

    def value(plain_values, other_values=json_scalars):
        return draw(plain_values if plain else st.one_of(plain_values, other_values))

    token = {
        "id": value(st.one_of(st.integers(-2, 2**40), st.lists(st.integers(-2, 10), min_size=1, max_size=3))),
        "text": value(token_texts),
        ("logprob" if tgi else "log_prob"): value(
            st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.none()), st.floats()
        ),
    }
    if tgi:
        token["special"] = value(st.just(False))
        event = {"index": value(st.integers(0, 2**40)), "token": token}
        if draw(st.booleans()):
            event["top_tokens"] = value(st.sampled_from([None, []]), st.just([token]))
        event["generated_text"] = value(st.none(), token_texts)
        event["details"] = value(st.none(), st.just({"finish_reason": "error"}))
    else:
        event = {"token": token}
        if not plain and draw(st.booleans()):
            event["generated_text"] = draw(token_texts)
    separators = draw(st.sampled_from([(", ", ": "), (",", ":")]))
    body = json.dumps(event, separators=separators, ensure_ascii=draw(st.booleans()))
    prefix = draw(st.sampled_from([b"data:", b"data: "])) if tgi else b""
    return prefix + body.encode("utf-8", "surrogatepass") + draw(st.sampled_from([b"", b"\r"]))


@st.composite
def near_misses(draw) -> bytes:
    """A generated token line with one byte replaced, inserted or removed."""
    line = bytearray(draw(token_lines()))
    at = draw(st.integers(0, len(line) - 1))
    edit = draw(st.sampled_from(["replace", "insert", "delete"]))
    byte = draw(st.integers(0, 255).filter(lambda b: b != 0x0A))
    if edit == "replace":
        line[at] = byte
    elif edit == "insert":
        line.insert(at, byte)
    else:
        del line[at]
    return bytes(line)


def full_parse(line: bytes) -> list:
    decoder = TokenStream()
    events: list = []
    try:
        decoder._decode_line(line, events)
    except token_stream.TokenStreamError as violation:
        events.append(token_stream.StreamFailure(violation.code, violation.message))
    return events


def fed(line: bytes) -> list:
    return TokenStream().feed(line + b"\n")


@given(line=token_lines())
def test_a_generated_token_line_decodes_as_its_full_parse(line):
    assert fed(line) == full_parse(line)


@given(line=near_misses())
def test_a_near_miss_of_a_token_line_decodes_as_its_full_parse(line):
    assert fed(line) == full_parse(line)


def test_the_fast_path_takes_the_lines_tgi_and_lmi_send_for_a_plain_token():
    lines = [
        b'data:{"index":3,"token":{"id":13,"text":" the","logprob":-0.5,"special":false},'
        b'"generated_text":null,"details":null}',
        b'data:{"index": 3, "token": {"id": 13, "text": " \\u00e9", "logprob": -0.5, "special": false}, '
        b'"top_tokens": null, "generated_text": null, "details": null}',
        b'{"token": {"id": [13], "text": " the", "log_prob": -0.5}}',
    ]
    assert all(token_stream._CANONICAL_TOKEN(line + b"\n", 0) for line in lines)


def test_a_plain_token_line_over_the_limit_ends_the_stream_as_line_too_long():
    line = b'{"token": {"id": 1, "text": "' + b"x" * 64 + b'", "log_prob": -0.5}}\n'
    decoder = TokenStream(max_line_bytes=64)
    assert [event.code for event in decoder.feed(line)] == ["line_too_long"]


def test_a_plain_token_line_with_an_index_past_pythons_digit_limit_is_malformed_on_both_paths():
    line = (b'data:{"index":' + b"1" * 5000 + b',"token":{"id":1,"text":"a","logprob":-0.5,"special":false},'
            b'"generated_text":null,"details":null}')
    assert [event.code for event in fed(line)] == [event.code for event in full_parse(line)] == ["malformed_event"]
