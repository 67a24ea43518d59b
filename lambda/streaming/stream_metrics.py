"""The streaming front's own metric, time to first token, as CloudWatch embedded metric format (EMF).

SageMaker publishes no time-to-first-token metric for streamed invocations; the front sees both the
request arrive and its first token leave, so it measures the wait a caller has (a held wake from
zero included). Lambda sends what a function writes to standard output to its log group, and
CloudWatch Logs extracts metrics from log events in EMF: no CloudWatch API call on the request's
path and no permission beyond the logs the function already writes ("Using the embedded metric
format with Lambda", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html;
"Specification: Embedded metric format",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
The line is printed, not logged: a print reaches the log as it is, while the function's JSON log
format would wrap a `logging` record in an object of its own.

No AWS import.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

TIME_TO_FIRST_TOKEN = "TimeToFirstToken"
MODEL_DIMENSION = "Model"


def time_to_first_token_record(namespace: str, model: str, seconds: float, *, timestamp_ms: int) -> str:
    """One EMF log event: the model's time to first token, in milliseconds."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [[MODEL_DIMENSION]],
                        "Metrics": [{"Name": TIME_TO_FIRST_TOKEN, "Unit": "Milliseconds"}],
                    }
                ],
            },
            MODEL_DIMENSION: model,
            TIME_TO_FIRST_TOKEN: round(seconds * 1000, 1),
        },
        separators=(",", ":"),
    )


def first_token_reporter(namespace: str | None, model: str, started: float) -> Callable[[], None] | None:
    """What the relay calls when a request's first token leaves: prints its EMF line (none without a namespace)."""
    if not namespace:
        return None

    def report() -> None:
        record = time_to_first_token_record(
            namespace, model, time.monotonic() - started, timestamp_ms=int(time.time() * 1000)
        )
        sys.stdout.write(record + "\n")
        sys.stdout.flush()

    return report
