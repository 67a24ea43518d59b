"""Properties of the token decoder over generated streams and arbitrary PayloadPart boundaries."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .streaming_modules import token_stream
from .streams import lmi_stream, tgi_stream

Done = token_stream.Done
StreamFailure = token_stream.StreamFailure
Token = token_stream.Token
TokenStream = token_stream.TokenStream

MAX_LINE_BYTES = 512
# Lines the decoder must refuse, each with the failure code it must end the stream with.
VIOLATIONS = {
    "malformed_event": b"<html>502 Bad Gateway</html>\n",
    "invalid_utf8": b'{"token": {"text": "\xc3\x28"}}\n',
    "line_too_long": b'{"token": {"text": "' + b"x" * MAX_LINE_BYTES + b'"}}\n',
}
CONTAINER_STREAMS = {"tgi": tgi_stream, "lmi": lmi_stream}

texts = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def decode(parts: list[bytes]) -> list:
    decoder = TokenStream(max_line_bytes=MAX_LINE_BYTES)
    events = []
    for part in parts:
        events.extend(decoder.feed(part))
    events.extend(decoder.finish())
    return events


def lines_of(body: bytes) -> list[bytes]:
    return [line + b"\n" for line in body.split(b"\n")[:-1]]


@given(container=st.sampled_from(sorted(CONTAINER_STREAMS)), texts=texts, cuts=st.lists(st.integers(0, 10_000)))
def test_any_split_of_a_container_stream_yields_its_tokens_in_order_then_done(container, texts, cuts):
    body = CONTAINER_STREAMS[container](texts)
    assert decode(split(body, cuts)) == [Token(t) for t in texts] + [Done("".join(texts))]


@given(
    texts=texts,
    violation=st.sampled_from(sorted(VIOLATIONS)),
    position=st.integers(0, 100),
    cuts=st.lists(st.integers(0, 10_000)),
)
def test_every_token_before_a_violation_is_delivered_in_order_then_one_failure(texts, violation, position, cuts):
    lines = lines_of(lmi_stream(texts))
    at = position % len(lines)
    body = b"".join(lines[:at]) + VIOLATIONS[violation] + b"".join(lines[at:])
    events = decode(split(body, cuts))
    assert events == [Token(t) for t in texts[:at]] + [events[-1]]
    assert isinstance(events[-1], StreamFailure) and events[-1].code == violation


def read_all(parts: list[bytes]) -> list:
    """As the relay reads: the decoder's ``events``, which end with the stream's last event."""
    decoder = TokenStream(max_line_bytes=MAX_LINE_BYTES)
    events = list(decoder.events(iter(parts)))
    assert decoder.finished and isinstance(events[-1], (Done, StreamFailure))
    assert list(decoder.events(iter(parts))) == [], "a finished decoder answered more events"
    return events


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=2048), cuts=st.lists(st.integers(0, 10_000), max_size=40))
def test_arbitrary_bytes_end_in_exactly_one_final_event_whatever_the_split_and_the_reader(body, cuts):
    whole = decode([body])
    assert decode(split(body, cuts)) == whole
    assert read_all(split(body, cuts)) == whole
    *tokens, last = whole
    assert all(isinstance(event, Token) for event in tokens)
    assert isinstance(last, (Done, StreamFailure))


@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(
                [b'data:{"token": {"text": "a", "special": false}}', b'{"token": {"text": "b"}}',
                 b'{"outputs": ["c"]}', b": keep-alive", b"event: message", b"", b"\r",
                 b'data:{"error": "boom"}', b'{"token": {"text": "d"}, "generated_text": "abcd"}']
            ),
            st.binary(max_size=40),
        ),
        max_size=12,
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=40),
)
def test_mixed_lines_decode_the_same_whatever_the_split(lines, cuts):
    body = b"\n".join(lines)
    assert decode(split(body, cuts)) == decode([body])


@given(
    container=st.sampled_from(sorted(CONTAINER_STREAMS)),
    texts=texts,
    violation=st.sampled_from([None, *sorted(VIOLATIONS)]),
    position=st.integers(0, 100),
    cuts=st.lists(st.integers(0, 10_000), max_size=60),
)
def test_events_yields_what_feed_yields_for_container_streams_with_or_without_a_violation(
    container, texts, violation, position, cuts
):
    lines = lines_of(CONTAINER_STREAMS[container](texts))
    if violation is not None:
        at = position % len(lines)
        lines = lines[:at] + [VIOLATIONS[violation]] + lines[at:]
    parts = split(b"".join(lines), cuts)
    assert read_all(parts) == decode(parts)
