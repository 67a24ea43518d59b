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


def register_nag_packs(app: App) -> None:
    """Check every stack in the app, Stages included, and fail synth on any unacknowledged finding."""
    Validations.of(app).add_plugins(*nag_packs(app))


def write_acknowledgements_to_templates(stage: Stage) -> None:
    """Copy each acknowledgement, with its reason, into the template's `cdk_nag` Metadata.

    The packs register this aspect on the App, but App aspects do not reach resources inside a Stage
    (a Stage synthesizes its own nested assembly). Each Stage registers it when it is built: CDK
    Pipelines synthesizes a Stage as soon as it is added, before anything later could.
    """
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


def wildcard_findings(policy: IConstruct) -> list[str]:
    """The AwsSolutions-IAM5 finding ids cdk-nag reports for a CfnPolicy (its analyzePolicy)."""
    document = Stack.of(policy).resolve(policy.policy_document)
    findings: dict[str, None] = {}
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        findings.update({f"AwsSolutions-IAM5[Action::{a}]": None for a in actions if "*" in a})
        findings.update(
            {f"AwsSolutions-IAM5[Resource::{r}]": None for r in map(_flatten, resources) if "*" in r}
        )
    return list(findings)
