"""How many GPU instances an environment holds at rest and at most, per endpoint and per type.

The one place that reads instance counts out of the config: the cost report and the quota
preflight both start here, so they can never disagree about what an environment runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from stacks.config import EnvironmentConfig


@dataclass(frozen=True)
class InstanceNeed:
    endpoint: str
    instance_type: str
    minimum: int
    maximum: int


def instance_needs(config: EnvironmentConfig) -> list[InstanceNeed]:
    """Every endpoint of the environment with the instances its scaling bounds allow."""
    scaling = config.async_endpoint.scaling
    needs = [
        InstanceNeed(
            endpoint="async",
            instance_type=config.async_endpoint.instance_type,
            minimum=scaling.min_capacity,
            maximum=scaling.max_capacity,
        )
    ]
    streaming = config.streaming
    if streaming.enabled:
        needs.append(
            InstanceNeed(
                endpoint="streaming",
                instance_type=streaming.instance_type,
                # Managed instance scaling keeps the warm copies' instances; one copy per instance
                # is the conservative reading when copies are not allowed to reach zero.
                minimum=0 if streaming.scale_to_zero else min(streaming.min_copies, streaming.max_instances),
                maximum=streaming.max_instances,
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
