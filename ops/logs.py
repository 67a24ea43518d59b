"""`make logs`: one interleaved view of an environment's log groups, optionally one model's.

The log groups are read from the environment's deployed stacks (CloudFormation's stack
resources), so the list is what is deployed: the endpoints' `/aws/sagemaker/Endpoints/<name>`
groups, the functions' groups and the API's access log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone


def environment_log_groups(cloudformation, stack_names: Iterable[str]) -> list[str]:
    groups = []
    for stack_name in stack_names:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            groups += [
                resource["PhysicalResourceId"]
                for resource in page["StackResourceSummaries"]
                if resource["ResourceType"] == "AWS::Logs::LogGroup" and resource.get("PhysicalResourceId")
            ]
    return sorted(groups)


def _events(logs, group: str, start_ms: int, pattern: str | None) -> list[dict]:
    arguments = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        arguments["filterPattern"] = pattern
    events = []
    for page in logs.get_paginator("filter_log_events").paginate(**arguments):
        events += [{**event, "logGroupName": group} for event in page["events"]]
    return events


def tail(
    logs,
    groups: list[str],
    *,
    since_minutes: float,
    follow: bool = False,
    pattern: str | None = None,
    write: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    polls: int | None = None,
) -> None:
    """Print events of all groups in time order; with `follow`, keep polling every 2 s."""
    start_ms = int((time.time() - since_minutes * 60) * 1000)
    seen: set[str] = set()
    round_ = 0
    while True:
        events = sorted(
            (event for group in groups for event in _events(logs, group, start_ms, pattern)),
            key=lambda event: (event["timestamp"], event["eventId"]),
        )
        for event in events:
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            stamp = datetime.fromtimestamp(event["timestamp"] / 1000, tz=timezone.utc).isoformat(timespec="seconds")
            write(f"{stamp} {event['logGroupName']} {event['message'].rstrip()}")
            start_ms = max(start_ms, event["timestamp"])
        round_ += 1
        if not follow or (polls is not None and round_ >= polls):
            return
        sleep(2)
