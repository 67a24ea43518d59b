"""The SQS event source mapping of the notifications function, for the local mode.

Lambda polls the queue, hands each batch to the function as an SQS event, deletes what succeeded
and leaves each record named in ``batchItemFailures`` to reappear after the visibility timeout; a
function that raises fails the whole batch ("Handling errors for an SQS event source in Lambda",
"Implementing partial batch responses", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
"""

from __future__ import annotations

import logging
import threading
from types import ModuleType
from typing import Any

from local.lambda_events import LambdaContext

logger = logging.getLogger(__name__)


class NotificationIntake:
    def __init__(self, *, sqs: Any, queue_url: str, queue_arn: str, region: str, handler_module: ModuleType) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._module = handler_module
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="notification-intake", daemon=True)

    def __enter__(self) -> NotificationIntake:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                self._deliver_one_batch()
            except Exception:
                logger.exception("polling the notification queue failed")
                self._stopping.wait(1)

    def _deliver_one_batch(self) -> None:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return
        answer = self._module.handler({"Records": [self._record(m) for m in messages]}, LambdaContext())
        failed = {failure["itemIdentifier"] for failure in (answer or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )

    def _record(self, message: dict) -> dict:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
