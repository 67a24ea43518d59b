"""The streaming endpoint: one inference component per streaming model, each with copy scaling to and
from zero and alarms; the stream route and what its front may invoke."""

from __future__ import annotations

import json

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
STAGE_MODELS = [(stage, name) for stage in (SCALES_TO_ZERO, ALWAYS_ON) for name in CONFIGS[stage].streaming_models]


def test_shipped_configs_cover_both_scaling_modes_and_several_models():
    assert CONFIGS[SCALES_TO_ZERO].streaming_endpoint.scale_to_zero is True
    assert CONFIGS[ALWAYS_ON].streaming_endpoint.scale_to_zero is False
    assert len(CONFIGS[SCALES_TO_ZERO].streaming_models) == 2


@pytest.fixture(scope="module", params=[SCALES_TO_ZERO, ALWAYS_ON])
def stage(request, synthesized):
    name = request.param
    return CONFIGS[name], synthesized.template(name, "streaming"), synthesized.template(name, "api")


@pytest.fixture(scope="module", params=STAGE_MODELS, ids=[f"{s}-{m}" for s, m in STAGE_MODELS])
def model(request, synthesized):
    stage_name, model_name = request.param
    config = CONFIGS[stage_name]
    return config, model_name, config.models[model_name], synthesized.template(stage_name, "streaming")


def endpoint_name(template: Template) -> str:
    return single(template, "AWS::SageMaker::Endpoint")[1]["Properties"]["EndpointName"]


def component(template: Template, model_name: str) -> tuple[str, dict]:
    name = f"{endpoint_name(template)}-{model_name}"
    return single(template, "AWS::SageMaker::InferenceComponent", {"InferenceComponentName": name})


def component_name(template: Template, model_name: str) -> str:
    return component(template, model_name)[1]["Properties"]["InferenceComponentName"]


def per_component(template: Template, type_: str, model_name: str, props: dict | None = None) -> tuple[str, dict]:
    """The resource of `type_` that names the model's component."""
    name = component_name(template, model_name)
    found = [
        (i, r) for i, r in template.find_resources(type_, {"Properties": props} if props else None).items()
        if name in json.dumps(r["Properties"])
    ]
    assert len(found) == 1, found
    return found[0]


def test_endpoint_runs_the_configured_gpu_with_managed_instance_scaling(stage):
    config, streaming, _ = stage
    _, endpoint_config = single(streaming, "AWS::SageMaker::EndpointConfig")
    (variant,) = endpoint_config["Properties"]["ProductionVariants"]
    settings = config.streaming_endpoint
    assert variant["InstanceType"] == settings.instance_type
    assert "ModelName" not in variant, "the models belong to the inference components"
    expected_min = 0 if settings.scale_to_zero else 1
    assert variant["ManagedInstanceScaling"] == {
        "Status": "ENABLED",
        "MinInstanceCount": expected_min,
        "MaxInstanceCount": settings.max_instances,
    }
    assert "ExecutionRoleArn" in endpoint_config["Properties"]


def test_one_inference_component_per_streaming_model(stage):
    config, streaming, _ = stage
    names = {c["Properties"]["InferenceComponentName"] for c in streaming.find_resources("AWS::SageMaker::InferenceComponent").values()}
    assert names == {f"{endpoint_name(streaming)}-{model}" for model in config.streaming_models}


def test_inference_component_reserves_the_models_gpus_and_memory(model):
    _, model_name, settings, streaming = model
    _, resource = component(streaming, model_name)
    requirements = resource["Properties"]["Specification"]["ComputeResourceRequirements"]
    assert requirements["NumberOfAcceleratorDevicesRequired"] == settings.resources.gpus
    assert requirements["MinMemoryRequiredInMb"] == settings.resources.memory_mb
    assert resource["Properties"]["VariantName"] == "AllTraffic"


def test_each_component_runs_its_own_model_and_role(model):
    _, model_name, settings, streaming = model
    _, resource = component(streaming, model_name)
    model_id = resource["Properties"]["Specification"]["ModelName"]["Fn::GetAtt"][0]
    cfn_model = streaming.to_json()["Resources"][model_id]
    assert cfn_model["Properties"]["PrimaryContainer"]["Environment"]["HF_MODEL_ID"] == settings.source.hub.id
    role_id = cfn_model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    assert f"/{model_name}/" in streaming.to_json()["Resources"][role_id]["Metadata"]["aws:cdk:path"]


