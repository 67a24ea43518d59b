"""`make drain`: wait until an async endpoint has no queued or running request.

Replacing an async endpoint (an instance-type change gives it a new name) deletes the old one with
whatever its internal queue still holds. `ApproximateBacklogSize` counts the requests queued and
being processed (SageMaker developer guide, "Monitor asynchronous endpoints"), published per
minute with the `EndpointName` dimension only; the endpoint is drained when the latest minute
reads 0 and no new submissions arrive (docs/operations.md says how to stop them first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone


def backlog(cloudwatch, endpoint_name: str, *, now: datetime) -> float | None:
    """The latest minute's largest backlog, or None when the endpoint published nothing lately."""
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ApproximateBacklogSize",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint_name}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    points = sorted(answer["Datapoints"], key=lambda point: point["Timestamp"])
    return points[-1]["Maximum"] if points else None


def wait_until_drained(
    cloudwatch,
    endpoint_name: str,
    *,
    timeout_seconds: float,
    interval_seconds: float = 30,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    deadline = clock() + timeout_seconds
    while True:
        queued = backlog(cloudwatch, endpoint_name, now=datetime.now(timezone.utc))
        if not queued:
            report(f"{endpoint_name}: drained (backlog {'not published' if queued is None else 0})")
            return True
        if clock() >= deadline:
            report(f"{endpoint_name}: still {queued:g} request(s) queued or running; not drained")
            return False
        report(f"{endpoint_name}: {queued:g} request(s) queued or running; checking again in {interval_seconds:g} s")
        sleep(interval_seconds)
