"""A config change of model or instance type deploys with no manual step, and scaling survives it."""

from __future__ import annotations

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.async_inference_stack import AsyncInferenceStack
from stacks.catalog_rules import instances_needed
from stacks.config import EnvironmentConfig, load_all
from stacks.gpu_instances import gpu_instance
from stacks.streaming_stack import StreamingStack
from tests.stacks.conftest import cdk_context

# The committed environments: a developer's own sandbox files are git-ignored.
CONFIGS = [c for c in load_all() if not c.sandbox]
PROD = next(c for c in CONFIGS if c.stage_name == "Prod")


def template_for(config: EnvironmentConfig) -> Template:
    stack = AsyncInferenceStack(App(context=cdk_context()), "Async", config=config)
    return Template.from_stack(stack)


def streaming_template_for(config: EnvironmentConfig) -> Template:
    app = App(context=cdk_context())
    alarms = AsyncInferenceStack(app, "Async", config=config).alarm_recipients
    return Template.from_stack(StreamingStack(app, "Streaming", config=config, alarm_recipients=alarms))


def with_chat(config: EnvironmentConfig, **changes) -> EnvironmentConfig:
    chat = config.models["chat"].model_copy(update=changes)
    return config.model_copy(update={"models": {**config.models, "chat": chat}})


def with_instance_type(config: EnvironmentConfig, instance_type: str) -> EnvironmentConfig:
    return with_chat(config, async_=config.models["chat"].async_.model_copy(update={"instance_type": instance_type}))


def with_model(config: EnvironmentConfig, hub_id: str) -> EnvironmentConfig:
    source = config.models["chat"].source
    return with_chat(config, source=source.model_copy(update={"hub": source.hub.model_copy(update={"id": hub_id})}))


def with_copy_scaling(config: EnvironmentConfig, **changes) -> EnvironmentConfig:
    return with_chat(config, streaming=config.models["chat"].streaming.model_copy(update=changes))


def with_streaming_endpoint(config: EnvironmentConfig, **changes) -> EnvironmentConfig:
    return config.model_copy(update={"streaming_endpoint": config.streaming_endpoint.model_copy(update=changes)})


def endpoint_and_target(template: Template) -> tuple[str, str]:
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    (target,) = template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    return endpoint["Properties"]["EndpointName"], target["Properties"]["ResourceId"]


def inference_component(template: Template) -> tuple[str, dict]:
    ((logical_id, component),) = template.find_resources("AWS::SageMaker::InferenceComponent").items()
    return logical_id, component["Properties"]


def policy_names(template: Template) -> dict[str, str]:
    return {
        logical_id: policy["Properties"]["PolicyName"]
        for logical_id, policy in template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy").items()
    }


def test_instance_type_change_replaces_the_endpoint_and_its_scalable_target():
    before_name, before_target = endpoint_and_target(template_for(PROD))
    after_name, after_target = endpoint_and_target(template_for(with_instance_type(PROD, "ml.g6.12xlarge")))
    assert after_name != before_name
    assert after_target == f"endpoint/{after_name}/variant/AllTraffic" != before_target


def test_model_change_updates_the_same_endpoint_in_place():
    before = endpoint_and_target(template_for(PROD))
    changed = template_for(with_model(PROD, "Qwen/Qwen2.5-7B-Instruct"))
    assert endpoint_and_target(changed) == before
    (model,) = changed.find_resources("AWS::SageMaker::Model").values()
    assert model["Properties"]["PrimaryContainer"]["Environment"]["HF_MODEL_ID"] == "Qwen/Qwen2.5-7B-Instruct"


def test_instance_without_local_nvme_encrypts_its_volume_with_the_key():
    template = template_for(with_instance_type(PROD, "ml.p3.2xlarge"))
    (config,) = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    assert "KmsKeyId" in config["Properties"]


