"""Records SageMaker async inference results (SNS -> SQS) in the requests table. Entry point: app.handler.

SQS partial batch response ("Handling errors for an SQS event source in Lambda", the event source
mapping has ReportBatchItemFailures): every record that raises (malformed, or DynamoDB failing)
is reported alone in batchItemFailures, so SQS retries then dead-letters it and the rest of the
batch is deleted. Even a batch in which all records fail is answered, not raised. That contract
is a loop; Powertools' batch utility would add more than half of boto3's import to every cold
start, even from bytecode (about 60 vs 112 ms). Logs are the runtime's own JSON lines (the function's log format is JSON).
The DynamoDB client comes from botocore, through a session that knows this function's one
service (inference_common/aws_clients.py).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from botocore.config import Config

from inference_common.aws_clients import session_for
from inference_common.store import InferenceRequestStore
from sagemaker_notification import parse_notification

logger = logging.getLogger("notifications")

OUTPUT_BUCKET = os.environ["OUTPUT_BUCKET"]
store = InferenceRequestStore(
    table_name=os.environ["REQUESTS_TABLE"],
    dynamodb_client=session_for("dynamodb").create_client(
        "dynamodb", config=Config(retries={"mode": "standard"})
    ),
    # Only records that no submit ever claims rely on this expiry; the submit sets its own.
    record_ttl=timedelta(days=int(os.environ.get("REQUEST_RECORD_TTL_DAYS", "30"))),
)


def record_outcome(sqs_body: str) -> None:
    outcome = parse_notification(sqs_body, output_bucket=OUTPUT_BUCKET)
    applied = store.record_outcome(
        inference_id=outcome.inference_id,
        status=outcome.status,
        event_time=outcome.event_time,
        output_location=str(outcome.output_location) if outcome.output_location else None,
        failure_reason=outcome.failure_reason,
    )
    logger.info(
        "notification applied"
        if applied
        else "notification ignored: a same-time or newer one was recorded, or the record has expired",
        extra={"inference_id": outcome.inference_id, "status": outcome.status},
    )


def handler(event: dict, context) -> dict:
    failures = []
    for record in event.get("Records") or []:
        try:
            record_outcome(record.get("body"))
        except Exception:
            logger.exception("notification not recorded", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record.get("messageId")})
    return {"batchItemFailures": failures}
