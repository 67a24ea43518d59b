"""prewarm, pause and resume send Application Auto Scaling the bounds that do what they say."""

from __future__ import annotations

import boto3
import pytest

from ops.scaling_control import (
    ScalingControlError,
    instances_kept_while_paused,
    pause,
    prewarm,
    resume,
    scalable_targets,
)
from stacks.config import CONFIG_DIR, load_environment_config
from tests.ops.json_service import JsonServiceStandIn, ServiceError


class AutoScalingStandIn(JsonServiceStandIn):
    """RegisterScalableTarget as AWS validates it: a new target needs both bounds, min <= max."""

    def __init__(self) -> None:
        self.targets: dict[tuple[str, str], dict] = {}
        super().__init__("AnyScaleFrontendService", {"RegisterScalableTarget": self._register})

    def _register(self, body: dict) -> dict:
        key = (body["ResourceId"], body["ScalableDimension"])
        target = {**self.targets.get(key, {}), **{k: body[k] for k in ("MinCapacity", "MaxCapacity") if k in body}}
        if {"MinCapacity", "MaxCapacity"} - set(target):
            raise ServiceError("ValidationException", "a new scalable target needs MinCapacity and MaxCapacity")
        if target["MinCapacity"] > target["MaxCapacity"]:
            raise ServiceError("ValidationException", "MinCapacity must not exceed MaxCapacity")
        self.targets[key] = target
        return {"ScalableTargetARN": f"arn:aws:application-autoscaling:eu-west-1:123456789012:scalable-target/{len(self.targets)}"}

    def bounds(self) -> set[tuple[str, int, int]]:
        return {(resource, t["MinCapacity"], t["MaxCapacity"]) for (resource, _), t in self.targets.items()}


@pytest.fixture
def autoscaling():
    with AutoScalingStandIn() as standin:
        standin.client = boto3.client(
            "application-autoscaling",
            endpoint_url=standin.url,
            region_name="eu-west-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        yield standin


@pytest.fixture(scope="module")
def prod_targets():
    return scalable_targets(load_environment_config(CONFIG_DIR / "prod.yaml"))


def test_prewarm_raises_the_minimum_and_keeps_the_maximum(autoscaling, prod_targets):
    prewarm(autoscaling.client, prod_targets, model=None, count=1)
    async_target = next(t for t in prod_targets if t.path == "async")
    assert (async_target.resource_id, 1, async_target.maximum) in autoscaling.bounds()


def test_prewarm_above_the_configured_maximum_is_refused_before_any_call(autoscaling, prod_targets):
    with pytest.raises(ScalingControlError, match="may not exceed"):
        prewarm(autoscaling.client, prod_targets, model=None, count=99)
    assert not autoscaling.requests


def test_prewarm_of_an_unknown_model_names_the_known_ones(autoscaling, prod_targets):
    with pytest.raises(ScalingControlError, match="choose one of: chat"):
        prewarm(autoscaling.client, prod_targets, model="gpt-4", count=1)


def test_pause_takes_every_target_to_zero_and_keeps_it_there(autoscaling, prod_targets):
    pause(autoscaling.client, prod_targets)
    assert autoscaling.bounds() == {(t.resource_id, 0, 0) for t in prod_targets}


def test_a_pause_says_which_streaming_instances_it_cannot_stop():
    prod, dev = (load_environment_config(CONFIG_DIR / name) for name in ("prod.yaml", "dev.yaml"))
    assert instances_kept_while_paused(prod).startswith("note: the streaming endpoint keeps 1 ml.g5.12xlarge instance(s)")
    assert instances_kept_while_paused(dev) is None


def test_resume_writes_back_the_configured_bounds_after_a_pause(autoscaling, prod_targets):
    pause(autoscaling.client, prod_targets)
    resume(autoscaling.client, prod_targets)
    assert autoscaling.bounds() == {(t.resource_id, t.minimum, t.maximum) for t in prod_targets}
    assert any(t.minimum == 1 for t in prod_targets), "Prod keeps a warm streaming copy"


def test_a_pause_says_nothing_of_streaming_instances_when_the_minimum_keeps_none():
    prod = load_environment_config(CONFIG_DIR / "prod.yaml")
    no_copies = {
        name: model.model_copy(update={"streaming": model.streaming.model_copy(update={"min_copies": 0})})
        if model.streaming else model
        for name, model in prod.models.items()
    }
    assert instances_kept_while_paused(prod.model_copy(update={"models": no_copies})) is None
