"""Streaming front: ``POST /v1/generate/stream`` relays a generation token by token from the
catalog model the request names (the default when it names none).

Runs under uvicorn behind the AWS Lambda Web Adapter in response-stream mode (see
``run.sh``). Errors before the stream begins are JSON ``{"error": {"code", "message"}}``
with a 4xx status for the caller's mistakes and 429/502/503/504 (with ``Retry-After`` when
waiting helps) for the endpoint's state; errors after it has begun are an ``error`` event.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from generation_request import MAX_BODY_BYTES, InvalidRequest, parse_generation_request
from inference_common.strict_json import is_json_media_type
from sagemaker_stream import SageMakerStreamingEndpoint, UpstreamRefused, create_client
from sse_relay import TokenEventStreamResponse
from inference_common.catalog import ModelNotFound
from stream_settings import STREAMABLE_FORMATS, Settings

logger = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_app(settings: Settings | None = None, *, client: Any = None) -> Starlette:
    """Build the app; the SageMaker client is created here, once per process."""
    settings = settings or Settings.from_environ(os.environ)
    endpoint = SageMakerStreamingEndpoint(client or create_client(settings), settings)

    async def generate_stream(request: Request) -> Response:
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
            headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
            return error_response(error.status, error.code, error.message, headers)
        return TokenEventStreamResponse(upstream)  # type: ignore[return-value]

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/generate/stream", generate_stream, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )


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
    return error_response(error.status_code, code, message, dict(error.headers or {}))


async def _internal_error(request: Request, error: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the streaming front failed unexpectedly")


app = create_app()
