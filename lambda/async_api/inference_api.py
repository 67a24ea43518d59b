"""What the routes do: submit to the async endpoint, hand out upload slots, report status.

Submit order: write the inline payload to S3, call InvokeEndpointAsync, and only then record the
request in DynamoDB. If the invoke fails, the caller gets an error and no record exists, so nothing
claims InProgress forever (an orphaned `requests/` object expires with the input bucket's
lifecycle rule). A SageMaker notification may still overtake the record write; the store's upserts
make that harmless.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore import exceptions as botocore_errors

from api_errors import ApiError
from inference_common.capacity import ModelCapacity
from inference_common.catalog import CatalogModel, ModelCatalog, ModelNotFound
from inference_common.s3_location import OUTPUTS_PREFIX, S3Location
from inference_common.store import COMPLETED, FAILED, IN_PROGRESS, InferenceRequestStore
from submission import UPLOADS_PREFIX, Submission, new_inference_id

REQUESTS_PREFIX = "requests/"
# SageMaker async inference accepts payloads up to 1 GB.
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
_RETRY_LATER = {"Retry-After": "5"}

_THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
# InvokeEndpointAsync: RequestTTLSeconds at most 21600, InvocationTimeoutSeconds at most 3600. A
# request older than both has been served or dropped by SageMaker, whatever its record says; a
# status check for it must not start a GPU.
_LONGEST_ASYNC_LIFETIME = timedelta(seconds=21600 + 3600)


@dataclass(frozen=True)
class ApiSettings:
    catalog: ModelCatalog
    input_bucket: str
    output_bucket: str
    requests_table: str
    idempotency_table: str
    max_inline_bytes: int
    presign_expiry_seconds: int
    request_record_ttl: timedelta

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ApiSettings:
        return cls(
            catalog=ModelCatalog.from_environ(environ),
            input_bucket=environ["INPUT_BUCKET"],
            output_bucket=environ["OUTPUT_BUCKET"],
            requests_table=environ["REQUESTS_TABLE"],
            idempotency_table=environ["IDEMPOTENCY_TABLE"],
            max_inline_bytes=int(environ.get("MAX_INLINE_BYTES", "262144")),
            presign_expiry_seconds=int(environ.get("PRESIGN_EXPIRY_SECONDS", "900")),
            request_record_ttl=timedelta(days=int(environ.get("REQUEST_RECORD_TTL_DAYS", "30"))),
        )


class AsyncInferenceApi:
    def __init__(
        self,
        *,
        settings: ApiSettings,
        s3_client: Any,
        sagemaker_runtime_client: Any,
        store: InferenceRequestStore,
        capacities: Mapping[str, ModelCapacity] | None = None,
    ) -> None:
        self._settings = settings
        # OpenAI's model object has a `created` time, which strictly typed clients require. No
        # date of the model itself is known here; like vLLM's server, this answers when it started.
        self._started = int(datetime.now(UTC).timestamp())
        self._s3 = s3_client
        self._runtime = sagemaker_runtime_client
        self._store = store
        # Per async endpoint name: whether it has an instance, and its wake.
        self._capacities = capacities or {}

    def submit(self, *, principal: str, submission: Submission) -> dict:
        model = self.async_model(submission.options.model)
        inference_id = new_inference_id()
        input_location = submission.input_location
        if submission.inline_payload is not None:
            input_location = S3Location(self._settings.input_bucket, f"{REQUESTS_PREFIX}{inference_id}.json")
            self._s3.put_object(
                Bucket=input_location.bucket,
                Key=input_location.key,
                Body=submission.inline_payload,
                ContentType="application/json",
            )
        self._invoke(model.async_target.endpoint_name, inference_id, input_location, submission)
        self._store.record_submission(
            inference_id=inference_id,
            principal=principal,
            input_location=str(input_location),
            submitted_at=datetime.now(UTC),
            model=model.name,
        )
        # Relative to the API's base URL, which differs between the execute-api URL and custom domains.
        answer = {
            "inference_id": inference_id,
            "model": model.name,
            "status": IN_PROGRESS,
            "status_url": f"/v1/inferences/{inference_id}",
        }
        return {**answer, **self._capacity_while_waking(model.async_target.endpoint_name)}

    def async_model(self, requested: str | None) -> CatalogModel:
        """The catalog model a request names (the default when none), if it is served asynchronously."""
        catalog = self._settings.catalog
        model = resolve(catalog, requested)
        if model.async_target is None:
            served = [m.name for m in catalog.models.values() if m.async_target is not None]
            raise ApiError(
                400,
                "ModelNotServedAsync",
                f"model {model.name!r} is served for streaming only; models served here asynchronously: "
                + (", ".join(served) or "none"),
            )
        return model

    def list_models(self) -> dict:
        """OpenAI's list shape, with each model's serving modes."""
        catalog = self._settings.catalog
        return {
            "object": "list",
            "data": [
                {"id": model.name, "object": "model", "created": self._started, "owned_by": "llm-hosting",
                 "modes": list(model.modes), "default": model.name == catalog.default}
                for model in catalog.models.values()
            ],
        }

    def create_upload(self) -> dict:
        location = S3Location(self._settings.input_bucket, f"{UPLOADS_PREFIX}{new_inference_id()}")
        upload = self._s3.generate_presigned_post(
            Bucket=location.bucket,
            Key=location.key,
            Conditions=[["content-length-range", 1, MAX_UPLOAD_BYTES]],
            ExpiresIn=self._settings.presign_expiry_seconds,
        )
        return {
            "upload": {"url": upload["url"], "fields": upload["fields"]},
            "input_location": str(location),
            "expires_in": self._settings.presign_expiry_seconds,
        }

    def describe(self, *, principal: str, inference_id: str, model: str | None = None) -> dict:
        if model is not None:
            resolve(self._settings.catalog, model)
        record = self._store.get(inference_id)
        # Someone else's request, or one known only from a notification so far, is indistinguishable
        # from an unknown id: existence itself is not disclosed. So is one sent to another model.
        if record is None or record.principal != principal or (model is not None and record.model != model):
            raise ApiError(404, "InferenceNotFound", f"no inference {inference_id} submitted by you")
        answer = {
            "inference_id": inference_id,
            "model": record.model,
            "status": record.status,
            "submitted_at": record.submitted_at,
            "completed_at": record.completed_at,
        }
        if record.status == COMPLETED and record.output_location:
            output = S3Location.parse(record.output_location)
            # The notifications function only records outputs here; this role may read nothing else.
            if output.is_under(self._settings.output_bucket, OUTPUTS_PREFIX):
                answer["output_url"] = self._presigned_get(output)
        if record.status == FAILED:
            answer["failure_reason"] = record.failure_reason
        served_by = self._settings.catalog.models.get(record.model or self._settings.catalog.default)
        if (
            record.status == IN_PROGRESS
            and served_by is not None
            and served_by.async_target is not None
            and _may_still_be_queued(record.submitted_at)
        ):
            # Looking also repeats a wake that was lost or undone (capacity.WAKE_RETRY_SECONDS).
            answer.update(self._capacity_while_waking(served_by.async_target.endpoint_name))
        return answer

    def _capacity_while_waking(self, endpoint_name: str) -> dict:
        """``{"capacity": {"state": "waking", "since": ...}}`` while the endpoint starts from zero, else nothing.

        The request is already queued: the endpoint serves it once an instance runs. Waking here
        starts that instance now instead of after the wake alarm's two one-minute datapoints.
        """
        capacity = self._capacities.get(endpoint_name)
        if capacity is None:
            return {}
        state = capacity.ensure()
        return {"capacity": state.as_json()} if state.waking else {}

    def _invoke(self, endpoint_name: str, inference_id: str, input_location: S3Location, submission: Submission) -> None:
        options = submission.options
        optional = {
            name: value
            for name, value in (
                ("RequestTTLSeconds", options.request_ttl_seconds),
                ("InvocationTimeoutSeconds", options.invocation_timeout_seconds),
            )
            if value is not None
        }
        try:
            self._runtime.invoke_endpoint_async(
                EndpointName=endpoint_name,
                InferenceId=inference_id,
                InputLocation=str(input_location),
                ContentType="application/json",
                **optional,
            )
        except botocore_errors.ClientError as error:
            raise _endpoint_error(error) from error
        except (botocore_errors.ConnectionError, botocore_errors.HTTPClientError) as error:
            raise ApiError(
                503,
                "EndpointUnavailable",
                "the inference endpoint could not be reached; retry later",
                headers=_RETRY_LATER,
            ) from error

    def _presigned_get(self, location: S3Location) -> str:
        return self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": location.bucket, "Key": location.key},
            ExpiresIn=self._settings.presign_expiry_seconds,
        )


def _may_still_be_queued(submitted_at: str | None) -> bool:
    if submitted_at is None:
        return False
    try:
        submitted = datetime.fromisoformat(submitted_at)
    except ValueError:
        return False
    return datetime.now(UTC) - submitted < _LONGEST_ASYNC_LIFETIME


def resolve(catalog: ModelCatalog, requested: str | None) -> CatalogModel:
    try:
        return catalog.resolve(requested)
    except ModelNotFound as missing:
        raise ApiError(
            404, "ModelNotFound", f"no model {missing.requested!r} here; known models: {', '.join(missing.known)}"
        ) from None


def _endpoint_error(error: botocore_errors.ClientError) -> ApiError:
    """Map what is left after botocore's own (standard mode) retries."""
    code = error.response.get("Error", {}).get("Code", "")
    http_status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _THROTTLING_CODES or http_status == 429:
        return ApiError(
            429,
            "Throttled",
            "the inference endpoint is throttling requests; retry later",
            headers=_RETRY_LATER,
        )
    if code == "ServiceUnavailable" or http_status >= 500:
        return ApiError(
            503,
            "EndpointUnavailable",
            "the inference endpoint is unavailable; retry later",
            headers=_RETRY_LATER,
        )
    # A 4xx from SageMaker for a request this API validated means the deployment is wrong
    # (endpoint missing or misconfigured), not the caller's input.
    return ApiError(502, "EndpointRejectedRequest", f"the inference endpoint rejected the request: {code}")
