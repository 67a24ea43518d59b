"""Streaming front: ``POST /v1/generate/stream`` relays a generation token by token from the
catalog model the request names (the default when it names none).

Runs under uvicorn behind the AWS Lambda Web Adapter in response-stream mode (see
``run.sh``). Errors before the stream begins are JSON ``{"error": {"code", "message"}}``
with a 4xx status for the caller's mistakes and 429/502/503/504 (with ``Retry-After`` when
waiting helps) for the endpoint's state; errors after it has begun are an ``error`` event.
With scale to zero, a request that finds no copy is not refused but held until the woken copy
runs (``hold.py``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from generation_request import MAX_BODY_BYTES, InvalidRequest, parse_generation_request
from hold import NOT_YET, HeldStreamResponse, HoldSettings
from inference_common import strict_json
from inference_common.capacity import ModelCapacity
from inference_common.catalog import ModelCatalog, ModelNotFound
from inference_common.chat_request import ChatError, ChatRequest, parse_chat_request
from inference_common.strict_json import is_json_media_type
from openai_chat import ChatChunks, ChatCompletionBuilder
from sagemaker_stream import (
    ModelResponseStream,
    SageMakerStreamingEndpoint,
    UpstreamRefused,
    create_client,
    create_control_plane_clients,
    create_session,
)
from sse_relay import HEADERS, TokenEventStreamResponse, next_events
from stream_metrics import first_token_reporter
from stream_settings import STREAMABLE_FORMATS, Settings
from token_stream import Done, StreamFailure, TokenStream

logger = logging.getLogger(__name__)
CHAT_ROUTE = "/v1/chat/completions"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_app(settings: Settings | None = None, *, client: Any = None) -> Starlette:
    """Build the app; the SageMaker clients are created here, once per process."""
    settings = settings or Settings.from_environ(os.environ)
    session = create_session()
    endpoint = SageMakerStreamingEndpoint(client or create_client(settings, session), settings)
    # Per inference component name: whether a copy runs, and its wake.
    capacities = _component_capacities(settings.catalog, session) if settings.scale_to_zero else {}

    def first_token(model: str, started: float):
        """Publishes the request's time to first token once it is sent (stream_metrics.py)."""
        return first_token_reporter(settings.metrics_namespace, model, started)

    hold_settings = HoldSettings(
        max_hold_seconds=settings.max_hold_seconds,
        keepalive_seconds=settings.hold_keepalive_seconds,
        poll_seconds=settings.hold_poll_seconds,
    )

    async def generate_stream(request: Request) -> Response:
        started = time.monotonic()
        try:
            generation = parse_generation_request(await _read_json_body(request))
        except InvalidRequest as error:
            return error_response(_status_of(error), error.code, error.message)
        except ClientDisconnect:
            # Gone before its body arrived: nobody reads this answer, and nothing was started.
            return Response(status_code=400)
        try:
            model = settings.catalog.resolve(generation.model)
        except ModelNotFound as missing:
            return error_response(
                404, "ModelNotFound", f"no model {missing.requested!r} here; known models: {', '.join(missing.known)}"
            )
        if model.streaming_target is not None and model.container_format not in STREAMABLE_FORMATS:
            # vLLM streams only OpenAI chunks, for a chat body: there is no token stream for `inputs`.
            return error_response(
                400,
                "ModelNotServedStreaming",
                f"model {model.name!r} ({model.container_format}) streams through POST {CHAT_ROUTE} only",
            )
        if model.streaming_target is None or model.container_format not in STREAMABLE_FORMATS:
            streamed = [
                m.name for m in settings.catalog.models.values()
                if m.streaming_target is not None and m.container_format in STREAMABLE_FORMATS
            ]
            return error_response(
                400,
                "ModelNotServedStreaming",
                f"model {model.name!r} is not served for streaming here; streaming models: "
                + (", ".join(streamed) or "none"),
            )
        try:
            upstream = await anyio.to_thread.run_sync(endpoint.open, generation, model)
        except UpstreamRefused as error:
            capacity = capacities.get(model.streaming_target.inference_component_name)
            if capacity is not None and error.code in NOT_YET:
                return HeldStreamResponse(  # type: ignore[return-value]
                    capacity=capacity,
                    open_stream=lambda: endpoint.open(generation, model),
                    relay=lambda upstream: TokenEventStreamResponse(
                        upstream, headers_sent=True, on_first_token=first_token(model.name, started)
                    ),
                    settings=hold_settings,
                    headers=HEADERS,
                )
            headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
            return error_response(error.status, error.code, error.message, headers)
        return TokenEventStreamResponse(  # type: ignore[return-value]
            upstream, on_first_token=first_token(model.name, started)
        )

    async def chat_completions(request: Request) -> Response:
        """OpenAI Chat Completions; errors in OpenAI's shape (see openai_chat)."""
        started = time.monotonic()
        try:
            chat = parse_chat_request(strict_json.parse_body(await _read_json_body(request)), settings.catalog)
        except strict_json.JsonRejected as error:
            return _chat_error(ChatError(400, error.message, code=error.code))
        except InvalidRequest as error:
            return _chat_error(ChatError(_status_of(error), error.message, code=error.code))
        except ChatError as error:
            return _chat_error(error)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            upstream = await anyio.to_thread.run_sync(endpoint.open_body, chat.container_body(), chat.model)
        except UpstreamRefused as error:
            target = chat.model.streaming_target
            capacity = capacities.get(target.inference_component_name) if target else None
            if capacity is not None and chat.stream and error.code in NOT_YET:
                # OpenAI clients see an ordinary stream that starts later: comments only, then chunks.
                return HeldStreamResponse(  # type: ignore[return-value]
                    capacity=capacity,
                    open_stream=lambda: endpoint.open_body(chat.container_body(), chat.model),
                    relay=lambda upstream: TokenEventStreamResponse(
                        upstream, formatter=ChatChunks(chat), headers_sent=True,
                        on_first_token=first_token(chat.model.name, started),
                    ),
                    settings=replace(hold_settings, status_events=False),
                    headers=HEADERS,
                    error_event=lambda code, message: ChatChunks(chat)([StreamFailure(code, message)]),
                )
            if capacity is not None and error.code in NOT_YET:
                # One chat.completion cannot be held open with keep-alives: start the wake now, so the
                # caller's retry after Retry-After finds the copy starting rather than still at zero.
                await anyio.to_thread.run_sync(capacity.ensure)
            return _chat_error(_chat_refusal(error))
        if chat.stream:
            return TokenEventStreamResponse(  # type: ignore[return-value]
                upstream, formatter=ChatChunks(chat), on_first_token=first_token(chat.model.name, started)
            )
        try:
            return await anyio.to_thread.run_sync(_complete, upstream, chat)
        finally:
            upstream.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/generate/stream", generate_stream, methods=["POST"]),
            Route(CHAT_ROUTE, chat_completions, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )


