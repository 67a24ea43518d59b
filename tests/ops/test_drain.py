"""`make drain` reads the backlog SageMaker publishes, over CloudWatch's wire protocol (moto)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ops.drain import wait_until_drained
from tests.moto_aws import client

@pytest.fixture
def endpoint(request) -> str:
    """moto keeps metrics per process, across servers: each test watches an endpoint of its own."""
    return f"llm-prod-{request.node.name.replace('_', '-')[:40]}"


@pytest.fixture(scope="module")
def cloudwatch(moto_url):
    return client(moto_url, "cloudwatch")


def publish_backlog(cloudwatch, value: float, endpoint: str, minutes_ago: int = 1) -> None:
    """SageMaker publishes one datapoint per minute, stamped with the minute it covers."""
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "ApproximateBacklogSize",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Timestamp": datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago),
                "Value": value,
            }
        ],
    )


def test_an_empty_backlog_is_drained(cloudwatch, endpoint):
    publish_backlog(cloudwatch, 0, endpoint)
    assert wait_until_drained(cloudwatch, endpoint, timeout_seconds=0, report=lambda _: None)


def test_a_queued_request_keeps_the_endpoint_undrained_until_the_timeout(cloudwatch, endpoint):
    publish_backlog(cloudwatch, 3, endpoint)
    said: list[str] = []
    assert not wait_until_drained(cloudwatch, endpoint, timeout_seconds=0, report=said.append)
    assert said == [f"{endpoint}: still 3 request(s) queued or running; not drained"]


def test_waiting_ends_as_soon_as_the_backlog_reaches_zero(cloudwatch, endpoint):
    publish_backlog(cloudwatch, 2, endpoint, minutes_ago=2)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        publish_backlog(cloudwatch, 0, endpoint)

    assert wait_until_drained(cloudwatch, endpoint, timeout_seconds=600, interval_seconds=30, report=lambda _: None, sleep=sleep)
    assert waits == [30]


def test_another_endpoints_backlog_does_not_count(cloudwatch, endpoint):
    publish_backlog(cloudwatch, 5, "someone-elses-endpoint")
    assert wait_until_drained(cloudwatch, endpoint, timeout_seconds=0, report=lambda _: None)
