"""Template assertions for scale to zero (docs/scale-to-zero.md): the API's wake permissions, each on
its exact resources, the wake alarms the functions find by name, and the idle tail of every model in
every environment."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from stacks.config import load_all
from tests.stacks.conftest import STAGE_NAMES
from tests.stacks.test_api_stack import function, resources, role_statements

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda" / "shared"))

from inference_common.capacity import wake_alarm_name_for  # noqa: E402

CONFIGS = {c.stage_name: c for c in load_all()}
SCALES_TO_ZERO = [name for name in STAGE_NAMES if CONFIGS[name].streaming_endpoint.scale_to_zero]
ALWAYS_ON = [name for name in STAGE_NAMES if not CONFIGS[name].streaming_endpoint.scale_to_zero]


def arns_for(template: Template, service: str, action: str) -> list:
    """Every resource the function's role may use `action` on (statements may list several)."""
    _, handler = function(template, service)
    found = []
    for statement in role_statements(template, handler):
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        if action in actions:
            resource = statement["Resource"]
            found += resource if isinstance(resource, list) else [resource]
    return found


def named(arn: object, kind: str) -> str | None:
    """The name at the end of one ARN (literal, or Fn::Join for an environment-agnostic stage)."""
    text = json.dumps(arn)
    match = re.search(rf'{re.escape(kind)}([A-Za-z0-9-]+)"(\]\]\}})?$', text)
    return match.group(1) if match and "*" not in text else None


def endpoint_names(synthesized, stage: str) -> set[str]:
    endpoints = resources(synthesized.template(stage), "AWS::SageMaker::Endpoint").values()
    return {e["Properties"]["EndpointName"] for e in endpoints}


def component_names(synthesized, stage: str) -> set[str]:
    components = resources(synthesized.template(stage, "streaming"), "AWS::SageMaker::InferenceComponent").values()
    return {c["Properties"]["InferenceComponentName"] for c in components}


def alarm_named(template: Template, name: str) -> dict:
    (alarm,) = [a for a in resources(template, "AWS::CloudWatch::Alarm").values() if a["Properties"].get("AlarmName") == name]
    return alarm["Properties"]


def test_shipped_configs_cover_both_streaming_modes():
    assert SCALES_TO_ZERO and ALWAYS_ON


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_each_async_wake_alarm_has_the_name_the_api_function_derives(synthesized, stage):
    for endpoint in endpoint_names(synthesized, stage):
        alarm = alarm_named(synthesized.template(stage), wake_alarm_name_for(endpoint))
        assert alarm["MetricName"] == "HasBacklogWithoutCapacity"


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_async_api_may_set_exactly_the_async_wake_alarms(synthesized, stage):
    arns = arns_for(synthesized.template(stage, "api"), "async_api", "cloudwatch:SetAlarmState")
    assert sorted(named(a, ":alarm:") for a in arns) == sorted(
        wake_alarm_name_for(e) for e in endpoint_names(synthesized, stage)
    )


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_async_api_may_describe_exactly_its_endpoints(synthesized, stage):
    arns = arns_for(synthesized.template(stage, "api"), "async_api", "sagemaker:DescribeEndpoint")
    assert sorted(named(a, ":endpoint/") for a in arns) == sorted(endpoint_names(synthesized, stage))


@pytest.mark.parametrize("stage", SCALES_TO_ZERO)
def test_each_streaming_wake_alarm_has_the_name_the_front_derives(synthesized, stage):
    for component in component_names(synthesized, stage):
        alarm = alarm_named(synthesized.template(stage, "streaming"), wake_alarm_name_for(component))
        assert alarm["MetricName"] == "NoCapacityInvocationFailures"


@pytest.mark.parametrize("stage", SCALES_TO_ZERO)
def test_streaming_front_may_set_exactly_the_streaming_wake_alarms(synthesized, stage):
    arns = arns_for(synthesized.template(stage, "api"), "streaming", "cloudwatch:SetAlarmState")
    assert sorted(named(a, ":alarm:") for a in arns) == sorted(
        wake_alarm_name_for(c) for c in component_names(synthesized, stage)
    )


