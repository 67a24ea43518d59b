"""A config change of model or instance type deploys with no manual step."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from stacks.async_inference_stack import AsyncInferenceStack
from stacks.config import EnvironmentConfig, load_all
from tests.stacks.conftest import cdk_context

PROD = load_all()[2]


def template_for(config: EnvironmentConfig) -> Template:
    stack = AsyncInferenceStack(App(context=cdk_context()), "Async", config=config)
    return Template.from_stack(stack)


def with_instance_type(config: EnvironmentConfig, instance_type: str) -> EnvironmentConfig:
    endpoint = config.async_endpoint.model_copy(update={"instance_type": instance_type})
    return config.model_copy(update={"async_endpoint": endpoint})


def with_model(config: EnvironmentConfig, hub_id: str) -> EnvironmentConfig:
    return config.model_copy(update={"model": config.model.model_copy(update={"hub_id": hub_id})})


def endpoint_and_target(template: Template) -> tuple[str, str]:
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    (target,) = template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    return endpoint["Properties"]["EndpointName"], target["Properties"]["ResourceId"]


def test_instance_type_change_replaces_the_endpoint_and_its_scalable_target():
    before_name, before_target = endpoint_and_target(template_for(PROD))
    after_name, after_target = endpoint_and_target(template_for(with_instance_type(PROD, "ml.g6.12xlarge")))
    assert after_name != before_name
    assert after_target == f"endpoint/{after_name}/variant/AllTraffic" != before_target


def test_model_change_updates_the_same_endpoint_in_place():
    before = endpoint_and_target(template_for(PROD))
    changed = template_for(with_model(PROD, "tiiuae/falcon-7b-instruct"))
    assert endpoint_and_target(changed) == before
    (model,) = changed.find_resources("AWS::SageMaker::Model").values()
    assert model["Properties"]["PrimaryContainer"]["Environment"]["HF_MODEL_ID"] == "tiiuae/falcon-7b-instruct"


def test_instance_without_local_nvme_encrypts_its_volume_with_the_key():
    template = template_for(with_instance_type(PROD, "ml.p3.2xlarge"))
    (config,) = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    assert "KmsKeyId" in config["Properties"]


def test_nvme_instance_leaves_the_volume_key_unset():
    (config,) = template_for(PROD).find_resources("AWS::SageMaker::EndpointConfig").values()
    assert "KmsKeyId" not in config["Properties"]
