"""The names of an environment's stacks: its resource prefix and one part each. Without CDK, for
the operator tools that look for them in an account (ops/orphans.py)."""

from __future__ import annotations

ASYNC_INFERENCE, STREAMING, API, DASHBOARD = "async-inference", "streaming", "api", "dashboard"
PARTS = (ASYNC_INFERENCE, STREAMING, API, DASHBOARD)


def stack_name(resource_prefix: str, part: str) -> str:
    return f"{resource_prefix}-{part}"


def is_stack_of(name: str, resource_prefix: str) -> bool:
    """Exactly `<prefix>-<part>`: the stacks of an environment whose prefix extends this one
    (`llm-dev-eu` beside `llm-dev`) are not this environment's."""
    return any(name == stack_name(resource_prefix, part) for part in PARTS)