def test_nvme_instance_leaves_the_volume_key_unset():
    (config,) = template_for(PROD).find_resources("AWS::SageMaker::EndpointConfig").values()
    assert "KmsKeyId" not in config["Properties"]


def test_instance_type_change_renames_the_scaling_policies_it_replaces():
    before = policy_names(template_for(PROD))
    after = policy_names(template_for(with_instance_type(PROD, "ml.g6.12xlarge")))
    # Same resources, new names: CloudFormation replaces them (ScalingTargetId changes) without
    # reusing a custom name that still exists.
    assert before.keys() == after.keys()
    assert not set(before.values()) & set(after.values())
    name, _ = endpoint_and_target(template_for(with_instance_type(PROD, "ml.g6.12xlarge")))
    assert all(policy.startswith(f"{name}-") for policy in after.values())


def test_streaming_instance_type_change_renames_the_copy_scaling_policies():
    before = policy_names(streaming_template_for(PROD))
    after = policy_names(streaming_template_for(with_streaming_endpoint(PROD, instance_type="ml.g6.12xlarge")))
    assert before.keys() == after.keys() and not set(before.values()) & set(after.values())


def test_streaming_instance_type_change_creates_a_new_inference_component_on_the_new_endpoint():
    before_id, before = inference_component(streaming_template_for(PROD))
    after_id, after = inference_component(
        streaming_template_for(with_streaming_endpoint(PROD, instance_type="ml.g6.12xlarge"))
    )
    # A new logical id: CloudFormation creates the component instead of updating the old one onto
    # another endpoint, which UpdateInferenceComponent cannot do.
    assert after_id != before_id
    assert after["InferenceComponentName"] != before["InferenceComponentName"]


def test_model_change_updates_the_inference_component_in_place_with_the_same_copy_count():
    before_id, before = inference_component(streaming_template_for(PROD))
    changed = streaming_template_for(with_model(PROD, "Qwen/Qwen2.5-7B-Instruct"))
    after_id, after = inference_component(changed)
    assert (after_id, after["InferenceComponentName"]) == (before_id, before["InferenceComponentName"])
    assert after["RuntimeConfig"] == before["RuntimeConfig"]
    # The Model is replaced (its properties cannot change in place); the component follows its new name.
    model_id = after["Specification"]["ModelName"]["Fn::GetAtt"][0]
    model = changed.find_resources("AWS::SageMaker::Model")[model_id]
    assert model["Properties"]["PrimaryContainer"]["Environment"]["HF_MODEL_ID"] == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    "change",
    [
        lambda config: with_copy_scaling(config, max_copies=2),
        lambda config: with_copy_scaling(config, target_invocations_per_copy=8.0),
        lambda config: with_copy_scaling(config, scale_in_cooldown_seconds=900),
        lambda config: with_streaming_endpoint(config, max_instances=6, upstream_read_timeout_seconds=90),
    ],
    ids=["max_copies", "target", "cooldown", "endpoint_settings"],
)
def test_a_deploy_that_leaves_the_model_alone_leaves_the_inference_component_untouched(change):
    _, before = inference_component(streaming_template_for(PROD))
    _, after = inference_component(streaming_template_for(change(PROD)))
    assert after == before


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.stage_name)
def test_every_environment_has_room_to_start_each_copy_again_during_a_model_update(config):
    template = streaming_template_for(config)
    components = template.find_resources("AWS::SageMaker::InferenceComponent").values()
    assert all("DeploymentConfig" not in component["Properties"] for component in components)
    (endpoint_config,) = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    (variant,) = endpoint_config["Properties"]["ProductionVariants"]
    copies_during_update = [
        (model.resources.gpus, model.resources.memory_mb)
        for model in config.streaming_models.values()
        for _ in range(2 * model.streaming.max_copies)
    ]
    needed = instances_needed(gpu_instance(config.streaming_endpoint.instance_type), copies_during_update)
    assert variant["ManagedInstanceScaling"]["MaxInstanceCount"] >= needed
