"""Routes of the async inference API (API Gateway REST proxy integration, IAM auth). Entry point: app.handler.

Cold start is what a caller waits for, so the import does only what most requests need: the
settings, the requests table's client and the routes. The S3 and SageMaker clients are created
by the first request that uses them (a status poll, the most frequent request, uses neither; one
for a request still in progress reads its endpoint's capacity through the SageMaker and
CloudWatch clients, created the same way), and
Powertools idempotency is imported by the first request that sends an Idempotency-Key. Clients
come from botocore, through a session that knows this function's services
(inference_common/aws_clients.py). Logs are the runtime's own JSON lines (the function's log
format is JSON), with `extra` keys for context.
"""

from __future__ import annotations

import base64
import logging
import re
from functools import cache
from typing import Any

from botocore.config import Config

from api_errors import ApiError
from inference_api import ApiSettings, AsyncInferenceApi
from inference_common.aws_clients import ClientOnFirstUse, session_for
from inference_common.capacity import ModelCapacity
from inference_common.store import InferenceRequestStore
from inference_common.strict_json import is_json_media_type
from routing import ApiRequest, ApiResponse, Routes
from submission import Submission, model_name, parse_submission, require_inference_id

logger = logging.getLogger("async_api")

settings = ApiSettings.from_environment()
_retrying = Config(retries={"mode": "standard"})
_session = session_for("dynamodb", "s3", "sagemaker-runtime", "sagemaker", "cloudwatch")
_dynamodb = _session.create_client("dynamodb", config=_retrying)


# The wake (docs/scale-to-zero.md) is best effort on a request that is already queued: short timeouts.
_control_plane = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2})

inference_api = AsyncInferenceApi(
    settings=settings,
    # Presigned URLs for KMS-encrypted objects need SigV4.
    s3_client=ClientOnFirstUse(_session, "s3", _retrying.merge(Config(signature_version="s3v4"))),
    sagemaker_runtime_client=ClientOnFirstUse(_session, "sagemaker-runtime", _retrying),
    store=InferenceRequestStore(
        table_name=settings.requests_table, dynamodb_client=_dynamodb, record_ttl=settings.request_record_ttl
    ),
    # Used by submits and by status checks of requests still in progress, not by the others.
    capacities=ModelCapacity.of_async_endpoints(
        sagemaker_client=ClientOnFirstUse(_session, "sagemaker", _control_plane),
        cloudwatch_client=ClientOnFirstUse(_session, "cloudwatch", _control_plane),
        endpoint_names=[m.async_target.endpoint_name for m in settings.catalog.models.values() if m.async_target],
    ),
)

routes = Routes()
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@routes.post("/v1/inferences")
def submit_inference(request: ApiRequest) -> ApiResponse:
    principal = _caller(request)
    _require_json_media_type(request)
    submission = parse_submission(
        _raw_body(request),
        input_bucket=settings.input_bucket,
        max_inline_bytes=settings.max_inline_bytes,
        catalog=settings.catalog,
    )
    idempotency_key = request.header("Idempotency-Key")
    if idempotency_key is None:
        return ApiResponse(202, inference_api.submit(principal=principal, submission=submission))
    if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ApiError(400, "InvalidIdempotencyKey", "Idempotency-Key must be 1-255 visible ASCII characters")
    return ApiResponse(202, _submit_once(request, principal, idempotency_key, submission))


@routes.post("/v1/uploads")
def create_upload(request: ApiRequest) -> ApiResponse:
    _caller(request)
    return ApiResponse(201, inference_api.create_upload())


@routes.get("/v1/inferences/<inference_id>")
def get_inference(request: ApiRequest, inference_id: str) -> ApiResponse:
    principal = _caller(request)
    model = model_name(request.query("model"))
    return ApiResponse(
        200,
        inference_api.describe(principal=principal, inference_id=require_inference_id(inference_id), model=model),
    )


@routes.get("/v1/models")
def list_models(request: ApiRequest) -> ApiResponse:
    _caller(request)
    return ApiResponse(200, inference_api.list_models())


def handler(event: dict, context: Any) -> dict:
    return routes.resolve(ApiRequest(event if isinstance(event, dict) else {}, context))


def _submit_once(request: ApiRequest, principal: str, idempotency_key: str, submission: Submission) -> dict:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config, submit = _idempotent_submit()
    config.register_lambda_context(request.context)
    try:
        return submit(
            request={"principal": principal, "idempotency_key": idempotency_key, "body": submission.body},
            principal=principal,
            submission=submission,
        )
    except IdempotencyValidationError:
        raise ApiError(
            422, "IdempotencyKeyReused", "this Idempotency-Key was already used with a different request body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise ApiError(
            409,
            "RequestInProgress",
            "a request with this Idempotency-Key is still being processed",
            headers={"Retry-After": "1"},
        ) from None


@cache
def _idempotent_submit():
    """Powertools idempotency on the idempotency table, set up by the first keyed request."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath="[principal, idempotency_key]",
        # The same key with a different body is a client bug: reject it instead of replaying another answer.
        payload_validation_jmespath="body",
        expires_after_seconds=24 * 60 * 60,
    )

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=_dynamodb),
        config=config,
        # Stable across module renames: the key must keep matching records written by earlier versions.
        key_prefix="submit-inference",
    )
    def submit(*, request: dict, principal: str, submission: Submission) -> dict:
        """`request` (principal, Idempotency-Key, body) is only what Powertools hashes and validates."""
        return inference_api.submit(principal=principal, submission=submission)

    return config, submit


def _caller(request: ApiRequest) -> str:
    # Read leniently: an event without requestContext.identity (a direct invoke, a test console
    # event) is a caller without identity, not a KeyError.
    request_context = request.event.get("requestContext")
    identity = request_context.get("identity") if isinstance(request_context, dict) else None
    principal = identity.get("userArn") if isinstance(identity, dict) else None
    if not isinstance(principal, str) or not principal:
        raise ApiError(403, "MissingCallerIdentity", "requests must be signed with AWS credentials (SigV4)")
    return principal


def _require_json_media_type(request: ApiRequest) -> None:
    # API Gateway validates the body against the request model only for application/json, so
    # the function is where every other Content-Type is turned away.
    content_type = request.header("Content-Type")
    if not is_json_media_type(content_type):
        raise ApiError(415, "UnsupportedMediaType", f"send the body as application/json, not {content_type}")


def _raw_body(request: ApiRequest) -> bytes:
    body = request.event.get("body") or ""
    if not isinstance(body, str):
        raise ApiError(400, "MalformedBody", "the event's body is not a string")
    if not request.event.get("isBase64Encoded"):
        # An event can carry an escaped lone surrogate in its body; kept as bytes, it fails the
        # UTF-8 check with a 400 instead of failing the encode with a 500.
        return body.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise ApiError(400, "MalformedBody", "the body is flagged base64 but is not valid base64") from None

