"""Routes of the async inference API (API Gateway REST proxy integration, IAM auth). Entry point: app.handler."""

from __future__ import annotations

import base64
import re

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.config import Config

from api_errors import ApiError
from inference_api import ApiSettings, AsyncInferenceApi
from inference_common.store import InferenceRequestStore
from inference_common.strict_json import is_json_media_type
from submission import Submission, model_name, parse_submission, require_inference_id

settings = ApiSettings.from_environment()
_retrying = Config(retries={"mode": "standard"})
_dynamodb = boto3.client("dynamodb", config=_retrying)
inference_api = AsyncInferenceApi(
    settings=settings,
    # Presigned URLs for KMS-encrypted objects need SigV4.
    s3_client=boto3.client("s3", config=_retrying.merge(Config(signature_version="s3v4"))),
    sagemaker_runtime_client=boto3.client("sagemaker-runtime", config=_retrying),
    store=InferenceRequestStore(
        table_name=settings.requests_table, dynamodb_client=_dynamodb, record_ttl=settings.request_record_ttl
    ),
)
idempotency_config = IdempotencyConfig(
    event_key_jmespath="[principal, idempotency_key]",
    # The same key with a different body is a client bug: reject it instead of replaying another answer.
    payload_validation_jmespath="body",
    expires_after_seconds=24 * 60 * 60,
)
idempotency_store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=_dynamodb)


@idempotent_function(
    data_keyword_argument="request",
    persistence_store=idempotency_store,
    config=idempotency_config,
    # Stable across module renames: the key must keep matching records written by earlier versions.
    key_prefix="submit-inference",
)
def _submit_once(*, request: dict, principal: str, submission: Submission) -> dict:
    """`request` (principal, Idempotency-Key, body) is only what Powertools hashes and validates."""
    return inference_api.submit(principal=principal, submission=submission)


logger = Logger()
app = APIGatewayRestResolver()

_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@app.post("/v1/inferences")
def submit_inference() -> Response:
    principal = _caller()
    _require_json_media_type()
    submission = parse_submission(
        _raw_body(), input_bucket=settings.input_bucket, max_inline_bytes=settings.max_inline_bytes
    )
    idempotency_key = app.current_event.headers.get("Idempotency-Key")
    if idempotency_key is None:
        answer = inference_api.submit(principal=principal, submission=submission)
    else:
        if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ApiError(400, "InvalidIdempotencyKey", "Idempotency-Key must be 1-255 visible ASCII characters")
        answer = _submit_once(
            request={"principal": principal, "idempotency_key": idempotency_key, "body": submission.body},
            principal=principal,
            submission=submission,
        )
    return _json(202, answer)


@app.post("/v1/uploads")
def create_upload() -> Response:
    _caller()
    return _json(201, inference_api.create_upload())


@app.get("/v1/inferences/<inference_id>")
def get_inference(inference_id: str) -> Response:
    principal = _caller()
    model = model_name(app.current_event.get_query_string_value("model"))
    return _json(
        200,
        inference_api.describe(principal=principal, inference_id=require_inference_id(inference_id), model=model),
    )


@app.get("/v1/models")
def list_models() -> Response:
    _caller()
    return _json(200, inference_api.list_models())


@app.route("/v1/inferences", method=[m for m in _ALL_METHODS if m != "POST"])
def inferences_other_methods() -> Response:
    raise _method_not_allowed("POST")


@app.route("/v1/uploads", method=[m for m in _ALL_METHODS if m != "POST"])
def uploads_other_methods() -> Response:
    raise _method_not_allowed("POST")


@app.route("/v1/inferences/<inference_id>", method=[m for m in _ALL_METHODS if m != "GET"])
def inference_other_methods(inference_id: str) -> Response:
    raise _method_not_allowed("GET")


@app.route("/v1/models", method=[m for m in _ALL_METHODS if m != "GET"])
def models_other_methods() -> Response:
    raise _method_not_allowed("GET")


@app.not_found
def route_not_found(_: NotFoundError) -> Response:
    return _error(ApiError(404, "RouteNotFound", f"no route {app.current_event.path}"))


@app.exception_handler(ApiError)
def api_error(error: ApiError) -> Response:
    return _error(error)


@app.exception_handler(IdempotencyValidationError)
def idempotency_key_reused(_: IdempotencyValidationError) -> Response:
    return _error(
        ApiError(422, "IdempotencyKeyReused", "this Idempotency-Key was already used with a different request body")
    )


@app.exception_handler(IdempotencyAlreadyInProgressError)
def idempotent_request_in_progress(_: IdempotencyAlreadyInProgressError) -> Response:
    return _error(
        ApiError(
            409,
            "RequestInProgress",
            "a request with this Idempotency-Key is still being processed",
            headers={"Retry-After": "1"},
        )
    )


@app.exception_handler(Exception)
def internal_error(error: Exception) -> Response:
    logger.exception("unhandled error")
    return _error(ApiError(500, "InternalError", "internal error; retry later"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict, context) -> dict:
    idempotency_config.register_lambda_context(context)
    return app.resolve(event, context)


def _caller() -> str:
    # Read leniently: an event without requestContext.identity (a direct invoke, a test console
    # event) is a caller without identity, not a KeyError.
    request_context = app.current_event.get("requestContext")
    identity = request_context.get("identity") if isinstance(request_context, dict) else None
    principal = identity.get("userArn") if isinstance(identity, dict) else None
    if not isinstance(principal, str) or not principal:
        raise ApiError(403, "MissingCallerIdentity", "requests must be signed with AWS credentials (SigV4)")
    return principal


def _require_json_media_type() -> None:
    # API Gateway validates the body against the request model only for application/json, so
    # the function is where every other Content-Type is turned away.
    content_type = app.current_event.headers.get("Content-Type")
    if not is_json_media_type(content_type):
        raise ApiError(415, "UnsupportedMediaType", f"send the body as application/json, not {content_type}")


def _raw_body() -> bytes:
    body = app.current_event.body or ""
    if not isinstance(body, str):
        raise ApiError(400, "MalformedBody", "the event's body is not a string")
    if not app.current_event.is_base64_encoded:
        # An event can carry an escaped lone surrogate in its body; kept as bytes, it fails the
        # UTF-8 check with a 400 instead of failing the encode with a 500.
        return body.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise ApiError(400, "MalformedBody", "the body is flagged base64 but is not valid base64") from None


def _method_not_allowed(allowed: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"{app.current_event.http_method} is not allowed here; use {allowed}",
        headers={"Allow": allowed},
    )


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _error(error: ApiError) -> Response:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=error.body(),
        headers=error.headers,
    )
