"""Relay a model's response stream to the caller as server-sent events.

Wire format, one event per token as soon as it is decoded:

    data: {"token": " the"}

    event: done
    data: {"generated_text": "..."}

    event: error
    data: {"code": "...", "message": "..."}

``done`` or ``error`` is always the last event, then the response ends.

boto3 reads the upstream stream with blocking calls, so each read runs in a worker thread
and the event loop stays free to notice the caller going away; when it does, the upstream
connection is shut down at once (not at the next token, nor at the read timeout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import anyio

from inference_common.strict_json import dumps_utf8
from sagemaker_stream import ModelResponseStream, UpstreamBroken
from token_stream import Done, StreamEvent, StreamFailure, Token, TokenStream

logger = logging.getLogger(__name__)

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # Proxies that buffer responses would hold tokens back.
    (b"x-accel-buffering", b"no"),
]


def format_event(event: StreamEvent) -> bytes:
    # JSON escapes every control character, so a token never breaks an SSE line.
    if isinstance(event, Token):
        return b"data: " + dumps_utf8({"token": event.text}) + b"\n\n"
    if isinstance(event, Done):
        return b"event: done\ndata: " + dumps_utf8({"generated_text": event.generated_text}) + b"\n\n"
    return b"event: error\ndata: " + dumps_utf8({"code": event.code, "message": event.message}) + b"\n\n"


def format_events(events: Iterable[StreamEvent]) -> bytes:
    return b"".join(format_event(event) for event in events)


class TokenEventStreamResponse:
    """An ASGI response that decodes ``upstream`` and sends each event as it arrives.

    ``formatter`` turns each batch of events into the bytes to send: this module's own events by
    default, ``openai_chat.ChatChunks`` for ``/v1/chat/completions``. ``headers_sent`` is True when
    a held response (hold.py) has already started the stream. ``on_first_token`` is called once,
    after the first token has been sent (stream_metrics.py).
    """

    def __init__(
        self,
        upstream: ModelResponseStream,
        formatter: Callable[[Iterable[StreamEvent]], bytes] = format_events,
        *,
        headers_sent: bool = False,
        on_first_token: Callable[[], None] | None = None,
    ) -> None:
        self._upstream = upstream
        self._formatter = formatter
        self._headers_sent = headers_sent
        self._on_first_token = on_first_token
        self._events: Iterator[StreamEvent] = TokenStream().events(upstream.parts())
        self._complete = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(self._abort_on_disconnect, receive, task_group.cancel_scope)
                await self._relay(send)
                task_group.cancel_scope.cancel()
        finally:
            # Every read has returned by now (worker threads are waited for, never abandoned),
            # so closing cannot race a read in progress.
            self._upstream.close()

    async def _relay(self, send: Any) -> None:
        try:
            if not self._headers_sent:
                await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            finished = False
            while not finished:
                events = await anyio.to_thread.run_sync(self._next_events)
                finished = isinstance(events[-1], (Done, StreamFailure))
                if isinstance(events[-1], StreamFailure):
                    logger.warning("stream failed: %s: %s", events[-1].code, events[-1].message)
                await send(
                    {
                        "type": "http.response.body",
                        "body": self._formatter(events),
                        "more_body": True,
                    }
                )
                if self._on_first_token is not None and any(type(event) is Token for event in events):
                    self._on_first_token()
                    self._on_first_token = None
            self._complete = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            # The server raises an OSError subclass when the caller has gone away mid-send.
            logger.info("caller disconnected; closing the model's stream")
            self._upstream.abort()

    def _next_events(self) -> list[StreamEvent]:
        """Read parts until they make the next event (runs in a worker thread)."""
        return next_events(self._events)

    async def _abort_on_disconnect(self, receive: Any, relay_scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if self._complete:
            # The server also reports a disconnect once the response has been sent.
            return
        logger.info("caller disconnected; closing the model's stream")
        self._upstream.abort()
        relay_scope.cancel()


def next_events(events: Iterator[StreamEvent]) -> list[StreamEvent]:
    """The next of the decoder's ``events``, read from the parts that make it, as a batch for a
    formatter; the last batch is a Done or a StreamFailure. Call no more after it."""
    try:
        return [next(events)]
    except UpstreamBroken as error:
        return [StreamFailure(error.code, error.message)]
    except Exception:
        # Headers are sent: the caller can only learn of a failure through an event.
        logger.exception("relaying the model's stream failed")
        return [StreamFailure("internal_error", "the streaming front failed unexpectedly")]
