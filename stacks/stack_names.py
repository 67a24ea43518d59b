"""The names of an environment's stacks and endpoints, from its resource prefix. Without CDK, for
the operator tools that look for them in an account (ops/orphans.py, ops/quotas.py,
ops/scaling_control.py)."""

from __future__ import annotations

import hashlib

ASYNC_INFERENCE, STREAMING, API, DASHBOARD = "async-inference", "streaming", "api", "dashboard"
PARTS = (ASYNC_INFERENCE, STREAMING, API, DASHBOARD)


def stack_name(resource_prefix: str, part: str) -> str:
    return f"{resource_prefix}-{part}"


def is_stack_of(name: str, resource_prefix: str) -> bool:
    """Exactly `<prefix>-<part>`: the stacks of an environment whose prefix extends this one
    (`llm-dev-eu` beside `llm-dev`) are not this environment's."""
    return any(name == stack_name(resource_prefix, part) for part in PARTS)


def async_endpoint_name(resource_prefix: str, model: str, instance_type: str) -> str:
    """The async endpoint of one catalog model."""
    return _endpoint_name(f"{resource_prefix}-{model}", "async", instance_type)


def streaming_endpoint_name(resource_prefix: str, instance_type: str) -> str:
    """The endpoint that hosts every streaming model's inference component."""
    return _endpoint_name(resource_prefix, "stream", instance_type)


def _endpoint_name(prefix: str, kind: str, instance_type: str) -> str:
    """The endpoint's name changes with its instance type, so that such a change replaces it.

    SageMaker refuses an UpdateEndpoint that changes the instance type of a variant registered for
    auto scaling (and also the removal of such a variant), but allows a model change. A new name
    makes CloudFormation create a new endpoint and scalable target, then delete the old policies,
    target and endpoint in its clean-up phase, in that order. See README, "Changing the model or
    instance type".
    """
    return f"{prefix}-{kind}-{instance_type_digest(instance_type)}"


def instance_type_digest(instance_type: str) -> str:
    return hashlib.sha256(instance_type.encode()).hexdigest()[:8]
