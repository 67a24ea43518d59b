"""Refuse a deploy that would leave a turned-off part of an environment running.

Turning off a part (async, streaming, the API) removes its stack from the app, and `cdk deploy
"<Stage>/*"` only deploys stacks the app still has: the deployed stack would keep running and
billing, out of reach of both `make deploy` and `make destroy`. So before a deploy this compares
the stacks deployed under the environment's resource prefix with the stacks of the synthesized
stage, and names the exact command that removes each leftover.
"""

from __future__ import annotations

import json
from pathlib import Path

from stacks.stack_names import is_stack_of

# CloudFormation's ListStacks also lists deleted stacks (for 90 days); these hold nothing.
_GONE = {"DELETE_COMPLETE"}


def stage_stack_names(cloud_assembly: Path, stage_name: str) -> set[str]:
    manifest = json.loads((cloud_assembly / f"assembly-{stage_name}" / "manifest.json").read_text(encoding="utf-8"))
    return {
        artifact["properties"]["stackName"]
        for artifact in manifest["artifacts"].values()
        if artifact["type"] == "aws:cloudformation:stack"
    }


def deployed_stack_names(cloudformation, resource_prefix: str) -> set[str]:
    names = set()
    for page in cloudformation.get_paginator("list_stacks").paginate():
        for summary in page["StackSummaries"]:
            if summary["StackStatus"] not in _GONE and is_stack_of(summary["StackName"], resource_prefix):
                names.add(summary["StackName"])
    return names


def orphaned(cloudformation, *, resource_prefix: str, expected: set[str]) -> list[str]:
    return sorted(deployed_stack_names(cloudformation, resource_prefix) - expected)


def refusal(stage_name: str, region: str, orphans: list[str]) -> str:
    commands = "\n".join(
        f"  aws cloudformation delete-stack --region {region} --stack-name {name}" for name in orphans
    )
    return (
        f"{stage_name}: these stacks are deployed but no longer part of the environment's config, so a deploy "
        f"would leave them running (and billing):\n{commands}\n"
        "Delete them with the commands above (empty their versioned buckets first: docs/operations.md, "
        "'Empty and destroy an environment'), or turn the part back on in the config."
    )
