"""The server-sent events parser, fed bytes as a network would deliver them."""

from __future__ import annotations

import pytest

from inference_client.sse import EventStreamParser, ServerSentEvent

STREAM = (
    'data: {"token": "Hello"}\n\n'
    'data: {"token": " wörld 😀"}\n\n'
    "event: done\n"
    'data: {"generated_text": "Hello wörld 😀"}\n\n'
).encode()
EVENTS = [
    ServerSentEvent("message", '{"token": "Hello"}'),
    ServerSentEvent("message", '{"token": " wörld 😀"}'),
    ServerSentEvent("done", '{"generated_text": "Hello wörld 😀"}'),
]


def parse(*chunks: bytes) -> list[ServerSentEvent]:
    parser = EventStreamParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.finish()


def test_whole_stream_in_one_chunk():
    assert parse(STREAM) == EVENTS


def test_one_byte_at_a_time_gives_the_same_events_even_inside_utf8_characters():
    assert parse(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == EVENTS


def test_an_event_is_returned_as_soon_as_its_blank_line_arrives():
    parser = EventStreamParser()

    assert parser.feed(b'data: {"token": "Hello"}\n') == []
    assert parser.feed(b"\ndata: partial") == [ServerSentEvent("message", '{"token": "Hello"}')]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_lines_may_end_with_lf_crlf_or_cr(newline):
    stream = STREAM.replace(b"\n", newline)

    assert parse(stream) == EVENTS


def test_a_crlf_split_across_chunks_is_one_line_end():
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent("message", "a\nb")]


def test_data_lines_of_one_event_are_joined_with_newlines():
    assert parse(b"data: first\ndata:second\ndata\n\n") == [ServerSentEvent("message", "first\nsecond\n")]


def test_comments_unknown_fields_and_events_without_data_are_ignored():
    stream = b": keep-alive\n\nid: 7\nretry: 1000\nevent: ping\n\nevent: done\nfoo: bar\ndata: {}\n\n"

    assert parse(stream) == [ServerSentEvent("done", "{}")]


def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped():
    assert parse(b'data: {"token": "a"}\n\nevent: done\ndata: {}\n') == [ServerSentEvent("message", '{"token": "a"}')]


def test_a_leading_byte_order_mark_is_skipped():
    assert parse(b"\xef\xbb\xbf", b"data: x\n\n") == [ServerSentEvent("message", "x")]
