"""The streaming endpoint: inference component, copy scaling to and from zero, alarms, the route."""

from __future__ import annotations

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.api_stack import ApiStack
from stacks.async_inference_stack import AsyncInferenceStack
from stacks.config import load_all
from stacks.streaming_stack import StreamingStack
from tests.stacks.conftest import cdk_context, single

CONFIGS = {c.stage_name: c for c in load_all()}
SCALES_TO_ZERO, ALWAYS_ON = "Dev", "Prod"


def test_shipped_configs_cover_both_scaling_modes():
    assert CONFIGS[SCALES_TO_ZERO].streaming.scale_to_zero is True
    assert CONFIGS[ALWAYS_ON].streaming.scale_to_zero is False


@pytest.fixture(scope="module", params=[SCALES_TO_ZERO, ALWAYS_ON])
def stage(request, synthesized):
    name = request.param
    return CONFIGS[name], synthesized.template(name, "streaming"), synthesized.template(name, "api")


def component_name(template: Template) -> str:
    return single(template, "AWS::SageMaker::InferenceComponent")[1]["Properties"]["InferenceComponentName"]


def test_endpoint_runs_the_configured_gpu_with_managed_instance_scaling(stage):
    config, streaming, _ = stage
    _, endpoint_config = single(streaming, "AWS::SageMaker::EndpointConfig")
    (variant,) = endpoint_config["Properties"]["ProductionVariants"]
    assert variant["InstanceType"] == config.streaming.instance_type
    assert "ModelName" not in variant, "the model belongs to the inference component"
    expected_min = 0 if config.streaming.scale_to_zero else config.streaming.min_copies
    assert variant["ManagedInstanceScaling"] == {
        "Status": "ENABLED",
        "MinInstanceCount": expected_min,
        "MaxInstanceCount": config.streaming.max_instances,
    }
    assert "ExecutionRoleArn" in endpoint_config["Properties"]


def test_inference_component_reserves_the_models_gpus(stage):
    config, streaming, _ = stage
    _, component = single(streaming, "AWS::SageMaker::InferenceComponent")
    requirements = component["Properties"]["Specification"]["ComputeResourceRequirements"]
    assert requirements["NumberOfAcceleratorDevicesRequired"] == config.model.num_gpus
    assert requirements["MinMemoryRequiredInMb"] == config.streaming.memory_per_copy_mb
    assert component["Properties"]["VariantName"] == "AllTraffic"


def test_copies_scale_between_the_configured_bounds(stage):
    config, streaming, _ = stage
    _, target = single(streaming, "AWS::ApplicationAutoScaling::ScalableTarget")
    props = target["Properties"]
    assert props["ServiceNamespace"] == "sagemaker"
    assert props["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert props["ResourceId"] == f"inference-component/{component_name(streaming)}"
    expected_min = 0 if config.streaming.scale_to_zero else config.streaming.min_copies
    assert (props["MinCapacity"], props["MaxCapacity"]) == (expected_min, config.streaming.max_copies)


def test_target_tracking_follows_invocations_per_copy(stage):
    config, streaming, _ = stage
    _, policy = single(streaming, "AWS::ApplicationAutoScaling::ScalingPolicy", {"PolicyType": "TargetTrackingScaling"})
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
    }
    assert tracking["TargetValue"] == config.streaming.target_invocations_per_copy


def no_capacity_alarm(streaming: Template) -> dict:
    _, alarm = single(streaming, "AWS::CloudWatch::Alarm", {"MetricName": "NoCapacityInvocationFailures"})
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/SageMaker"
    assert props["Dimensions"] == [{"Name": "InferenceComponentName", "Value": component_name(streaming)}]
    assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Sum", 60, 1)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    return props


