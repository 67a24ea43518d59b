"""Incremental parser for server-sent events (text/event-stream), fed bytes as they arrive.

Follows the WHATWG event-stream rules the client needs: lines end with CRLF, LF or CR (a CRLF
may be split across two chunks); ``:`` starts a comment; ``data`` lines of one event are joined
with newlines; a blank line dispatches the event; an event not ended by a blank line when the
stream ends is dropped. Chunks may split UTF-8 characters.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str


class EventStreamParser:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._at_start = True
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk``."""
        self._pending += self._decoder.decode(chunk)
        if self._at_start and self._pending:
            self._pending = self._pending.removeprefix("\ufeff")
            self._at_start = False
        return self._complete_lines(final=False)

    def finish(self) -> list[ServerSentEvent]:
        """Call at the end of the stream: the events its last bytes completed."""
        self._pending += self._decoder.decode(b"", final=True)
        return self._complete_lines(final=True)

    def _complete_lines(self, *, final: bool) -> list[ServerSentEvent]:
        events = []
        position = 0
        for line_end in _LINE_END.finditer(self._pending):
            if line_end.group() == "\r" and line_end.end() == len(self._pending) and not final:
                break  # maybe the first half of a CRLF
            event = self._line(self._pending[position : line_end.start()])
            if event is not None:
                events.append(event)
            position = line_end.end()
        self._pending = self._pending[position:]
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event = ServerSentEvent(self._event or "message", "\n".join(self._data)) if self._data else None
        self._event, self._data = "", []
        return event
