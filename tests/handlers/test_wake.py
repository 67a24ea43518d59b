"""The wake (inference_common.capacity): async endpoints against moto's SageMaker and CloudWatch,
inference components against the local stand-in that plays SageMaker and the step policy."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from handler_harness import ENDPOINT_NAME, REGION
from inference_common.capacity import READY, UNKNOWN, WAKING, ModelCapacity, wake_alarm_name_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from local.scale_to_zero import WAKE_ALARM_SUFFIX, ScaleToZeroStandIn  # noqa: E402

WAKE_ALARM = wake_alarm_name_for(ENDPOINT_NAME)


@pytest.fixture
def wake_calls(cloudwatch):
    calls: list[dict] = []
    cloudwatch.meta.events.register("before-call.cloudwatch.SetAlarmState", lambda params, **_: calls.append(params))
    return calls


def scale_endpoint_to(aws, instances: int) -> None:
    aws.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT_NAME,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": instances}],
    )


def async_capacity(aws, cloudwatch, **options) -> ModelCapacity:
    return ModelCapacity.of_async_endpoint(
        sagemaker_client=aws.sagemaker, cloudwatch_client=cloudwatch, endpoint_name=ENDPOINT_NAME, **options
    )


def alarm(cloudwatch) -> dict:
    return cloudwatch.describe_alarms(AlarmNames=[WAKE_ALARM])["MetricAlarms"][0]


def test_endpoint_with_an_instance_is_ready_and_not_woken(aws, cloudwatch, wake_calls):
    assert async_capacity(aws, cloudwatch).ensure().state == READY
    assert wake_calls == []


def test_endpoint_at_zero_instances_is_woken_through_its_wake_alarm(aws, cloudwatch):
    scale_endpoint_to(aws, 0)

    state = async_capacity(aws, cloudwatch).ensure()

    assert state.state == WAKING and state.since is not None
    assert alarm(cloudwatch)["StateValue"] == "ALARM"


def test_wake_reason_data_lands_in_the_step_policys_first_step(aws, cloudwatch):
    scale_endpoint_to(aws, 0)
    async_capacity(aws, cloudwatch).ensure()

    woken = alarm(cloudwatch)
    reason = json.loads(woken["StateReasonData"])
    # Step bounds are relative to the threshold; the step out of zero starts at 0.
    assert reason["recentDatapoints"][0] - woken["Threshold"] >= 0
    assert reason["statistic"] == woken["Statistic"] and reason["period"] == woken["Period"]


def test_concurrent_first_requests_in_one_container_wake_once(aws, cloudwatch, wake_calls):
    scale_endpoint_to(aws, 0)
    capacity = async_capacity(aws, cloudwatch)
    states: list = []
    threads = [threading.Thread(target=lambda: states.append(capacity.ensure())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(wake_calls) == 1
    assert {state.state for state in states} == {WAKING}


def test_a_second_look_within_the_cache_does_not_wake_again(aws, cloudwatch, wake_calls):
    scale_endpoint_to(aws, 0)
    capacity = async_capacity(aws, cloudwatch, cache_seconds=60)
    first = capacity.ensure()

    assert capacity.ensure() == first
    assert len(wake_calls) == 1


def test_unreadable_capacity_is_unknown_not_an_error(aws, cloudwatch, wake_calls):
    capacity = ModelCapacity.of_async_endpoint(
        sagemaker_client=aws.sagemaker, cloudwatch_client=cloudwatch, endpoint_name="no-such-endpoint"
    )
    assert capacity.ensure().state == UNKNOWN
    assert wake_calls == []


def test_missing_wake_alarm_is_unknown_not_an_error(aws, cloudwatch):
    scale_endpoint_to(aws, 0)
    cloudwatch.delete_alarms(AlarmNames=[WAKE_ALARM])
    assert async_capacity(aws, cloudwatch).ensure().state == UNKNOWN


@pytest.fixture
def stand_in(aws):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    with ScaleToZeroStandIn(cloudwatch_client=cloudwatch, cold_start_seconds=0.5) as running:
        running.add_inference_component("chat-ic", endpoint_name="streaming")
        yield running


@pytest.fixture
def component_capacity(stand_in):
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=stand_in.url)
    return ModelCapacity.of_inference_component(
        sagemaker_client=sagemaker,
        cloudwatch_client=boto3.client("cloudwatch", region_name=REGION),
        inference_component_name="chat-ic",
        cache_seconds=0,
    )


def test_inference_component_at_zero_copies_is_woken_and_becomes_ready(stand_in, component_capacity):
    assert component_capacity.ensure().state == WAKING
    deadline = time.monotonic() + 10
    while (state := component_capacity.ensure()).state != READY and time.monotonic() < deadline:
        time.sleep(0.05)

    assert state.state == READY
    assert stand_in.wakes("chat-ic") == 1 and stand_in.desired_copies("chat-ic") == 1


def test_waking_component_reports_when_the_wake_began(stand_in, component_capacity):
    first = component_capacity.ensure()
    again = component_capacity.ensure()
    assert again.state == WAKING and again.since == first.since


def test_the_local_stand_in_uses_the_handlers_alarm_names():
    assert wake_alarm_name_for("x") == "x" + WAKE_ALARM_SUFFIX


def test_a_wake_that_never_shows_is_repeated_after_a_minute(aws, cloudwatch, wake_calls):
    scale_endpoint_to(aws, 0)
    clock = [1000.0]
    capacity = async_capacity(aws, cloudwatch, cache_seconds=0, monotonic=lambda: clock[0])
    capacity.ensure()
    clock[0] += 30
    capacity.ensure()
    assert len(wake_calls) == 1

    clock[0] += 31
    capacity.ensure()
    assert len(wake_calls) == 2
