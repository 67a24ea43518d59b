"""`make prewarm`, `make pause`, `make resume`: move an environment's capacity by hand.

All three act on the Application Auto Scaling scalable targets the stacks register, because
`RegisterScalableTarget` "changes the resource's current capacity to a value that is inside of
this range" at once (Application Auto Scaling API reference, RegisterScalableTarget):
- prewarm raises a model's minimum, so capacity starts now and scaling cannot take it below;
- pause sets minimum and maximum to 0, so capacity goes to zero and no wake alarm can add any;
- resume writes back the bounds from the environment's config.
CloudFormation does not re-apply a scalable target's bounds on a deploy that leaves them unchanged
in the template, so after a pause or prewarm only `resume` (not `make deploy`) restores them.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config import EnvironmentConfig
from stacks.stack_names import async_endpoint_name, streaming_endpoint_name

NAMESPACE = "sagemaker"


@dataclass(frozen=True)
class ScalableTarget:
    model: str
    path: str  # "async" or "streaming"
    resource_id: str
    dimension: str
    minimum: int
    maximum: int


def scalable_targets(config: EnvironmentConfig) -> list[ScalableTarget]:
    """The targets the stacks register for this config, with the bounds the config gives them."""
    from stacks.constructs.async_endpoint import VARIANT_NAME
    from stacks.constructs.inference_component import inference_component_name_for

    targets = []
    for name, model in config.async_models.items():
        endpoint = async_endpoint_name(config.resource_prefix, name, model.async_.instance_type)
        targets.append(
            ScalableTarget(
                name,
                "async",
                f"endpoint/{endpoint}/variant/{VARIANT_NAME}",
                "sagemaker:variant:DesiredInstanceCount",
                model.async_.scaling.min_capacity,
                model.async_.scaling.max_capacity,
            )
        )
    streaming_endpoint = config.streaming_endpoint
    for name, model in config.streaming_models.items():
        endpoint = streaming_endpoint_name(config.resource_prefix, streaming_endpoint.instance_type)
        targets.append(
            ScalableTarget(
                name,
                "streaming",
                f"inference-component/{inference_component_name_for(endpoint, name)}",
                "sagemaker:inference-component:DesiredCopyCount",
                0 if streaming_endpoint.scale_to_zero else model.streaming.min_copies,
                model.streaming.max_copies,
            )
        )
    return targets


class ScalingControlError(Exception):
    """A request the operator can correct (an unknown model, a count above the maximum)."""


def _select(targets: list[ScalableTarget], model: str | None) -> list[ScalableTarget]:
    if model is None:
        return targets
    chosen = [target for target in targets if target.model == model]
    if not chosen:
        known = sorted({target.model for target in targets})
        raise ScalingControlError(f"no model {model!r} in this environment; choose one of: {', '.join(known)}")
    return chosen


def _register(autoscaling, target: ScalableTarget, minimum: int, maximum: int) -> str:
    autoscaling.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=target.resource_id,
        ScalableDimension=target.dimension,
        MinCapacity=minimum,
        MaxCapacity=maximum,
    )
    return f"{target.model} ({target.path}): {target.resource_id} min {minimum} max {maximum}"


def prewarm(autoscaling, targets: list[ScalableTarget], *, model: str | None, count: int) -> list[str]:
    changed = []
    for target in _select(targets, model):
        if count > target.maximum:
            raise ScalingControlError(
                f"{target.model} ({target.path}) may not exceed {target.maximum}; raise its maximum in the config"
            )
        changed.append(_register(autoscaling, target, max(count, target.minimum), target.maximum))
    return changed


def pause(autoscaling, targets: list[ScalableTarget]) -> list[str]:
    return [_register(autoscaling, target, 0, 0) for target in targets]


def resume(autoscaling, targets: list[ScalableTarget]) -> list[str]:
    return [_register(autoscaling, target, target.minimum, target.maximum) for target in targets]


def instances_kept_while_paused(config: EnvironmentConfig) -> str | None:
    """What a pause cannot stop: a streaming endpoint that may not scale to zero keeps the instances
    of its managed instance scaling minimum (MinInstanceCount, a property of the endpoint config,
    not of a scalable target) with no copy on them, billing until a deploy changes it. The minimum is
    the one the quota preflight and the cost report use (``ops.capacity.instance_needs``)."""
    from ops.capacity import instance_needs

    if not config.streaming_models:
        return None
    name = streaming_endpoint_name(config.resource_prefix, config.streaming_endpoint.instance_type)
    kept = next(need.minimum for need in instance_needs(config) if need.endpoint_name == name)
    if kept == 0:
        return None
    return (
        f"note: the streaming endpoint keeps {kept} {config.streaming_endpoint.instance_type} instance(s) running "
        "while paused (streaming_endpoint.scale_to_zero is false, so its minimum is fixed in the template); "
        "to stop them, deploy with streaming_endpoint.scale_to_zero: true or turn streaming off"
    )
