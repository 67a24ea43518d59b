"""`make logs` finds the environment's log groups in its stacks and interleaves their events."""

from __future__ import annotations

import json
import time

import pytest

from ops.logs import environment_log_groups, tail
from tests.moto_aws import client


@pytest.fixture(scope="module")
def aws(moto_url):
    return client(moto_url, "cloudformation"), client(moto_url, "logs")


def test_log_groups_come_from_the_environments_stacks_only(aws):
    cloudformation, _ = aws
    for stack, group in (("llm-dev-api", "/aws/lambda/llm-dev-api-fn"), ("other-api", "/aws/lambda/other")):
        template = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": group}}}}
        cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    assert environment_log_groups(cloudformation, ["llm-dev-api"]) == ["/aws/lambda/llm-dev-api-fn"]


def test_events_of_several_groups_print_in_time_order_once_each(aws):
    _, logs = aws
    now = int(time.time() * 1000)
    for group, offsets in (("/aws/sagemaker/Endpoints/a", (1, 3)), ("/aws/sagemaker/Endpoints/b", (2,))):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": now - 60_000 + offset, "message": f"{group[-1]}{offset}"} for offset in offsets],
        )
    lines: list[str] = []
    tail(
        logs,
        ["/aws/sagemaker/Endpoints/a", "/aws/sagemaker/Endpoints/b"],
        since_minutes=5,
        follow=True,
        polls=2,
        write=lines.append,
        sleep=lambda _: None,
    )
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["a1", "b2", "a3"]
