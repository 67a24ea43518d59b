"""Decode the byte stream of a text-generation container into tokens.

SageMaker's ``InvokeEndpointWithResponseStream`` hands the container's response body over
in ``PayloadPart`` chunks whose boundaries are arbitrary: a JSON line, and a multi-byte
UTF-8 character, can be split across parts. ``TokenStream`` reassembles lines from those
parts and turns each line into typed events.

Formats understood (one decoder for both containers; the framing and the shape of each
object identify the format line by line, so an LMI container configured for TGI-compatible
server-sent events works too):

* TGI server-sent events: ``data:{"token": {"text": " the", "special": false, ...},
  "generated_text": null, ...}``; the last event carries ``generated_text``. An error
  during generation arrives as ``data:{"error": "...", "error_type": "..."}``.
* LMI JSON lines: ``{"token": {"text": " the", "log_prob": ...}}``; the last line adds
  ``generated_text``. A failure during generation is an in-band token with ``id: -1`` and
  ``finish_reason: "error"`` (under ``details``), optionally with ``error_msg``.
* Legacy LMI JSON lines: ``{"outputs": [" the"]}``. This format has no final event.
* OpenAI chat completion chunks, the answer of every container to a ``messages`` body
  (docs/container-formats.md): ``{"object": "chat.completion.chunk", "choices": [{"delta":
  {"content": " the"}, "finish_reason": null}], "usage": ...}``, as JSON lines (LMI) or as
  ``data:`` events ending with ``data: [DONE]`` (vLLM, TGI, LMI's SSE formatter). The stream is
  complete at ``[DONE]``, or, for JSON lines, at its end once a chunk has carried a
  ``finish_reason``; ``Done`` then carries that ``finish_reason`` and the container's ``usage``.

Decisions:

* Lines are split on the byte ``\\n`` before any decoding. In UTF-8 the byte 0x0A only ever
  encodes U+000A (every byte of a multi-byte sequence has its high bit set), so a character
  split across parts always ends up whole inside its line; each complete line is then
  decoded strictly, and a line that is not valid UTF-8 is an error. This is what an
  incremental UTF-8 decoder would achieve, without decoding bytes twice.
* Tokens flagged special (TGI ``special``, LMI ``special_token``) and tokens with empty text
  produce no ``Token`` event: they are end-of-sequence or control markers, and TGI leaves
  them out of ``generated_text`` as well.
* ``Done.generated_text`` is the container's own final ``generated_text``, passed through
  verbatim. The decoder never accumulates the generated text, so its memory does not grow
  with the length of the generation. The legacy ``outputs`` format carries no final text:
  its stream ends with ``Done(generated_text=None)``.
* A stream that ends (``finish()``) before a final event, in a format that has one, yields
  ``StreamFailure("incomplete_stream", ...)`` rather than a ``Done`` that would make a
  truncated generation look complete.
* Once a ``Done`` or ``StreamFailure`` has been produced the decoder is finished: later
  bytes are discarded without being buffered.
* Server-sent-event fields other than ``data`` (``event:``, ``id:``, ``retry:``) and comment
  lines are ignored; each ``data`` line carries one whole JSON event (TGI never splits an
  event over several ``data`` lines).

Memory bound: the only buffer is the pending (incomplete) line, capped at
``max_line_bytes`` (default ``MAX_LINE_BYTES`` = 1 MiB); a part that would take a line past the
cap ends the stream with ``LineTooLong`` without being buffered. A part that completes the
pending line is appended to it and its lines are read in place, so for the length of one
``feed`` call the buffer holds at most the cap plus that part.

Errors in the byte stream itself (a line over the cap, invalid UTF-8, malformed JSON, an
object that is no known event) end the stream with a ``StreamFailure`` whose code names the
violation (``line_too_long``, ``invalid_utf8``, ``malformed_event``), after the events of every
line before it, in order: ``feed`` and ``finish`` never raise. Failures the model reports are
``StreamFailure("model_error", ...)``.

Speed: a relay reads ``events`` over its PayloadParts, often much smaller than a line, so a
part without a newline costs one ``in`` (a C memchr) and one append. A plain token line, in
the exact shape TGI or LMI serializes it, is recognized and its text captured by one compiled
pattern, with no JSON parse; any other line takes the full strict parse, with the C JSON scanner
directly (see ``_CANONICAL_TOKEN``). ``make bench`` compares the decoder's throughput with the
reader of AWS's streaming blog post (bench/blog_line_reader.py).
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_LF = 0x0A
_BACKSLASH = 0x5C
# Bytes are searched for these as ints: `0x0A in part` is a memchr, while `b"\n" in part` first
# tries the operand as an int and clears the TypeError, about six times as long in CPython 3.11
# (133 vs 19 ns on a 64-byte part), once per PayloadPart.

MAX_LINE_BYTES = 1024 * 1024
"""Longest line accepted, in bytes. A TGI event with ``details`` for a long generation is
the biggest line a container sends in practice, and stays far below this."""


@dataclass(slots=True)
class Token:
    """A piece of generated text, in generation order. Not frozen: a frozen dataclass costs
    twice as much to create, and the decoder creates one per token."""

    text: str


@dataclass(frozen=True)
class Done:
    """The generation finished. ``generated_text`` is the container's final text, or None
    when the container's format does not send one."""

    generated_text: str | None
    finish_reason: str | None = None
    """Why the container stopped, in its own words (``length``, ``stop``, ``eos_token``...), when it says."""
    usage: dict | None = None
    """The container's token counts (``prompt_tokens``, ``completion_tokens``...), when it sends them."""


