"""Hold a streaming caller while its model wakes from zero copies, then stream as usual.

Without this, a request that finds no copy gets 503 and every client must retry for the minutes
an instance takes to start. Instead the response starts at once (200, ``text/event-stream``) and
the caller is held:

    : keep-alive                                              every keepalive interval
    event: status                                             (project route only)
    data: {"state": "waking", "elapsed_seconds": 12}

Comment lines keep API Gateway (which drops a stream idle for 5 minutes) and proxies from closing
the connection; SSE clients, the ``openai`` SDK included, ignore them, so an OpenAI stream simply
starts later. Meanwhile the model is woken (``ModelCapacity.ensure``) and the request is tried
every ``poll_seconds``; once a copy takes it, the relay streams tokens into the same response.
The wait ends with an error event (``capacity_timeout``) after ``max_hold_seconds``, never with a
silent close, and at once when the caller disconnects (the wake it caused still completes).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from inference_common.capacity import ModelCapacity
from sagemaker_stream import ModelResponseStream, UpstreamRefused

NOT_YET = frozenset({"no_capacity", "model_not_ready"})
"""Refusals that mean "no copy serves this yet": hold the caller. Routing can lag the copy count."""

logger = logging.getLogger(__name__)

KEEPALIVE = b": keep-alive\n\n"
CAPACITY_TIMEOUT = "capacity_timeout"


class Relay(Protocol):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...


@dataclass(frozen=True)
class HoldSettings:
    max_hold_seconds: float
    keepalive_seconds: float
    poll_seconds: float
    status_events: bool = True
    """``event: status`` lines are the project route's; OpenAI clients get comments only."""


def sse_error_event(code: str, message: str) -> bytes:
    return b"event: error\ndata: " + json.dumps({"code": code, "message": message}).encode() + b"\n\n"


def status_event(elapsed_seconds: float) -> bytes:
    data = {"state": "waking", "elapsed_seconds": int(elapsed_seconds)}
    return b"event: status\ndata: " + json.dumps(data).encode() + b"\n\n"


class HeldStreamResponse:
    """An ASGI response: start the stream now, wait for capacity, then hand over to ``relay``."""

    def __init__(
        self,
        *,
        capacity: ModelCapacity,
        open_stream: Callable[[], ModelResponseStream],
        relay: Callable[[ModelResponseStream], Relay],
        settings: HoldSettings,
        headers: list[tuple[bytes, bytes]],
        error_event: Callable[[str, str], bytes] = sse_error_event,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._open_stream = open_stream
        self._relay = relay
        self._settings = settings
        self._headers = headers
        self._error_event = error_event
        self._monotonic = monotonic
        self._caller_gone = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        upstream: ModelResponseStream | None = None
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        async with anyio.create_task_group() as waiting:
            waiting.start_soon(self._stop_on_disconnect, receive, waiting.cancel_scope)
            try:
                upstream = await self._wait_for_capacity(send)
            except OSError:
                # The server raises an OSError subclass when the caller has gone away mid-send.
                self._caller_gone = True
            waiting.cancel_scope.cancel()
        if self._caller_gone:
            logger.info("caller disconnected while its model was waking")
            if upstream is not None:
                upstream.close()
            return
        if upstream is None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await self._relay(upstream)(scope, receive, send)

    async def _wait_for_capacity(self, send: Any) -> ModelResponseStream | None:
        """The open upstream stream, or None once an error event has been sent."""
        started = self._monotonic()
        last_write = started
        logger.info("no copy of the model runs: holding the caller while it wakes")
        await send(self._body(self._progress(0.0)))
        while True:
            # The wake, and its repetition if it was lost (cached per container: cheap to call often).
            await anyio.to_thread.run_sync(self._capacity.ensure)
            # The endpoint itself is the ground truth: routing to a new copy can lag its copy count,
            # and a refused attempt costs one fast call (and is demand the idle tail sees).
            try:
                # Shielded: a stream opened just as the caller leaves is returned and closed.
                with anyio.CancelScope(shield=True):
                    return await anyio.to_thread.run_sync(self._open_stream)
            except UpstreamRefused as refusal:
                if refusal.code not in NOT_YET:
                    await send(self._body(self._error_event(refusal.code, refusal.message)))
                    return None
            except Exception:
                # Headers are sent: the caller can only learn of a failure through an event.
                logger.exception("opening the model's stream after the wake failed")
                await send(self._body(self._error_event("internal_error", "the streaming front failed unexpectedly")))
                return None
            elapsed = self._monotonic() - started
            if elapsed >= self._settings.max_hold_seconds:
                logger.warning("no capacity after %.0f s; giving up on this request", elapsed)
                message = f"the model did not start within {self._settings.max_hold_seconds:g} seconds; retry later"
                await send(self._body(self._error_event(CAPACITY_TIMEOUT, message)))
                return None
            if self._monotonic() - last_write >= self._settings.keepalive_seconds:
                await send(self._body(self._progress(elapsed)))
                last_write = self._monotonic()
            remaining = self._settings.max_hold_seconds - elapsed
            await anyio.sleep(max(0.0, min(self._settings.poll_seconds, self._settings.keepalive_seconds, remaining)))

    def _progress(self, elapsed: float) -> bytes:
        return KEEPALIVE + (status_event(elapsed) if self._settings.status_events else b"")

    @staticmethod
    def _body(data: bytes) -> dict:
        return {"type": "http.response.body", "body": data, "more_body": True}

    async def _stop_on_disconnect(self, receive: Any, waiting: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._caller_gone = True
        waiting.cancel()
