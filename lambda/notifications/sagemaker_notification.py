"""SageMaker async inference notifications, as they arrive from SQS inside the SNS envelope.

Pure: no AWS SDK. Anything that is not a well-formed notification for this deployment raises
MalformedNotification, so the record is reported as a batch item failure and ends in the DLQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from inference_common import strict_json
from inference_common.s3_location import OUTPUTS_PREFIX, S3Location
from inference_common.store import COMPLETED, FAILED


class MalformedNotification(ValueError):
    pass


@dataclass(frozen=True)
class InferenceOutcome:
    inference_id: str
    status: str
    event_time: datetime
    output_location: S3Location | None = None
    failure_reason: str | None = None


def parse_notification(sqs_body: str, *, output_bucket: str) -> InferenceOutcome:
    envelope = _json_object(sqs_body, "SQS body (SNS envelope)")
    message = envelope.get("Message")
    if envelope.get("Type") != "Notification" or not isinstance(message, str):
        raise MalformedNotification("not an SNS Notification envelope with a string Message (is raw delivery on?)")
    notification = _json_object(message, "SNS Message")

    inference_id = notification.get("inferenceId")
    if not isinstance(inference_id, str) or not inference_id:
        raise MalformedNotification("inferenceId missing")
    event_time = _event_time(notification.get("eventTime"))
    status = notification.get("invocationStatus")

    if status == COMPLETED:
        return InferenceOutcome(
            inference_id=inference_id,
            status=COMPLETED,
            event_time=event_time,
            output_location=_output_location(notification, output_bucket),
        )
    if status == FAILED:
        reason = notification.get("failureReason")
        return InferenceOutcome(
            inference_id=inference_id,
            status=FAILED,
            event_time=event_time,
            failure_reason=reason if isinstance(reason, str) and reason else "no failure reason given",
        )
    raise MalformedNotification(f"invocationStatus {status!r} is neither {COMPLETED} nor {FAILED}")


def _json_object(text: str, what: str) -> dict:
    # Strict, like the API: a message nested past the recursion limit, or holding a lone
    # surrogate, is malformed here rather than an error at the DynamoDB write.
    if not isinstance(text, str):
        raise MalformedNotification(f"{what} is not text")
    try:
        value = strict_json.parse_body(text.encode("utf-8", errors="surrogatepass"))
    except strict_json.JsonRejected as error:
        raise MalformedNotification(f"{what} is not strict JSON: {error.message}") from None
    if not isinstance(value, dict):
        raise MalformedNotification(f"{what} is not a JSON object")
    return value


def _event_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise MalformedNotification("eventTime missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise MalformedNotification(f"eventTime {value!r} is not ISO 8601") from error
    if moment.tzinfo is None:
        raise MalformedNotification(f"eventTime {value!r} has no time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise MalformedNotification(f"eventTime {value!r} is out of range") from None


def _output_location(notification: dict, output_bucket: str) -> S3Location:
    parameters = notification.get("responseParameters")
    uri = parameters.get("outputLocation") if isinstance(parameters, dict) else None
    try:
        location = S3Location.parse(uri if isinstance(uri, str) else "")
    except ValueError as error:
        raise MalformedNotification("a Completed notification needs responseParameters.outputLocation") from error
    # The API presigns this location for the caller, and may read only the output bucket's outputs/.
    if not location.is_under(output_bucket, OUTPUTS_PREFIX):
        raise MalformedNotification(f"outputLocation {uri} is not under s3://{output_bucket}/{OUTPUTS_PREFIX}")
    return location
