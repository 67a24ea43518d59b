"""How many GPU instances an environment holds at rest and at most, per endpoint and per type.

The one place that reads instance counts out of the config: the cost report and the quota
preflight both start here, so they can never disagree about what an environment runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from stacks.catalog_rules import minimum_streaming_instances
from stacks.config import EnvironmentConfig
from stacks.stack_names import async_endpoint_name, streaming_endpoint_name


@dataclass(frozen=True)
class InstanceNeed:
    endpoint: str
    instance_type: str
    minimum: int
    maximum: int
    # Minutes of no work before scaling takes the capacity back to zero (None: it never goes to zero).
    idle_minutes: int | None = None
    # The SageMaker endpoint's name (None for a sum over endpoints).
    endpoint_name: str | None = None


def instance_needs(config: EnvironmentConfig) -> list[InstanceNeed]:
    """Every endpoint of the environment with the instances its scaling bounds allow."""
    needs = [
        InstanceNeed(
            endpoint=f"async {name}",
            instance_type=model.async_.instance_type,
            minimum=model.async_.scaling.min_capacity,
            maximum=model.async_.scaling.max_capacity,
            idle_minutes=model.async_.scaling.idle_minutes,
            endpoint_name=async_endpoint_name(config.resource_prefix, name, model.async_.instance_type),
        )
        for name, model in config.async_models.items()
    ]
    endpoint = config.streaming_endpoint
    if config.streaming_models and endpoint is not None:
        needs.append(
            InstanceNeed(
                endpoint=f"streaming ({', '.join(config.streaming_models)})",
                instance_type=endpoint.instance_type,
                minimum=0 if endpoint.scale_to_zero else minimum_streaming_instances(config),
                maximum=endpoint.max_instances,
                # An instance leaves only once every component on it has gone to zero.
                idle_minutes=(
                    max(model.streaming.idle_minutes for model in config.streaming_models.values())
                    if endpoint.scale_to_zero
                    else None
                ),
                endpoint_name=streaming_endpoint_name(config.resource_prefix, endpoint.instance_type),
            )
        )
    return needs


def totals_by_instance_type(needs: list[InstanceNeed]) -> dict[str, InstanceNeed]:
    """SageMaker's endpoint quotas count instances per type across all endpoints of the account."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for need in needs:
        totals[need.instance_type][0] += need.minimum
        totals[need.instance_type][1] += need.maximum
    return {
        instance_type: InstanceNeed("all endpoints", instance_type, minimum, maximum)
        for instance_type, (minimum, maximum) in sorted(totals.items())
    }
