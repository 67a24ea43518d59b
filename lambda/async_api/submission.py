"""What a caller may submit to `POST /v1/inferences`, and the ids this API issues.

Pure: no AWS SDK. Every rejection is an ApiError naming the offending field.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from api_errors import ApiError
from inference_common import strict_json
from inference_common.catalog import ModelCatalog
from inference_common.chat_request import ChatError, parse_chat_request
from inference_common.s3_location import S3Location

UPLOADS_PREFIX = "uploads/"

# SageMaker's bounds for InvokeEndpointAsync (botocore sagemaker-runtime model).
REQUEST_TTL_SECONDS = (60, 21600)
INVOCATION_TIMEOUT_SECONDS = (1, 3600)
_MAX_INPUT_LOCATION_CHARS = 1024

# The API issues lowercase canonical UUID4s; anything else on GET is a caller error, not a lookup.
_INFERENCE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

# "model" names a model of the environment's catalog; the catalog's default when absent.
_OPTION_FIELDS = {"model", "request_ttl_seconds", "invocation_timeout_seconds"}
_INLINE_FIELDS = {"inputs", "parameters"} | _OPTION_FIELDS
_UPLOADED_FIELDS = {"input_location"} | _OPTION_FIELDS


def new_inference_id() -> str:
    return str(uuid.uuid4())


def require_inference_id(value: str) -> str:
    if not _INFERENCE_ID.fullmatch(value):
        raise ApiError(400, "InvalidInferenceId", "inference_id must be an id issued by POST /v1/inferences")
    return value


@dataclass(frozen=True)
class InvocationOptions:
    request_ttl_seconds: int | None = None
    invocation_timeout_seconds: int | None = None
    model: str | None = None


@dataclass(frozen=True)
class Submission:
    """Either an inline payload (written to S3 by the API) or the location of an uploaded one."""

    body: dict
    options: InvocationOptions
    inline_payload: bytes | None = None
    input_location: S3Location | None = None


def parse_submission(
    raw_body: bytes, *, input_bucket: str, max_inline_bytes: int, catalog: ModelCatalog | None = None
) -> Submission:
    """``catalog`` resolves the model of a chat body; the project's own bodies leave that to the submit."""
    if len(raw_body) > max_inline_bytes:
        raise ApiError(
            413,
            "PayloadTooLarge",
            f"request body is {len(raw_body)} bytes, the inline limit is {max_inline_bytes}: "
            "upload the payload with POST /v1/uploads and submit its input_location instead",
        )
    body = _json_object(raw_body)
    options = _options(body)
    if "messages" in body:
        return _chat_submission(body, options, catalog)
    if "input_location" in body:
        _reject_unknown_fields(body, _UPLOADED_FIELDS, "with input_location")
        return Submission(body=body, options=options, input_location=_uploaded_location(body, input_bucket))
    _reject_unknown_fields(body, _INLINE_FIELDS, "in an inline request")
    if body.get("inputs") is None:
        raise ApiError(400, "InvalidRequest", "'inputs' is required (or 'input_location' for an uploaded payload)")
    payload = {"inputs": body["inputs"]}
    if "parameters" in body:
        if not isinstance(body["parameters"], dict):
            raise ApiError(400, "InvalidRequest", "'parameters' must be a JSON object")
        payload["parameters"] = body["parameters"]
    return Submission(
        body=body,
        options=options,
        inline_payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(),
    )


def _chat_submission(body: dict, options: InvocationOptions, catalog: ModelCatalog | None) -> Submission:
    """An OpenAI chat body: the container answers it with one chat.completion, the job's result.
    ``model`` may be left out here, as on the project's own body: the catalog's default serves it."""
    chat_body = {name: value for name, value in body.items() if name not in _OPTION_FIELDS}
    if chat_body.get("stream"):
        raise ApiError(400, "InvalidRequest", "'stream' is not available on the async path; use POST /v1/chat/completions")
    chat_body["model"] = options.model or (catalog.default if catalog else None)
    try:
        chat = parse_chat_request(chat_body, catalog, mode="async")
    except ChatError as error:
        raise ApiError(error.status, _CHAT_ERROR_CODES.get(error.code, "InvalidRequest"), error.message) from None
    return Submission(body=body, options=options, inline_payload=chat.container_body(stream=False))


# The async API's own codes for what the chat validation refuses about the model.
_CHAT_ERROR_CODES = {"model_not_found": "ModelNotFound", "model_not_async": "ModelNotServedAsync"}


def _json_object(raw_body: bytes) -> dict:
    try:
        body = strict_json.parse_body(raw_body)
    except strict_json.JsonRejected as error:
        raise ApiError.rejected_json(error) from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequest", "request body must be a JSON object")
    return body


def _reject_unknown_fields(body: dict, allowed: set[str], context: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "InvalidRequest", f"unexpected field(s) {unknown} {context}; allowed: {sorted(allowed)}")


def _options(body: dict) -> InvocationOptions:
    return InvocationOptions(
        request_ttl_seconds=_bounded_int(body, "request_ttl_seconds", REQUEST_TTL_SECONDS),
        invocation_timeout_seconds=_bounded_int(body, "invocation_timeout_seconds", INVOCATION_TIMEOUT_SECONDS),
        model=model_name(body.get("model")),
    )


def model_name(value: object) -> str | None:
    """The model a request names (None: the catalog's default); whether it exists is the catalog's call."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, "InvalidRequest", "'model' must be the name of a model, as GET /v1/models lists them")
    return value


def _bounded_int(body: dict, field: str, bounds: tuple[int, int]) -> int | None:
    if field not in body:
        return None
    value = body[field]
    low, high = bounds
    # bool is an int in Python but `true` is not a number of seconds.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, "InvalidRequest", f"'{field}' must be an integer from {low} to {high}")
    return value


def _uploaded_location(body: dict, input_bucket: str) -> S3Location:
    value = body["input_location"]
    expected = f"s3://{input_bucket}/{UPLOADS_PREFIX}<key>"
    if not isinstance(value, str) or len(value) > _MAX_INPUT_LOCATION_CHARS:
        raise ApiError(400, "InvalidInputLocation", f"'input_location' must be a string of the form {expected}")
    try:
        location = S3Location.parse(value)
    except ValueError as error:
        raise ApiError(400, "InvalidInputLocation", f"'input_location' must be of the form {expected}") from error
    if not location.is_under(input_bucket, UPLOADS_PREFIX):
        raise ApiError(
            400,
            "InvalidInputLocation",
            f"'input_location' must be under {expected} (the place POST /v1/uploads gives you)",
        )
    return location
