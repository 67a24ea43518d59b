"""What a failed first create and `make destroy` leave behind, in every environment and both paths."""

from __future__ import annotations

import json

import pytest

from stacks.config import load_all
from tests.stacks.conftest import STAGE_NAMES

CONFIGS = {c.stage_name: c for c in load_all()}
STATEFUL = (
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
)


def stage_templates(assembly_dir) -> dict[str, dict]:
    """Every template of every environment Stage (the pipeline deploys these same Stages).

    The pipeline stack's own template (its artifact buckets) is not an environment's.
    """
    return {
        path.name: json.loads(path.read_text())["Resources"]
        for path in sorted(assembly_dir.rglob("*.template.json"))
        if path.parent.name.startswith("assembly-")
    }


def test_no_resource_survives_a_failed_first_create(synthesized):
    templates = stage_templates(synthesized.assembly_dir)
    assert len(templates) == 3 * 4  # environments x (async, streaming, api, dashboard)
    retained = [
        f"{name}:{logical_id}"
        for name, resources in templates.items()
        for logical_id, resource in resources.items()
        if resource.get("DeletionPolicy") == "Retain"
    ]
    assert not retained, "Retain keeps a named resource when the first create fails; use RetainExceptOnCreate"


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_stateful_resources_follow_the_configured_removal_policy(synthesized, stage):
    expected = "Delete" if CONFIGS[stage].storage.removal_policy == "destroy" else "RetainExceptOnCreate"
    idempotency_records = "Idempotency"
    for stack in ("async_inference", "streaming", "api"):
        resources = synthesized.template(stage, stack).to_json()["Resources"]
        for logical_id, resource in resources.items():
            if resource["Type"] in STATEFUL and not logical_id.startswith(idempotency_records):
                assert resource["DeletionPolicy"] == expected, f"{stack}:{logical_id}"


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_buckets_destroyed_with_the_stack_are_emptied_first_versions_included(synthesized, stage):
    resources = synthesized.template(stage).to_json()["Resources"]
    buckets = {i for i, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    emptied = {
        r["Properties"]["BucketName"]["Ref"] for r in resources.values() if r["Type"] == "Custom::S3AutoDeleteObjects"
    }
    if CONFIGS[stage].storage.removal_policy == "destroy":
        assert emptied == buckets
        (handler,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
        role = handler["Properties"]["Role"]["Fn::GetAtt"][0]
        for policy in (r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"):
            (grant,) = [
                s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                if s["Principal"] == {"AWS": {"Fn::GetAtt": [role, "Arn"]}}
            ]
            # It lists versions and delete markers, deletes them, and first denies new writes.
            assert set(grant["Action"]) == {"s3:DeleteObject*", "s3:GetBucket*", "s3:List*", "s3:PutBucketPolicy"}
    else:
        assert emptied == set()


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_api_gateways_account_logging_role_outlives_the_stack(synthesized, stage):
    resources = synthesized.template(stage, "api").to_json()["Resources"]
    for type_ in ("AWS::IAM::Role", "AWS::ApiGateway::Account"):
        shared = [r for i, r in resources.items() if r["Type"] == type_ and i.startswith("ApiCloudWatchRole" if type_ == "AWS::IAM::Role" else "ApiAccount")]
        assert [r["DeletionPolicy"] for r in shared] == ["RetainExceptOnCreate"]
