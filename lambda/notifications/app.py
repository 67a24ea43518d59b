"""Records SageMaker async inference results (SNS -> SQS) in the requests table. Entry point: app.handler."""

from __future__ import annotations

import os
from datetime import timedelta

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config

from inference_common.store import InferenceRequestStore
from sagemaker_notification import parse_notification

OUTPUT_BUCKET = os.environ["OUTPUT_BUCKET"]
store = InferenceRequestStore(
    table_name=os.environ["REQUESTS_TABLE"],
    dynamodb_client=boto3.client("dynamodb", config=Config(retries={"mode": "standard"})),
    # Only records that no submit ever claims rely on this expiry; the submit sets its own.
    record_ttl=timedelta(days=int(os.environ.get("REQUEST_RECORD_TTL_DAYS", "30"))),
)

logger = Logger()
# Every record that raises (malformed, or DynamoDB failing) is reported alone in batchItemFailures;
# even a batch in which all records fail is answered, not raised, so SQS retries then dead-letters them.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_outcome(record: SQSRecord) -> None:
    outcome = parse_notification(record.body, output_bucket=OUTPUT_BUCKET)
    applied = store.record_outcome(
        inference_id=outcome.inference_id,
        status=outcome.status,
        event_time=outcome.event_time,
        output_location=str(outcome.output_location) if outcome.output_location else None,
        failure_reason=outcome.failure_reason,
    )
    logger.info(
        "notification applied" if applied else "notification ignored: a same-time or newer one was recorded",
        extra={"inference_id": outcome.inference_id, "status": outcome.status},
    )


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    return process_partial_response(event=event, record_handler=record_outcome, processor=processor, context=context)
