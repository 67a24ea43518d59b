"""OpenAI Chat Completions answers: every container's decoded stream as the same chunks.

No AWS import. ``ChatChunks`` turns the decoded container stream (``token_stream``) into
``chat.completion.chunk`` server-sent events, and ``ChatCompletionBuilder`` into one
``chat.completion``. The request side is ``inference_common.chat_request``. What each container
sends is in docs/container-formats.md.

Decisions:

* LMI's ``finish_reason`` values (``eos_token``, ``stop_sequence``) become OpenAI's ``stop``.
* The first content chunk also names the role (``assistant``), as OpenAI's does: clients that
  build the message from deltas rely on it.
* A failure after the first byte becomes one ``data: {"error": {...}}`` event, then
  ``data: [DONE]``: the ``openai`` SDK raises ``APIError`` for it, so a truncated answer never
  looks complete.
* Without usage from the container, ``usage`` counts the content chunks (one per token for
  these containers), says ``prompt_tokens`` 0, and is marked ``"estimated": true``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from token_stream import Done, StreamEvent, StreamFailure, Token

from inference_common.chat_request import ChatRequest
from inference_common.strict_json import dumps_utf8

_OPENAI_FINISH_REASONS = frozenset({"stop", "length", "content_filter", "tool_calls"})


def finish_reason(container_reason: str | None) -> str:
    """OpenAI's finish_reason for the container's: LMI says ``eos_token`` and ``stop_sequence``."""
    return container_reason if container_reason in _OPENAI_FINISH_REASONS else "stop"


def failure_error(failure: StreamFailure) -> dict:
    return {"error": {"message": failure.message, "type": "server_error", "param": None, "code": failure.code}}


def usage(container_usage: dict | None, completion_chunks: int) -> dict:
    """The container's counts when it sent them; otherwise a count of the content chunks, marked estimated."""
    if container_usage and isinstance(container_usage.get("completion_tokens"), int):
        prompt = container_usage.get("prompt_tokens")
        prompt = prompt if isinstance(prompt, int) else 0
        completion = container_usage["completion_tokens"]
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {
        "prompt_tokens": 0, "completion_tokens": completion_chunks, "total_tokens": completion_chunks, "estimated": True,
    }


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


class ChatChunks:
    """Formats decoded stream events as ``chat.completion.chunk`` server-sent events.

    Call with each batch of events, in order (``sse_relay`` does); the batch holding ``Done`` or
    ``StreamFailure`` also ends the stream with ``data: [DONE]``.
    """

    def __init__(self, request: ChatRequest, *, completion_id: str | None = None, created: int | None = None) -> None:
        self._request = request
        self._id = completion_id or new_completion_id()
        self._created = int(time.time()) if created is None else created
        self._role_sent = False
        self._content_chunks = 0

    def __call__(self, events: Iterable[StreamEvent]) -> bytes:
        return b"".join(self._format(event) for event in events)

    def _format(self, event: StreamEvent) -> bytes:
        if isinstance(event, Token):
            self._content_chunks += 1
            return self._chunk([self._choice({"content": event.text})])
        if isinstance(event, Done):
            out = b""
            if not self._role_sent:
                out += self._chunk([self._choice({"content": ""})])
            out += self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason(event.finish_reason)}])
            if self._request.include_usage:
                out += self._chunk([], usage=usage(event.usage, self._content_chunks))
            return out + b"data: [DONE]\n\n"
        return _sse(failure_error(event)) + b"data: [DONE]\n\n"

    def _choice(self, delta: dict) -> dict:
        if not self._role_sent:
            # OpenAI's first chunk names the role; clients that build the message from deltas rely on it.
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}

    def _chunk(self, choices: list, **extra: Any) -> bytes:
        chunk = {
            "id": self._id, "object": "chat.completion.chunk", "created": self._created,
            "model": self._request.model.name, "choices": choices, **extra,
        }
        return _sse(chunk)


class ChatCompletionBuilder:
    """Collects decoded stream events into one ``chat.completion`` (for ``stream: false``)."""

    def __init__(self, request: ChatRequest) -> None:
        self._request = request
        self._texts: list[str] = []
        self.outcome: Done | StreamFailure | None = None

    def add(self, events: Iterable[StreamEvent]) -> None:
        for event in events:
            if isinstance(event, Token):
                self._texts.append(event.text)
            else:
                self.outcome = event

    def completion(self) -> dict:
        assert isinstance(self.outcome, Done)
        return {
            "id": new_completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._request.model.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(self._texts)},
                    "logprobs": None,
                    "finish_reason": finish_reason(self.outcome.finish_reason),
                }
            ],
            "usage": usage(self.outcome.usage, len(self._texts)),
        }


def _sse(value: dict) -> bytes:
    # json.dumps escapes every control character, so a chunk never breaks an SSE line.
    return b"data: " + dumps_utf8(value) + b"\n\n"
