"""cdk-nag packs for the whole app, and the acknowledgement audit trail in every template."""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, App, Aspects, Stack, Stage, Validations
from constructs import IConstruct
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks, WriteNagSuppressionsToCloudFormationAspect


def nag_packs(scope: App | Stage) -> list[NagPack]:
    return [
        AwsSolutionsChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
        NIST80053R5Checks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
    ]


def register_nag_packs(app: App, stages: list[Stage]) -> None:
    """Check every stack in the app, Stages included, and fail synth on any unacknowledged finding.

    The packs' metadata aspect, registered on the App, does not reach resources inside a Stage (a
    Stage synthesizes its own nested assembly), so each Stage gets the aspect as well: auditors find
    every acknowledgement, with its reason, in the template's `cdk_nag` Metadata.
    """
    Validations.of(app).add_plugins(*nag_packs(app))
    for stage in stages:
        Aspects.of(stage).add(WriteNagSuppressionsToCloudFormationAspect())


def _flatten(node: object) -> str:
    """cdk-nag's rendering of a CloudFormation value inside a finding id (flattenCfnReference)."""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def wildcard_resource(scope: IConstruct, arn: str, reason: str) -> Acknowledgment:
    """Acknowledge AwsSolutions-IAM5 for exactly one wildcard resource ARN, as a policy uses it."""
    rendered = _flatten(Stack.of(scope).resolve(arn))
    return Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{rendered}]", reason=reason)
