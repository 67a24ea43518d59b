"""The requests table: one item per inference, written by two writers that can arrive in any order.

Table schema: partition key `inference_id` (S), no sort key, TTL attribute `expires_at` (N, epoch
seconds). Item attributes:

    status            InProgress | Completed | Failed
    principal         caller's IAM ARN; absent until the submit has been recorded
    input_location    s3:// URI of the request payload
    output_location   s3:// URI of the result (Completed only)
    failure_reason    SageMaker's failure reason (Failed only)
    submitted_at      ISO 8601 UTC, set by the submit
    completed_at      ISO 8601 UTC, the notification's eventTime
    status_event_ms   the notification's eventTime in epoch milliseconds: the ordering attribute
    expires_at        epoch seconds, DynamoDB TTL

The submit (async_api) and the SageMaker notification (notifications) both upsert with UpdateItem,
because SNS/SQS delivery can overtake the submit's own write and repeat itself:

- the submit sets its own attributes and `status` only if no status exists yet, so it never turns a
  terminal status back into InProgress;
- a notification applies only if its eventTime is later than the one already recorded, so a
  duplicate or an older notification is a no-op.

DynamoDB deletes expired items only eventually ("typically within two days", DynamoDB API reference,
UpdateTimeToLive), and until then they "continue to show in read and write operations" ("Working
with expired items and time to live (TTL)", DynamoDB developer guide). So every read compares
`expires_at` with the clock and treats an expired record as absent (TTL's own rule: expired once
`expires_at` <= now), and a notification never updates an expired record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
FAILED = "Failed"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class InferenceRecord:
    inference_id: str
    status: str
    principal: str | None
    input_location: str | None
    output_location: str | None
    failure_reason: str | None
    submitted_at: str | None
    completed_at: str | None
    model: str | None = None


class SubmissionConflict(Exception):
    """The inference id is already recorded for another principal."""


class InferenceRequestStore:
    def __init__(self, *, table_name: str, dynamodb_client: Any, record_ttl: timedelta) -> None:
        self._table = table_name
        self._dynamodb = dynamodb_client
        self._record_ttl = record_ttl

    def record_submission(
        self, *, inference_id: str, principal: str, input_location: str, submitted_at: datetime, model: str
    ) -> None:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"inference_id": {"S": inference_id}},
                UpdateExpression=(
                    "SET principal = :principal, input_location = :input_location, model = :model, "
                    "submitted_at = :submitted_at, expires_at = :expires_at, "
                    "#status = if_not_exists(#status, :in_progress)"
                ),
                ConditionExpression="attribute_not_exists(principal) OR principal = :principal",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":principal": {"S": principal},
                    ":input_location": {"S": input_location},
                    ":model": {"S": model},
                    ":submitted_at": {"S": iso_utc(submitted_at)},
                    ":expires_at": {"N": str(self._expiry(submitted_at))},
                    ":in_progress": {"S": IN_PROGRESS},
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            raise SubmissionConflict(inference_id) from error

    def record_outcome(
        self,
        *,
        inference_id: str,
        status: str,
        event_time: datetime,
        output_location: str | None = None,
        failure_reason: str | None = None,
    ) -> bool:
        """Record a terminal status; False when a same-time or newer notification already did, or
        the record has expired."""
        if status == COMPLETED:
            detail = "output_location = :detail REMOVE failure_reason"
            detail_value = output_location
        elif status == FAILED:
            detail = "failure_reason = :detail REMOVE output_location"
            detail_value = failure_reason
        else:
            raise ValueError(f"not a terminal status: {status!r}")
        event_ms = int(event_time.timestamp() * 1000)
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"inference_id": {"S": inference_id}},
                # A record created here has no principal: GET answers 404 until the submit adds one.
                UpdateExpression=(
                    "SET #status = :status, completed_at = :completed_at, status_event_ms = :event_ms, "
                    f"expires_at = if_not_exists(expires_at, :expires_at), {detail}"
                ),
                ConditionExpression=(
                    "(attribute_not_exists(status_event_ms) OR status_event_ms < :event_ms) "
                    "AND (attribute_not_exists(expires_at) OR expires_at > :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":completed_at": {"S": iso_utc(event_time)},
                    ":event_ms": {"N": str(event_ms)},
                    ":expires_at": {"N": str(self._expiry(event_time))},
                    ":now": {"N": str(int(time.time()))},
                    ":detail": {"S": detail_value or ""},
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, inference_id: str) -> InferenceRecord | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"inference_id": {"S": inference_id}}, ConsistentRead=True
        ).get("Item")
        if item is None or ("expires_at" in item and float(item["expires_at"]["N"]) <= time.time()):
            return None

        def text(name: str) -> str | None:
            value = item.get(name)
            return value["S"] if value else None

        return InferenceRecord(
            inference_id=inference_id,
            status=item["status"]["S"],
            principal=text("principal"),
            input_location=text("input_location"),
            output_location=text("output_location"),
            failure_reason=text("failure_reason"),
            submitted_at=text("submitted_at"),
            completed_at=text("completed_at"),
            model=text("model"),
        )

    def _expiry(self, moment: datetime) -> int:
        return int((moment + self._record_ttl).timestamp())