def test_copies_scale_between_the_configured_bounds(model):
    config, model_name, settings, streaming = model
    _, target = per_component(streaming, "AWS::ApplicationAutoScaling::ScalableTarget", model_name)
    props = target["Properties"]
    assert props["ServiceNamespace"] == "sagemaker"
    assert props["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert props["ResourceId"] == f"inference-component/{component_name(streaming, model_name)}"
    expected_min = 0 if config.streaming_endpoint.scale_to_zero else settings.streaming.min_copies
    assert (props["MinCapacity"], props["MaxCapacity"]) == (expected_min, settings.streaming.max_copies)


def test_target_tracking_follows_invocations_per_copy(model):
    _, model_name, settings, streaming = model
    _, target = per_component(streaming, "AWS::ApplicationAutoScaling::ScalableTarget", model_name)
    target_id = [i for i, r in streaming.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").items() if r == target][0]
    (policy,) = [
        p for p in streaming.find_resources(
            "AWS::ApplicationAutoScaling::ScalingPolicy", {"Properties": {"PolicyType": "TargetTrackingScaling"}}
        ).values()
        if p["Properties"]["ScalingTargetId"] == {"Ref": target_id}
    ]
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
    }
    assert tracking["TargetValue"] == settings.streaming.target_invocations_per_copy


def no_capacity_alarm(streaming: Template, model_name: str) -> dict:
    _, alarm = per_component(streaming, "AWS::CloudWatch::Alarm", model_name, {"MetricName": "NoCapacityInvocationFailures"})
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/SageMaker"
    assert props["Dimensions"] == [{"Name": "InferenceComponentName", "Value": component_name(streaming, model_name)}]
    assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Sum", 60, 1)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    return props


@pytest.mark.parametrize("model_name", list(CONFIGS[SCALES_TO_ZERO].streaming_models))
def test_each_model_comes_back_from_zero_through_its_own_step_policy(synthesized, model_name):
    streaming = synthesized.template(SCALES_TO_ZERO, "streaming")
    (action,) = no_capacity_alarm(streaming, model_name)["AlarmActions"]
    step = streaming.to_json()["Resources"][action["Ref"]]
    config = step["Properties"]["StepScalingPolicyConfiguration"]
    assert config["AdjustmentType"] == "ChangeInCapacity"
    assert config["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    _, target = per_component(streaming, "AWS::ApplicationAutoScaling::ScalableTarget", model_name)
    assert streaming.to_json()["Resources"][step["Properties"]["ScalingTargetId"]["Ref"]] == target


def test_without_scale_to_zero_there_is_no_step_policy_and_no_capacity_pages_operators(synthesized):
    streaming = synthesized.template(ALWAYS_ON, "streaming")
    assert streaming.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy", {"Properties": {"PolicyType": "StepScaling"}}) == {}
    (action,) = no_capacity_alarm(streaming, "chat")["AlarmActions"]
    assert "AlarmTopic" in str(action)


@pytest.mark.parametrize("metric", ["ModelLatency", "Invocation5XXErrors"])
def test_operational_alarms_watch_each_inference_component(model, metric):
    _, model_name, settings, streaming = model
    _, alarm = per_component(streaming, "AWS::CloudWatch::Alarm", model_name, {"MetricName": metric})
    props = alarm["Properties"]
    assert props["Dimensions"] == [{"Name": "InferenceComponentName", "Value": component_name(streaming, model_name)}]
    thresholds = settings.streaming.alarms
    expected = thresholds.model_latency_p90_ms * 1000 if metric == "ModelLatency" else thresholds.invocation_5xx_errors
    assert props["Threshold"] == expected
    assert "AlarmTopic" in str(props["AlarmActions"])


def test_stream_and_chat_routes_stream_from_the_front_function_with_iam_auth(stage):
    _, _, api = stage
    methods = [
        m for m in api.find_resources("AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "POST"}}).values()
        if m["Properties"]["Integration"].get("ResponseTransferMode") == "STREAM"
    ]
    path_parts = {i: r["Properties"]["PathPart"] for i, r in api.find_resources("AWS::ApiGateway::Resource").items()}
    assert sorted(path_parts[m["Properties"]["ResourceId"]["Ref"]] for m in methods) == ["completions", "stream"]
    for method in methods:
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        uri = str(method["Properties"]["Integration"]["Uri"])
        assert "response-streaming-invocations" in uri and "StreamingHandler" in uri


def front(api: Template) -> tuple[str, dict]:
    (found,) = [(i, f) for i, f in api.find_resources("AWS::Lambda::Function").items() if f["Properties"]["Handler"] == "run.sh"]
    return found


def stream_timeouts_ms(api: Template) -> set[int]:
    """The integration timeouts of the streamed routes (/v1/generate/stream, /v1/chat/completions)."""
    methods = [
        m for m in api.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"].get("Integration", {}).get("ResponseTransferMode") == "STREAM"
    ]
    assert len(methods) == 2
    return {m["Properties"]["Integration"]["TimeoutInMillis"] for m in methods}


def front_function(api: Template) -> dict:
    (front,) = [f for f in api.find_resources("AWS::Lambda::Function").values() if f["Properties"]["Handler"] == "run.sh"]
    return front


def test_streamed_routes_wait_the_configured_stream_budget_not_the_29_second_default(stage):
    config, _, api = stage
    assert stream_timeouts_ms(api) == {config.streaming_endpoint.max_stream_seconds * 1000}
    assert config.streaming_endpoint.max_stream_seconds == 15 * 60


def test_front_function_ends_before_the_route_even_after_a_cold_start(stage):
    config, _, api = stage
    function_timeout = front_function(api)["Properties"]["Timeout"]
    # Lambda's init phase (at most 10 s) runs on API Gateway's clock but not on the function's.
    assert function_timeout == config.streaming_endpoint.max_stream_seconds - 15
    assert function_timeout + 10 < min(stream_timeouts_ms(api)) / 1000


def test_a_shorter_stream_budget_shortens_both_the_route_and_the_function():
    prod = CONFIGS[ALWAYS_ON]
    shorter = prod.streaming_endpoint.model_copy(update={"max_stream_seconds": 300})
    config = prod.model_copy(update={"streaming_endpoint": shorter})
    app = App(context=cdk_context())
    async_inference = AsyncInferenceStack(app, "Async", config=config)
    streaming = StreamingStack(app, "Streaming", config=config, alarm_recipients=async_inference.alarm_recipients)
    api = Template.from_stack(ApiStack(app, "Api", config=config, async_inference=async_inference, streaming=streaming))
    assert stream_timeouts_ms(api) == {300_000}
    assert front_function(api)["Properties"]["Timeout"] == 285


def test_relay_gives_up_on_a_silent_model_before_api_gateways_idle_timeout(stage):
    config, _, api = stage
    variables = front_function(api)["Properties"]["Environment"]["Variables"]
    assert variables["UPSTREAM_READ_TIMEOUT_SECONDS"] == str(config.streaming_endpoint.upstream_read_timeout_seconds)
    assert int(variables["UPSTREAM_READ_TIMEOUT_SECONDS"]) < 300


def test_front_runs_under_the_web_adapter_in_response_stream_mode(stage):
    config, streaming, api = stage
    _, function = front(api)
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    (layer,) = function["Properties"]["Layers"]
    assert f"LambdaAdapterLayerX86:{config.streaming_endpoint.web_adapter_layer_version}" in str(layer)


def test_front_routes_by_the_catalog_of_components(stage):
    config, streaming, api = stage
    _, function = front(api)
    catalog = json.loads(function["Properties"]["Environment"]["Variables"]["MODEL_CATALOG"])
    assert catalog["default"] == config.default_model
    for name in config.streaming_models:
        assert catalog["models"][name]["streaming"] == {
            "endpoint_name": endpoint_name(streaming),
            "inference_component_name": component_name(streaming, name),
        }
        assert catalog["models"][name]["container_format"] == config.models[name].container.framework


def test_front_may_invoke_exactly_its_models_components(stage):
    config, streaming, api = stage
    _, function = front(api)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [
        p for p in api.find_resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    sagemaker = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "sagemaker:Invoke" in str(s["Action"])]
    assert {s["Action"] for s in sagemaker} == {"sagemaker:InvokeEndpoint"}
    resources = " ".join(str(s["Resource"]) for s in sagemaker)
    assert f"endpoint/{endpoint_name(streaming)}" in resources
    for name in config.streaming_models:
        assert f"inference-component/{component_name(streaming, name)}" in resources
    assert resources.count("inference-component/") == len(config.streaming_models)
    assert "*" not in resources