@pytest.mark.parametrize("stage", SCALES_TO_ZERO)
def test_streaming_front_may_describe_exactly_its_inference_components(synthesized, stage):
    arns = arns_for(synthesized.template(stage, "api"), "streaming", "sagemaker:DescribeInferenceComponent")
    assert sorted(named(a, ":inference-component/") for a in arns) == sorted(component_names(synthesized, stage))


@pytest.mark.parametrize("stage", ALWAYS_ON)
def test_always_on_streaming_front_cannot_touch_the_paging_alarms(synthesized, stage):
    api = synthesized.template(stage, "api")
    assert arns_for(api, "streaming", "cloudwatch:SetAlarmState") == []
    assert arns_for(api, "streaming", "sagemaker:DescribeInferenceComponent") == []


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_streaming_front_gets_its_hold_settings_from_config(synthesized, stage):
    settings = CONFIGS[stage].streaming_endpoint
    _, front = function(synthesized.template(stage, "api"), "streaming")
    variables = front["Properties"]["Environment"]["Variables"]
    assert variables["SCALE_TO_ZERO"] == ("true" if settings.scale_to_zero else "false")
    assert variables["MAX_HOLD_SECONDS"] == str(settings.max_hold_seconds)
    assert variables["HOLD_KEEPALIVE_SECONDS"] == str(settings.hold_keepalive_seconds)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_a_held_stream_leaves_its_answer_three_minutes_of_the_function_timeout(synthesized, stage):
    _, front = function(synthesized.template(stage, "api"), "streaming")
    assert CONFIGS[stage].streaming_endpoint.max_hold_seconds + 180 <= front["Properties"]["Timeout"]


# --- The idle tail ---


def idle_alarms(template: Template, activity_metric: str) -> list[dict]:
    """The alarms whose metric math reads `activity_metric` and fire a scale-in to zero."""
    return [
        alarm["Properties"] for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if activity_metric in json.dumps(alarm["Properties"].get("Metrics", []))
    ]


def watched_resource(alarm: dict, dimension: str) -> str:
    (value,) = {
        d["Value"] for m in alarm["Metrics"] if "MetricStat" in m
        for d in m["MetricStat"]["Metric"].get("Dimensions", []) if d["Name"] == dimension
    }
    return value


