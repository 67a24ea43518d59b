"""The token decoder, on its own: formats, arbitrary part boundaries, bounded memory."""

from __future__ import annotations

import json
import random

import pytest

from .streaming_modules import token_stream
from .streams import legacy_lmi_stream, lmi_error_line, lmi_stream, tgi_stream

Done = token_stream.Done
StreamFailure = token_stream.StreamFailure
Token = token_stream.Token
TokenStream = token_stream.TokenStream

TEXTS = ["h", "é", "llo", " ", "😀", " wörld", "\n", ' "quoted"']


def decode(parts: list[bytes], decoder: TokenStream | None = None) -> list:
    decoder = decoder or TokenStream()
    events = []
    for part in parts:
        events.extend(decoder.feed(part))
    events.extend(decoder.finish())
    return events


def expected(texts: list[str]) -> list:
    return [Token(t) for t in texts] + [Done("".join(texts))]


def split_at(data: bytes, cuts: tuple[int, ...]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


# --- Formats ---


def test_tgi_events_become_tokens_then_done_with_the_final_generated_text():
    assert decode([tgi_stream(TEXTS)]) == expected(TEXTS)


def test_tgi_special_token_text_is_not_relayed():
    events = decode([tgi_stream(["a", "b"], final_special=True)])
    assert Token("</s>") not in events
    assert events == expected(["a", "b"])


def test_tgi_final_event_with_an_ordinary_token_relays_that_token():
    assert decode([tgi_stream(["a", "b", "c"], final_special=False)]) == expected(["a", "b", "c"])


def test_tgi_error_event_is_a_stream_failure():
    body = tgi_stream(["a"])[: tgi_stream(["a"]).index(b"\n\n") + 2]
    body += b'data:{"error":"Request failed during generation: CUDA OOM","error_type":"generation"}\n\n'
    assert decode([body]) == [
        Token("a"),
        StreamFailure("model_error", "Request failed during generation: CUDA OOM"),
    ]


def test_sse_comments_and_other_fields_are_ignored_and_data_may_have_a_space():
    body = b': keep-alive\nevent: message\nid: 7\nretry: 10\ndata: {"token": {"text": "x"}, "generated_text": "x"}\n\n'
    assert decode([body]) == [Token("x"), Done("x")]


def test_crlf_line_endings_are_accepted():
    assert decode([tgi_stream(["a", "b"]).replace(b"\n", b"\r\n")]) == expected(["a", "b"])


def test_lmi_json_lines_become_tokens_then_done_with_the_final_generated_text():
    assert decode([lmi_stream(TEXTS)]) == expected(TEXTS)


def test_lmi_special_token_text_is_not_relayed():
    body = (
        b'{"token": {"id": 1, "text": "a"}}\n'
        b'{"token": {"id": 2, "text": "<eos>", "special_token": true}, "generated_text": "a"}\n'
    )
    assert decode([body]) == [Token("a"), Done("a")]


def test_lmi_error_token_is_a_stream_failure_with_the_containers_message():
    body = lmi_stream(["a", "b", "c"]).split(b"\n")
    body = b"\n".join(body[:2]) + b"\n" + lmi_error_line("CUDA error: out of memory")
    assert decode([body]) == [Token("a"), Token("b"), StreamFailure("model_error", "CUDA error: out of memory")]


def test_lmi_error_token_without_a_message_is_still_a_failure():
    body = (
        b'{"token": {"id": -1, "text": "", "log_prob": -1}, '
        b'"generated_text": "", "details": {"finish_reason": "error"}}\n'
    )
    [failure] = decode([body])
    assert isinstance(failure, StreamFailure) and failure.code == "model_error"


def test_legacy_lmi_outputs_end_with_done_without_generated_text():
    assert decode([legacy_lmi_stream(["a", "b"])]) == [Token("a"), Token("b"), Done(None)]


def test_generated_text_comes_from_the_container_not_from_the_tokens():
    body = b'{"token": {"text": "a"}}\n{"token": {"text": "b"}, "generated_text": "PROMPT ab"}\n'
    assert decode([body])[-1] == Done("PROMPT ab")


# --- Ends of streams ---


def test_final_line_without_trailing_newline_is_decoded_by_finish():
    body = lmi_stream(["a", "b"]).rstrip(b"\n")
    decoder = TokenStream()
    assert decoder.feed(body) == [Token("a")]
    assert decoder.finish() == [Token("b"), Done("ab")]


def test_stream_that_ends_before_its_final_event_is_incomplete():
    body = tgi_stream(["a", "b"])
    truncated = body[: body.rindex(b"data:")]
    events = decode([truncated])
    assert events[:2] == [Token("a"), Token("b")]
    assert events[2] == StreamFailure("incomplete_stream", "the model's stream ended before its final event")


def test_empty_stream_is_incomplete():
    [failure] = decode([])
    assert failure.code == "incomplete_stream"


def test_nothing_after_done_is_decoded_or_buffered():
    decoder = TokenStream()
    events = decoder.feed(lmi_stream(["a"]) + b'{"token": {"text": "late"}}\n{"partial')
    assert events == [Token("a"), Done("a")]
    assert decoder.pending_bytes == 0
    assert decoder.feed(b'{"token": {"text": "later"}}\n' + b"x" * 10_000) == []
    assert decoder.pending_bytes == 0
    assert decoder.finish() == []


# --- Any split of the byte stream ---

SPLIT_TEXTS = ["h", "é", "llo", " 😀"]
SPLIT_STREAMS = {
    # Compact events (only the fields the decoder reads) keep the three-part search small.
    "tgi": b"".join(b'data:{"token":{"text":"%s","special":false}}\n\n' % t.encode() for t in SPLIT_TEXTS)
    + 'data:{"token":{"text":"</s>","special":true},"generated_text":"héllo 😀"}\n\n'.encode(),
    "lmi": b"".join(b'{"token":{"text":"%s"}}\n' % t.encode() for t in SPLIT_TEXTS[:-1])
    + '{"token":{"text":" 😀"},"generated_text":"héllo 😀"}\n'.encode(),
}


@pytest.mark.parametrize("name", sorted(SPLIT_STREAMS))
def test_every_split_into_two_parts_yields_the_same_events(name):
    body = SPLIT_STREAMS[name]
    want = decode([body])
    assert want == expected(SPLIT_TEXTS)
    for cut in range(1, len(body)):
        assert decode(split_at(body, (cut,))) == want, f"split at {cut}"


@pytest.mark.parametrize("name", sorted(SPLIT_STREAMS))
def test_every_split_into_three_parts_yields_the_same_events(name):
    body = SPLIT_STREAMS[name]
    want = decode([body])
    for first in range(1, len(body) - 1):
        for second in range(first + 1, len(body)):
            assert decode(split_at(body, (first, second))) == want, f"split at {first}, {second}"


def test_splits_inside_multibyte_characters_are_covered():
    body = SPLIT_STREAMS["lmi"]
    emoji = "😀".encode()
    start = body.index(emoji)
    # Cutting at start+1..start+3 lands inside the 4-byte character: those splits are among
    # the exhaustive ones above; here one is checked with the pieces fed separately.
    parts = split_at(body, (start + 1, start + 2, start + 3))
    assert all(len(p) == 1 for p in parts[1:3])
    assert decode(parts) == expected(SPLIT_TEXTS)


@pytest.mark.parametrize("name", sorted(SPLIT_STREAMS))
def test_random_splits_with_tiny_parts_yield_the_same_events(name):
    body = SPLIT_STREAMS[name]
    want = decode([body])
    rng = random.Random(20260422)
    for _ in range(500):
        cuts = sorted(rng.sample(range(1, len(body)), rng.randint(1, len(body) // 3)))
        assert decode(split_at(body, tuple(cuts))) == want, f"cuts {cuts}"


@pytest.mark.parametrize("name", sorted(SPLIT_STREAMS))
def test_one_byte_parts_yield_the_same_events(name):
    body = SPLIT_STREAMS[name]
    assert decode([body[i : i + 1] for i in range(len(body))]) == decode([body])


# --- Protocol violations end the stream with a failure, after every event before them ---


def failure_of(events: list) -> StreamFailure:
    assert isinstance(events[-1], StreamFailure)
    return events[-1]


def test_a_pending_line_longer_than_the_cap_fails_the_stream():
    decoder = TokenStream(max_line_bytes=1000)
    assert decoder.feed(b'{"token": {"text": "' + b"a" * 900) == []
    failure = failure_of(decoder.feed(b"a" * 200))
    assert failure.code == "line_too_long"
    assert "1000 bytes" in failure.message
    assert decoder.finished and decoder.pending_bytes == 0


def test_a_complete_line_longer_than_the_cap_in_one_part_fails_the_stream():
    line = json.dumps({"token": {"text": "a" * 2000}}).encode() + b"\n"
    assert failure_of(TokenStream(max_line_bytes=1000).feed(line)).code == "line_too_long"


def test_a_line_exactly_at_the_cap_is_accepted():
    text = "a" * (1000 - len(json.dumps({"token": {"text": ""}, "generated_text": "x"})))
    line = json.dumps({"token": {"text": text}, "generated_text": "x"}).encode()
    assert len(line) == 1000
    assert decode([line + b"\n"], TokenStream(max_line_bytes=1000)) == [Token(text), Done("x")]


def test_the_default_cap_is_one_mebibyte():
    assert token_stream.MAX_LINE_BYTES == 1024 * 1024


def test_invalid_utf8_fails_the_stream():
    assert failure_of(decode([b'{"token": {"text": "\xff"}}\n'])).code == "invalid_utf8"


@pytest.mark.parametrize(
    "line",
    [b"data:{not json}", b"<html>502 Bad Gateway</html>", b"[1, 2]", b'{"tokens": []}', b'{"token": "a"}',
     b'{"outputs": "a"}', b'{"token": {"text": "a"}, "generated_text": 3}', b'{"token": {"text": "a"}} {}',
     b"data:", b"data: "],
)
def test_malformed_lines_fail_the_stream(line):
    assert failure_of(decode([line + b"\n"])).code == "malformed_event"


def test_json_with_whitespace_around_it_is_accepted():
    assert decode([b'data:  {"token": {"text": "a"}, "generated_text": "a"} \t\n']) == [Token("a"), Done("a")]


GOOD_LINES = b'{"token": {"text": "a"}}\n{"token": {"text": "b"}}\n'


@pytest.mark.parametrize(
    "bad, code",
    [
        (b"<html>502 Bad Gateway</html>\n", "malformed_event"),
        (b'{"token": {"text": "\xff"}}\n', "invalid_utf8"),
        (b'{"token": {"text": "' + b"x" * 2000 + b'"}}\n', "line_too_long"),
    ],
    ids=["malformed", "invalid-utf8", "too-long"],
)
def test_tokens_before_a_violation_in_the_same_part_are_delivered_before_the_failure(bad, code):
    events = TokenStream(max_line_bytes=1000).feed(GOOD_LINES + bad + b'{"token": {"text": "never"}}\n')
    assert events[:2] == [Token("a"), Token("b")]
    assert failure_of(events).code == code
    assert len(events) == 3


def test_a_violation_in_the_last_line_without_newline_still_delivers_the_tokens_before_it():
    decoder = TokenStream()
    assert decoder.feed(GOOD_LINES + b"garbage") == [Token("a"), Token("b")]
    assert failure_of(decoder.finish()).code == "malformed_event"


def test_nothing_is_decoded_after_a_violation():
    decoder = TokenStream()
    decoder.feed(b"garbage\n")
    assert decoder.finished
    assert decoder.feed(GOOD_LINES) == []
    assert decoder.finish() == []


# --- Bounded memory ---


def test_pending_buffer_stays_bounded_over_50_mb_in_64_byte_parts():
    texts = [f" token{i}-" + "x" * 900 for i in range(8)]
    # Token lines only (the final line would end the stream), repeated to 50 MB.
    block = b"\n".join(lmi_stream(texts).split(b"\n")[:-2]) + b"\n"
    longest_line = max(len(line) for line in block.split(b"\n"))
    repeats = (50 * 1024 * 1024) // len(block) + 1
    decoder = TokenStream()
    tokens = 0
    peak_pending = 0
    carry = b""
    for _ in range(repeats):
        data = carry + block
        usable = len(data) - len(data) % 64
        for offset in range(0, usable, 64):
            tokens += len(decoder.feed(data[offset : offset + 64]))
            peak_pending = max(peak_pending, decoder.pending_bytes)
        carry = data[usable:]
    tokens += len(decoder.feed(carry))
    assert tokens == repeats * (len(texts) - 1)
    assert repeats * len(block) >= 50 * 1024 * 1024
    assert peak_pending <= longest_line


def test_an_integer_with_more_digits_than_python_converts_ends_the_stream_as_malformed_event():
    line = b'{"token": {"id": 1, "text": "a", "log_prob": ' + b"1" * 5000 + b"}}\n"
    events = TokenStream().feed(b'{"token": {"text": "before"}}\n' + line)
    assert events[0] == Token("before")
    assert [event.code for event in events[1:]] == ["malformed_event"]


def test_json_nested_deeper_than_python_parses_ends_the_stream_as_malformed_event():
    line = b'{"token": {"text": "a"}, "x": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}\n"
    events = TokenStream(max_line_bytes=len(line)).feed(b'{"token": {"text": "before"}}\n' + line)
    assert events[0] == Token("before")
    assert [event.code for event in events[1:]] == ["malformed_event"]