def _complete(upstream: ModelResponseStream, chat: ChatRequest) -> Response:
    """Read the whole stream (in a worker thread) into one chat.completion."""
    builder = ChatCompletionBuilder(chat)
    events = TokenStream().events(upstream.parts())
    while builder.outcome is None:
        builder.add(next_events(events))
    if not isinstance(builder.outcome, Done):
        failure = builder.outcome
        logger.warning("chat completion failed: %s: %s", failure.code, failure.message)
        return _chat_error(ChatError(502, failure.message, type="server_error", code=failure.code))
    return _ModelTextResponse(builder.completion())


class _ModelTextResponse(JSONResponse):
    """A JSON answer that may carry the model's text (its tokens, or its own error message), which
    may hold a lone surrogate (strict_json.dumps_utf8)."""

    def render(self, content: Any) -> bytes:
        return strict_json.dumps_utf8(content)


def _chat_error(error: ChatError) -> JSONResponse:
    return _ModelTextResponse(error.body(), status_code=error.status, headers=error.headers)


def _chat_refusal(error: UpstreamRefused) -> ChatError:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    kind = "server_error" if error.status >= 500 else "rate_limit_error" if error.status == 429 else "invalid_request_error"
    return ChatError(error.status, error.message, type=kind, code=error.code, headers=headers)


def _component_capacities(catalog: ModelCatalog, session: Any) -> dict[str, ModelCapacity]:
    sagemaker, cloudwatch = create_control_plane_clients(session)
    return {
        model.streaming_target.inference_component_name: ModelCapacity.of_inference_component(
            sagemaker_client=sagemaker,
            cloudwatch_client=cloudwatch,
            inference_component_name=model.streaming_target.inference_component_name,
        )
        for model in catalog.models.values()
        if model.streaming_target is not None and model.streaming_target.inference_component_name
    }


_PAYLOAD_TOO_LARGE = "payload_too_large"
_UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"


def _status_of(error: InvalidRequest) -> int:
    return {_PAYLOAD_TOO_LARGE: 413, _UNSUPPORTED_MEDIA_TYPE: 415}.get(error.code, 400)


async def _read_json_body(request: Request) -> bytes:
    if not is_json_media_type(request.headers.get("content-type")):
        raise InvalidRequest(_UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    too_large = InvalidRequest(_PAYLOAD_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


_HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = _HTTP_ERROR_CODES.get(error.status_code, "http_error")
    message = {
        404: f"no route for {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(error.status_code, str(error.detail))
    if request.url.path == CHAT_ROUTE:
        return _chat_error(ChatError(error.status_code, message, code=code, headers=dict(error.headers or {})))
    return error_response(error.status_code, code, message, dict(error.headers or {}))


async def _internal_error(request: Request, error: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    message = "the streaming front failed unexpectedly"
    if request.url.path == CHAT_ROUTE:
        return _chat_error(ChatError(500, message, type="server_error", code="internal_error"))
    return error_response(500, "internal_error", message)


app = create_app()