def metric_stats(alarm: dict) -> dict[str, tuple[str, str]]:
    """metric name -> (namespace, statistic) of every metric the alarm's expression reads."""
    return {
        m["MetricStat"]["Metric"]["MetricName"]: (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Stat"])
        for m in alarm["Metrics"] if "MetricStat" in m
    }


def scale_in_policy(template: Template, alarm: dict) -> dict:
    (action,) = alarm["AlarmActions"]
    return template.to_json()["Resources"][action["Ref"]]["Properties"]


def target_tracking_policies(template: Template) -> list[dict]:
    return [
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for p in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["PolicyType"] == "TargetTrackingScaling"
    ]


def endpoint_idle_minutes(config) -> dict[str, int]:
    """async model -> its configured idle minutes."""
    return {name: model.async_.scaling.idle_minutes for name, model in config.async_models.items()}


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_each_async_endpoint_goes_to_zero_after_its_models_idle_minutes(synthesized, stage):
    template = synthesized.template(stage)
    alarms = idle_alarms(template, "ApproximateBacklogSize")
    configured = endpoint_idle_minutes(CONFIGS[stage])

    assert len(alarms) == len(configured) == len(endpoint_names(synthesized, stage))
    assert sorted(a["EvaluationPeriods"] for a in alarms) == sorted(configured.values())
    for alarm in alarms:
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
        steps = scale_in_policy(template, alarm)["StepScalingPolicyConfiguration"]
        assert steps["AdjustmentType"] == "ExactCapacity"
        assert steps["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 0}]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_an_async_endpoint_is_never_idle_while_a_request_is_queued_or_in_process(synthesized, stage):
    for alarm in idle_alarms(synthesized.template(stage), "ApproximateBacklogSize"):
        stats = metric_stats(alarm)
        # ApproximateBacklogSize counts queued and in-process requests; Maximum sees a single one.
        assert stats["ApproximateBacklogSize"] == ("AWS/SageMaker", "Maximum")
        assert stats["CPUUtilization"] == ("/aws/sagemaker/Endpoints", "SampleCount")
        (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
        assert "> 0 AND" in expression and "== 0" in expression
        assert alarm["TreatMissingData"] == "notBreaching"
        assert watched_resource(alarm, "EndpointName") in endpoint_names(synthesized, stage)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_async_target_tracking_only_scales_out_when_the_idle_policy_scales_in(synthesized, stage):
    assert all(m.async_.scaling.min_capacity == 0 for m in CONFIGS[stage].async_models.values())
    assert {p["DisableScaleIn"] for p in target_tracking_policies(synthesized.template(stage))} == {True}


@pytest.mark.parametrize("stage", SCALES_TO_ZERO)
def test_each_inference_component_goes_to_zero_after_its_models_idle_minutes(synthesized, stage):
    streaming = synthesized.template(stage, "streaming")
    alarms = idle_alarms(streaming, "ConcurrentRequestsPerCopy")
    configured = {name: model.streaming.idle_minutes for name, model in CONFIGS[stage].streaming_models.items()}

    assert len(alarms) == len(configured) == len(component_names(synthesized, stage))
    assert sorted(a["EvaluationPeriods"] for a in alarms) == sorted(configured.values())
    for alarm in alarms:
        steps = scale_in_policy(streaming, alarm)["StepScalingPolicyConfiguration"]
        assert steps["AdjustmentType"] == "ExactCapacity"
        assert steps["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 0}]


@pytest.mark.parametrize("stage", SCALES_TO_ZERO)
def test_an_inference_component_is_never_idle_with_an_invocation_an_open_stream_or_a_refused_request(
    synthesized, stage
):
    streaming = synthesized.template(stage, "streaming")
    for alarm in idle_alarms(streaming, "ConcurrentRequestsPerCopy"):
        assert metric_stats(alarm) == {
            "Invocations": ("AWS/SageMaker", "Sum"),
            "ConcurrentRequestsPerCopy": ("AWS/SageMaker", "Maximum"),
            "NoCapacityInvocationFailures": ("AWS/SageMaker", "Sum"),
            "CPUUtilizationNormalized": ("/aws/sagemaker/InferenceComponents", "SampleCount"),
        }
        assert alarm["TreatMissingData"] == "notBreaching"
        assert watched_resource(alarm, "InferenceComponentName") in component_names(synthesized, stage)
    assert {p.get("DisableScaleIn") for p in target_tracking_policies(streaming)} == {True}


@pytest.mark.parametrize("stage", ALWAYS_ON)
def test_always_on_inference_components_have_no_idle_policy(synthesized, stage):
    streaming = synthesized.template(stage, "streaming")
    assert idle_alarms(streaming, "ConcurrentRequestsPerCopy") == []
    assert {p.get("DisableScaleIn", False) for p in target_tracking_policies(streaming)} == {False}


def wake_cooldowns(template: Template) -> list[int]:
    return sorted(
        policy["Properties"]["StepScalingPolicyConfiguration"]["Cooldown"]
        for policy in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if policy["Properties"]["PolicyName"].endswith("-scale-out-from-zero")
    )


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_a_wake_adds_one_unit_however_long_its_start_keeps_the_wake_alarm_in_alarm(synthesized, stage):
    # A step policy keeps acting while its alarm stays in ALARM, once per cooldown (Application
    # Auto Scaling User Guide, "Step scaling policies"); the wake alarm stays there until the unit
    # runs. Its cooldown covers an instance's launch and the container's startup bound.
    config = CONFIGS[stage]
    starts = {
        "async": [m.container.startup_health_check_timeout_seconds for m in config.async_models.values()],
        "streaming": [m.container.startup_health_check_timeout_seconds for m in config.streaming_models.values()]
        if config.streaming_endpoint.scale_to_zero else [],
    }
    assert wake_cooldowns(synthesized.template(stage)) == sorted(600 + s for s in starts["async"])
    assert wake_cooldowns(synthesized.template(stage, "streaming")) == sorted(600 + s for s in starts["streaming"])