@dataclass(frozen=True)
class StreamFailure:
    """The container reported that the generation failed after the stream had begun."""

    code: str
    message: str


StreamEvent = Token | Done | StreamFailure


class TokenStreamError(Exception):
    """The byte stream breaks the container's protocol; ``code`` names how. Raised inside the
    decoder only: ``feed`` turns it into the ``StreamFailure`` that ends the stream."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LineTooLong(TokenStreamError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            "line_too_long",
            f"the model's stream sent a line longer than {limit} bytes",
        )


class TokenStream:
    """Incremental decoder: ``feed`` every part in order, then call ``finish`` once; or read
    ``events`` over all the parts."""

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._max_line_bytes = max_line_bytes
        self._pending = bytearray()
        self._finished = False
        # The legacy ``outputs`` format has no final event, so the end of the stream is its end.
        self._ends_at_eof = False
        # Chat chunks: the last finish_reason and usage seen, reported by the final Done.
        self._chat = False
        self._finish_reason: str | None = None
        self._usage: dict | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes held for a line whose newline has not arrived yet."""
        return len(self._pending)

    @property
    def finished(self) -> bool:
        """True once a ``Done`` or ``StreamFailure`` has been produced."""
        return self._finished

    def feed(self, part: bytes) -> list[StreamEvent]:
        """Take the next part of the stream; return the events its complete lines make, in order."""
        if self._finished:
            return []
        pending = self._pending
        if _LF not in part:
            if len(pending) + len(part) > self._max_line_bytes:
                return self._fail([], LineTooLong(self._max_line_bytes))
            pending += part
            return []
        # Lines are read in place from the one buffer, then the tail moves to its front.
        pending += part
        return self._decode_pending()

    def events(self, parts: Iterable[bytes]) -> Iterator[StreamEvent]:
        """Every event of the stream whose parts ``parts`` yields, each as soon as its line is
        complete, then ``finish``'s when ``parts`` runs out: the last is a ``Done`` or a
        ``StreamFailure``, and nothing is read after it. The same events as ``feed`` for every part
        in turn, then ``finish``.

        What a relay reads from (one ``next`` per event), and the decoder's fast loop: a part that
        completes no line costs one turn of this loop, and one that completes a plain token line
        one ``_plain_token`` match and one ``yield``; neither builds a list. Raises only what
        ``parts`` raises."""
        if self._finished:
            return
        pending = self._pending
        limit = self._max_line_bytes
        for part in parts:
            if _LF not in part:
                if len(pending) + len(part) > limit:
                    yield from self._fail([], LineTooLong(limit))
                    return
                pending += part
                continue
            pending += part
            plain = _plain_token(pending, 0, limit)
            if plain is None:
                yield from self._decode_pending(not_plain_at=0)
            else:
                text, end = plain
                del pending[:end]
                if text:
                    yield Token(text)
                if _LF not in pending and len(pending) <= limit:
                    continue
                yield from self._decode_pending()
            if self._finished:
                return
        yield from self.finish()

    def _decode_pending(self, not_plain_at: int = -1) -> list[StreamEvent]:
        """Decode every complete line of the pending bytes; keep their unterminated tail.
        ``not_plain_at``: where the caller has already found no plain token line."""
        events: list[StreamEvent] = []
        try:
            del self._pending[: self._decode_lines(self._pending, events, not_plain_at)]
        except TokenStreamError as violation:
            self._fail(events, violation)
        return events

    def _decode_lines(self, buffer: bytes | bytearray, events: list[StreamEvent], not_plain_at: int) -> int:
        """Decode every complete line of ``buffer``; return where its unterminated tail starts."""
        limit = self._max_line_bytes
        find = buffer.find
        start = 0
        while True:
            newline = find(b"\n", start)
            if newline < 0:
                if len(buffer) - start > limit:
                    raise LineTooLong(limit)
                return start
            plain = None if start == not_plain_at else _plain_token(buffer, start, limit)
            if plain is not None:
                text, start = plain
                if text:
                    events.append(Token(text))
                continue
            if newline - start > limit:
                raise LineTooLong(limit)
            if newline > start:
                self._decode_line(buffer[start:newline], events)
                if self._finished:
                    return len(buffer)
            start = newline + 1

    def finish(self) -> list[StreamEvent]:
        """The stream ended: decode a last line that had no newline, then close the stream."""
        if self._finished:
            return []
        events: list[StreamEvent] = []
        if self._pending:
            line = bytes(self._pending)
            self._pending.clear()
            try:
                self._decode_line(line, events)
            except TokenStreamError as violation:
                return self._fail(events, violation)
        if not self._finished:
            if self._ends_at_eof or (self._chat and self._finish_reason is not None):
                events.append(Done(None, self._finish_reason, self._usage))
            else:
                events.append(
                    StreamFailure(
                        "incomplete_stream",
                        "the model's stream ended before its final event",
                    )
                )
            self._finish()
        return events

    def _fail(self, events: list[StreamEvent], violation: TokenStreamError) -> list[StreamEvent]:
        events.append(StreamFailure(violation.code, violation.message))
        self._finish()
        return events

    def _finish(self) -> None:
        self._finished = True
        self._pending.clear()

    def _decode_line(self, line: bytes | bytearray, events: list[StreamEvent]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.startswith(b"data:"):
            start = 6 if line.startswith(b" ", 5) else 5
        elif line.startswith(b"{"):
            start = 0
        elif not line or line.startswith((b":", b"event:", b"id:", b"retry:")):
            return
        else:
            raise TokenStreamError(
                "malformed_event",
                f"the model's stream sent a line that is neither JSON nor an event: {_excerpt(line)}",
            )
        # OpenAI-style streams end with "data: [DONE]"; compared in place, without copying the line.
        if len(line) - start == 6 and line.endswith(b"[DONE]"):
            events.append(Done(None, self._finish_reason, self._usage))
            self._finish()
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TokenStreamError(
                "invalid_utf8", f"the model's stream is not valid UTF-8: {error.reason}"
            ) from None
        event = _json_value(text, start)
        if type(event) is dict and "token" in event:
            self._interpret_token(event, events)
        else:
            self._interpret_other(event, events)

    def _interpret_other(self, event: Any, events: list[StreamEvent]) -> None:
        if not isinstance(event, dict):
            raise TokenStreamError(
                "malformed_event", "the model's stream sent JSON that is not an object"
            )
        if "choices" in event:
            self._interpret_chat_chunk(event, events)
        elif "outputs" in event:
            self._interpret_outputs(event["outputs"], events)
        elif "error" in event:
            error = event["error"]
            message = error.get("message") if type(error) is dict else error
            events.append(StreamFailure("model_error", _message(message or error)))
            self._finish()
        else:
            raise TokenStreamError(
                "malformed_event",
                f"the model's stream sent an event with no token: {_excerpt(json.dumps(event).encode())}",
            )

    def _interpret_token(self, event: dict, events: list[StreamEvent]) -> None:
        token = event["token"]
        if not isinstance(token, dict) or not isinstance(token.get("text", ""), str):
            raise TokenStreamError(
                "malformed_event", "the model's stream sent a token without text"
            )
        details = event.get("details")
        finish_reason = (
            (details.get("finish_reason") if type(details) is dict else None)
            or event.get("finish_reason")
            or token.get("finish_reason")
        )
        if finish_reason == "error" or (token.get("id") == -1 and token.get("error_msg")):
            events.append(
                StreamFailure(
                    "model_error",
                    _message(token.get("error_msg") or "the model failed during generation"),
                )
            )
            self._finish()
            return
        text = token.get("text", "")
        if text and not (token.get("special") or token.get("special_token")):
            events.append(Token(text))
        generated_text = event.get("generated_text")
        if generated_text is not None:
            if not isinstance(generated_text, str):
                raise TokenStreamError(
                    "malformed_event", "the model's final event has a non-text generated_text"
                )
            reason = details.get("finish_reason") if type(details) is dict else None
            events.append(Done(generated_text, reason if isinstance(reason, str) else None))
            self._finish()

    def _interpret_chat_chunk(self, event: dict, events: list[StreamEvent]) -> None:
        choices = event["choices"]
        if not isinstance(choices, list) or not all(type(choice) is dict for choice in choices):
            raise TokenStreamError("malformed_event", "the model's stream sent a chunk whose choices are not objects")
        self._chat = True
        usage = event.get("usage")
        if type(usage) is dict:
            self._usage = usage
        # n is always 1 here: only the first choice exists.
        for choice in choices[:1]:
            delta = choice.get("delta") or {}
            content = delta.get("content") if type(delta) is dict else None
            if content is not None and not isinstance(content, str):
                raise TokenStreamError("malformed_event", "the model's stream sent a chunk whose content is not text")
            if choice.get("finish_reason") == "error":
                events.append(StreamFailure("model_error", "the model failed during generation"))
                self._finish()
                return
            if content:
                events.append(Token(content))
            if isinstance(choice.get("finish_reason"), str):
                self._finish_reason = choice["finish_reason"]

    def _interpret_outputs(self, outputs: Any, events: list[StreamEvent]) -> None:
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise TokenStreamError(
                "malformed_event", "the model's stream sent outputs that are not a list of text"
            )
        self._ends_at_eof = True
        events.extend(Token(text) for text in outputs if text)


# The fast path. Almost every line of a generation is a plain token in the shape the container
# serializes it in: TGI's serde_json (compact) and Python's json.dumps (", " and ": ") give the
# key order below. One compiled pattern both recognizes that exact shape and captures the
# token's text, so the line needs no JSON parse and no dict. The pattern accepts only strict
# JSON (RFC 8259 numbers, literals and strings with no raw control character) whose full parse
# would be a token that is neither special, final nor failed; every other line, including any
# near miss, takes the full parse below, so no line is decoded differently
# (tests/streaming/test_token_stream_fast_path.py holds the two paths to the same events).
# At most 19 digits, far below the 4300 past which the full parse refuses an integer.
_INT = rb"-?(?:0|[1-9][0-9]{0,18}+)"
_NUMBER = _INT + rb"(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?"
_TEXT = rb'"([^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+)"'


def _plain_token_shapes(colon: bytes, comma: bytes) -> list[bytes]:
    """TGI's and LMI's plain token line, with one serialization's separators throughout."""
    tgi = (
        rb'data:\{"index"' + colon + _INT + comma + rb'"token"' + colon + rb'\{"id"' + colon + _INT
        + comma + rb'"text"' + colon + _TEXT + comma + rb'"logprob"' + colon + rb"(?:" + _NUMBER + rb"|null)"
        + comma + rb'"special"' + colon + rb"false\}" + comma
        + rb'(?:"top_tokens"' + colon + rb"(?:null|\[\])" + comma + rb")?"
        + rb'"generated_text"' + colon + rb"null" + comma + rb'"details"' + colon + rb"null\}"
    )
    lmi = (
        rb'\{"token"' + colon + rb'\{"id"' + colon + rb"(?:" + _INT + rb"|\[" + _INT + rb"(?:" + comma + _INT
        + rb")*+\])" + comma + rb'"text"' + colon + _TEXT + comma + rb'"log_prob"' + colon
        + rb"(?:" + _NUMBER + rb"|null)\}\}"
    )
    return [tgi, lmi]


# Separators fixed per alternative rather than optional at every one: a third less matching time.
# The match spans the line's newline and any blank lines after it (TGI ends each event with one).
_CANONICAL_TOKEN = re.compile(
    rb"(?:" + rb"|".join(_plain_token_shapes(b": ", b", ") + _plain_token_shapes(b":", b",")) + rb")(?:\r?\n)++"
).match
_scan_string = json.decoder.scanstring


def _escaped_text(raw: bytes) -> str:
    """A captured JSON string body with escapes, decoded by json's own C string scanner."""
    return _scan_string(f'"{raw.decode("utf-8")}"', 1)[0]


def _plain_token(buffer: bytes | bytearray, start: int, limit: int) -> tuple[str, int] | None:
    """The text of the plain token line at ``start`` and where the blank lines after it end; None
    when the line must take the full parse (another shape, invalid UTF-8 or escape, a span over
    ``limit``: the full parse measures and names it)."""
    canonical = _CANONICAL_TOKEN(buffer, start)
    if canonical is None or (end := canonical.end()) - start > limit:
        return None
    raw = canonical[canonical.lastindex]
    try:
        return (raw.decode("utf-8") if _BACKSLASH not in raw else _escaped_text(raw)), end
    except ValueError:
        return None


_scan_json = json.scanner.make_scanner(json.JSONDecoder())
_JSON_WHITESPACE = " \t\r\n"


def _json_value(text: str, start: int) -> Any:
    """The one JSON value that ``text`` holds from ``start``, whitespace around it allowed."""
    try:
        value, end = _scan_json(text, start)
    except StopIteration:
        stripped = text[start:].lstrip(_JSON_WHITESPACE)
        if not stripped or len(stripped) == len(text) - start:
            raise TokenStreamError("malformed_event", "the model's stream sent malformed JSON: no value") from None
        return _json_value(stripped, 0)
    except json.JSONDecodeError as error:
        raise TokenStreamError("malformed_event", f"the model's stream sent malformed JSON: {error.msg}") from None
    except RecursionError:
        raise TokenStreamError("malformed_event", "the model's stream sent JSON nested too deeply") from None
    except ValueError:
        # An integer past Python's limit on digits converted (sys.get_int_max_str_digits, 4300).
        raise TokenStreamError("malformed_event", "the model's stream sent a number with too many digits") from None
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        raise TokenStreamError("malformed_event", "the model's stream sent malformed JSON: extra data after the value")
    return value


def _message(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _excerpt(line: bytes, limit: int = 80) -> str:
    text = line[:limit].decode("utf-8", errors="replace")
    return text + ("..." if len(line) > limit else "")
