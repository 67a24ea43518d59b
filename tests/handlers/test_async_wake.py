"""An async submit to an endpoint at zero instances wakes it at once, and its status says so."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from handler_harness import ENDPOINT_NAME, REGION, REQUESTS_TABLE, SUMMARIZER_ENDPOINT, ApiGateway, load_handler_module
from inference_common.capacity import wake_alarm_name_for

WAKE_ALARM = wake_alarm_name_for(ENDPOINT_NAME)
_copies = itertools.count()


@pytest.fixture
def cold_endpoint(aws):
    aws.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT_NAME,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}],
    )


@pytest.fixture
def api(aws, aws_environment):
    """A fresh function container per test: the wake's cache and memory are per container."""
    return ApiGateway(load_handler_module("async_api", f"async_api_app_wake_{next(_copies)}"))


def wake_alarm_state(cloudwatch) -> str:
    return cloudwatch.describe_alarms(AlarmNames=[WAKE_ALARM])["MetricAlarms"][0]["StateValue"]


def test_submit_to_an_endpoint_at_zero_instances_sets_its_wake_alarm(api, cloudwatch, cold_endpoint):
    answer = api.submit({"inputs": "Hello"})

    assert answer.status == 202
    assert wake_alarm_state(cloudwatch) == "ALARM"


def test_submit_to_an_endpoint_at_zero_instances_says_it_is_waking(api, cloudwatch, cold_endpoint):
    before = datetime.now().astimezone()
    answer = api.submit({"inputs": "Hello"})

    assert answer.body["status"] == "InProgress"
    assert answer.body["capacity"]["state"] == "waking"
    since = datetime.fromisoformat(answer.body["capacity"]["since"])
    assert before - timedelta(seconds=1) <= since <= datetime.now().astimezone()


def test_status_of_a_queued_request_says_since_when_the_endpoint_is_waking(api, cloudwatch, cold_endpoint):
    submitted = api.submit({"inputs": "Hello"}).body

    status = api.request("GET", submitted["status_url"]).body

    assert status["status"] == "InProgress"
    assert status["capacity"] == submitted["capacity"]


def test_submit_to_an_endpoint_with_an_instance_neither_wakes_nor_mentions_capacity(api, cloudwatch):
    answer = api.submit({"inputs": "Hello"})

    assert "capacity" not in answer.body
    assert wake_alarm_state(cloudwatch) != "ALARM"


def test_a_failed_wake_does_not_fail_the_submit(api, cold_endpoint):
    # No wake alarm exists (SetAlarmState answers ResourceNotFound): the request is still queued.
    answer = api.submit({"inputs": "Hello"})

    assert answer.status == 202
    assert "capacity" not in answer.body
    assert api.request("GET", answer.body["status_url"]).body["status"] == "InProgress"


def test_status_of_a_request_older_than_sagemaker_keeps_any_does_not_wake_the_endpoint(api, aws, cloudwatch):
    submitted = api.submit({"inputs": "Hello"}).body
    seven_hours_ago = (datetime.now().astimezone() - timedelta(hours=7, minutes=1)).isoformat()
    aws.dynamodb.update_item(
        TableName=REQUESTS_TABLE,
        Key={"inference_id": {"S": submitted["inference_id"]}},
        UpdateExpression="SET submitted_at = :old",
        ExpressionAttributeValues={":old": {"S": seven_hours_ago}},
    )
    aws.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT_NAME,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}],
    )

    status = api.request("GET", submitted["status_url"]).body

    assert status["status"] == "InProgress" and "capacity" not in status
    assert wake_alarm_state(cloudwatch) != "ALARM"


def test_status_once_an_instance_runs_no_longer_mentions_capacity(aws, cloudwatch, cold_endpoint, aws_environment):
    submitted = ApiGateway(load_handler_module("async_api", f"async_api_app_wake_{next(_copies)}")).submit(
        {"inputs": "Hello"}
    ).body
    aws.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT_NAME,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 1}],
    )
    another_container = ApiGateway(load_handler_module("async_api", f"async_api_app_wake_{next(_copies)}"))

    status = another_container.request("GET", submitted["status_url"]).body

    assert submitted["capacity"]["state"] == "waking"
    assert status["status"] == "InProgress" and "capacity" not in status


def test_a_submit_wakes_the_endpoint_of_the_model_it_names_only(api, aws, cloudwatch):
    summarizer_wake = wake_alarm_name_for(SUMMARIZER_ENDPOINT)
    cloudwatch.put_metric_alarm(
        AlarmName=summarizer_wake,
        Namespace="AWS/SageMaker",
        MetricName="HasBacklogWithoutCapacity",
        Dimensions=[{"Name": "EndpointName", "Value": SUMMARIZER_ENDPOINT}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    for endpoint in (ENDPOINT_NAME, SUMMARIZER_ENDPOINT):
        aws.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}],
        )

    answer = api.submit({"inputs": "Summarise this", "model": "summarizer"})

    assert answer.body["capacity"]["state"] == "waking"
    states = {a["AlarmName"]: a["StateValue"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert states[summarizer_wake] == "ALARM" and states[WAKE_ALARM] != "ALARM"