def test_scale_to_zero_comes_back_through_a_step_policy_on_no_capacity_failures(synthesized):
    streaming = synthesized.template(SCALES_TO_ZERO, "streaming")
    step_id, step = single(streaming, "AWS::ApplicationAutoScaling::ScalingPolicy", {"PolicyType": "StepScaling"})
    config = step["Properties"]["StepScalingPolicyConfiguration"]
    assert config["AdjustmentType"] == "ChangeInCapacity"
    assert config["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    assert no_capacity_alarm(streaming)["AlarmActions"] == [{"Ref": step_id}]


def test_without_scale_to_zero_there_is_no_step_policy_and_no_capacity_pages_operators(synthesized):
    streaming = synthesized.template(ALWAYS_ON, "streaming")
    assert streaming.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy", {"Properties": {"PolicyType": "StepScaling"}}) == {}
    (action,) = no_capacity_alarm(streaming)["AlarmActions"]
    assert "AlarmTopic" in str(action)


@pytest.mark.parametrize(("metric", "unit_factor"), [("ModelLatency", 1000), ("Invocation5XXErrors", 1)])
def test_operational_alarms_watch_the_inference_component(stage, metric, unit_factor):
    config, streaming, _ = stage
    _, alarm = single(streaming, "AWS::CloudWatch::Alarm", {"MetricName": metric})
    props = alarm["Properties"]
    assert props["Dimensions"] == [{"Name": "InferenceComponentName", "Value": component_name(streaming)}]
    expected = (
        config.streaming.alarms.model_latency_p90_ms * 1000
        if metric == "ModelLatency"
        else config.streaming.alarms.invocation_5xx_errors
    )
    assert props["Threshold"] == expected
    assert "AlarmTopic" in str(props["AlarmActions"])


def test_stream_route_streams_from_the_front_function_with_iam_auth(stage):
    _, _, api = stage
    (method,) = [
        m for m in api.find_resources("AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "POST"}}).values()
        if m["Properties"]["Integration"].get("ResponseTransferMode") == "STREAM"
    ]
    assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
    uri = str(method["Properties"]["Integration"]["Uri"])
    assert "response-streaming-invocations" in uri and "StreamingHandler" in uri


def stream_method(api: Template) -> dict:
    (method,) = [
        m for m in api.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"].get("Integration", {}).get("ResponseTransferMode") == "STREAM"
    ]
    return method


def front_function(api: Template) -> dict:
    (front,) = [f for f in api.find_resources("AWS::Lambda::Function").values() if f["Properties"]["Handler"] == "run.sh"]
    return front


def test_stream_route_waits_the_configured_stream_budget_not_the_29_second_default(stage):
    config, _, api = stage
    timeout_ms = stream_method(api)["Properties"]["Integration"]["TimeoutInMillis"]
    assert timeout_ms == config.streaming.max_stream_seconds * 1000
    assert config.streaming.max_stream_seconds == 15 * 60


def test_front_function_ends_before_the_route_even_after_a_cold_start(stage):
    config, _, api = stage
    function_timeout = front_function(api)["Properties"]["Timeout"]
    # Lambda's init phase (at most 10 s) runs on API Gateway's clock but not on the function's.
    assert function_timeout == config.streaming.max_stream_seconds - 15
    assert function_timeout + 10 < stream_method(api)["Properties"]["Integration"]["TimeoutInMillis"] / 1000


def test_a_shorter_stream_budget_shortens_both_the_route_and_the_function():
    prod = CONFIGS[ALWAYS_ON]
    config = prod.model_copy(update={"streaming": prod.streaming.model_copy(update={"max_stream_seconds": 300})})
    app = App(context=cdk_context())
    async_inference = AsyncInferenceStack(app, "Async", config=config)
    streaming = StreamingStack(app, "Streaming", config=config, alarm_recipients=async_inference.alarm_recipients)
    api = Template.from_stack(ApiStack(app, "Api", config=config, async_inference=async_inference, streaming=streaming))
    assert stream_method(api)["Properties"]["Integration"]["TimeoutInMillis"] == 300_000
    assert front_function(api)["Properties"]["Timeout"] == 285


def test_relay_gives_up_on_a_silent_model_before_api_gateways_idle_timeout(stage):
    config, _, api = stage
    variables = front_function(api)["Properties"]["Environment"]["Variables"]
    assert variables["UPSTREAM_READ_TIMEOUT_SECONDS"] == str(config.streaming.upstream_read_timeout_seconds)
    assert int(variables["UPSTREAM_READ_TIMEOUT_SECONDS"]) < 300


def test_front_runs_under_the_web_adapter_in_response_stream_mode(stage):
    config, streaming, api = stage
    (front,) = [
        f for f in api.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "run.sh"
    ]
    variables = front["Properties"]["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert variables["INFERENCE_COMPONENT_NAME"] == component_name(streaming)
    assert variables["ENDPOINT_NAME"] == single(streaming, "AWS::SageMaker::Endpoint")[1]["Properties"]["EndpointName"]
    (layer,) = front["Properties"]["Layers"]
    assert f"LambdaAdapterLayerX86:{config.streaming.web_adapter_layer_version}" in str(layer)


def test_front_may_only_invoke_this_endpoint(stage):
    _, streaming, api = stage
    (front_id, front) = [
        (i, f) for i, f in api.find_resources("AWS::Lambda::Function").items() if f["Properties"]["Handler"] == "run.sh"
    ][0]
    role_id = front["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [
        p for p in api.find_resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    sagemaker = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "sagemaker" in str(s["Action"])]
    assert [s["Action"] for s in sagemaker] == ["sagemaker:InvokeEndpoint"]
    endpoint_name = single(streaming, "AWS::SageMaker::Endpoint")[1]["Properties"]["EndpointName"]
    resources = str(sagemaker[0]["Resource"])
    assert f"endpoint/{endpoint_name}" in resources and f"inference-component/{component_name(streaming)}" in resources
    assert "*" not in resources
