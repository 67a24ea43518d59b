"""cdk-nag runs on every Stage, fails synth on a finding, and every acknowledgement is visible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk import Stack, Stage
from aws_cdk import aws_s3 as s3

from stacks.nag import nag_packs, register_nag_packs
from stacks.validation import violations
from tests.stacks.conftest import STAGE_NAMES, new_app

# Every acknowledgement in the app, by stack and construct path. A new one fails this test until
# it is reviewed and added here; its reason is printed by the listing test below. IAM5 findings
# on bucket objects are normalised to "<bucket>/<prefix>/*": the bucket's ARN differs by stage.
API_METHODS = [
    "ANY", "v1/ANY", "v1/inferences/ANY", "v1/inferences/POST", "v1/inferences/{inference_id}/ANY",
    "v1/inferences/{inference_id}/GET", "v1/uploads/POST", "v1/models/GET", "v1/models/ANY", "{proxy+}/ANY",
    "v1/generate/stream/POST", "v1/generate/stream/ANY",
    "v1/chat/completions/POST", "v1/chat/completions/ANY",
]
NVME_VOLUME = {"AwsSolutions-SM2", "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured"}
FUNCTION_ROLE = {"AwsSolutions-IAM5[Resource::*]", "NIST.800.53.R5-IAMNoInlinePolicy"}
FUNCTION = {"NIST.800.53.R5-LambdaDLQ", "NIST.800.53.R5-LambdaInsideVPC"}
EXPECTED_ACKNOWLEDGEMENTS = {
    "AsyncInference/AccessLogs/Resource": {
        "AwsSolutions-S1",
        "NIST.800.53.R5-S3BucketLoggingEnabled",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
    },
    "AsyncInference/Input/Resource": {"NIST.800.53.R5-S3BucketReplicationEnabled"},
    "AsyncInference/Output/Resource": {"NIST.800.53.R5-S3BucketReplicationEnabled"},
    "AsyncInference/Models/Resource": {"NIST.800.53.R5-S3BucketReplicationEnabled"},
    "Streaming/StreamingEndpoint/Config": NVME_VOLUME,
    "Streaming/StreamingEndpoint/ExecutionPolicy/Resource": {"AwsSolutions-IAM5[Resource::*]"},
    "Api/Api/CloudWatchRole/Resource": {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]"
    },
    **{f"Api/Api/Default/{method}/Resource": {"AwsSolutions-COG4"} for method in API_METHODS},
    "Api/Api/DeploymentStage.api/Resource": {
        "AwsSolutions-APIG3",
        "NIST.800.53.R5-APIGWAssociatedWithWAF",
        "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted",
        "NIST.800.53.R5-APIGWSSLEnabled",
    },
    "Api/AsyncApiHandler/Default/Function/Resource": FUNCTION,
    "Api/AsyncApiHandler/Default/Role/DefaultPolicy/Resource": FUNCTION_ROLE | {
        "AwsSolutions-IAM5[Resource::<bucket>/requests/*]",
        "AwsSolutions-IAM5[Resource::<bucket>/uploads/*]",
        "AwsSolutions-IAM5[Resource::<bucket>/outputs/*]",
    },
    "Api/Default/NotificationHandler/Function/Resource": FUNCTION,
    "Api/StreamingHandler/Default/Function/Resource": FUNCTION,
    "Api/StreamingHandler/Default/Role/DefaultPolicy/Resource": FUNCTION_ROLE,
    "Api/Default/NotificationHandler/Role/DefaultPolicy/Resource": FUNCTION_ROLE,
    "Api/Default/Requests/Resource": {"NIST.800.53.R5-DynamoDBInBackupPlan"},
    "Api/Default/Idempotency/Resource": {"NIST.800.53.R5-DynamoDBInBackupPlan"},
}


def per_model(async_models: list[str], streaming_models: list[str]) -> dict[str, set[str]]:
    """Each async model's endpoint and each streaming model's component: ECR's token action, NVMe."""
    expected: dict[str, set[str]] = {}
    for name in async_models:
        expected[f"AsyncInference/{name}/Endpoint/ExecutionPolicy/Resource"] = {
            "AwsSolutions-IAM5[Resource::*]",
            "AwsSolutions-IAM5[Resource::<bucket>/requests/*]",
            "AwsSolutions-IAM5[Resource::<bucket>/uploads/*]",
            "AwsSolutions-IAM5[Resource::<bucket>/outputs/*]",
            "AwsSolutions-IAM5[Resource::<bucket>/failures/*]",
        }
        expected[f"AsyncInference/{name}/Endpoint/Config"] = NVME_VOLUME
    for name in streaming_models:
        expected[f"Streaming/{name}/Component/ExecutionPolicy/Resource"] = {"AwsSolutions-IAM5[Resource::*]"}
    return expected


# Dev's config turns point-in-time recovery off.
WITHOUT_PITR = {"NIST.800.53.R5-DynamoDBPITREnabled", "AwsSolutions-DDB3"}
EXPECTED_BY_STAGE = {
    "Dev": {
        **EXPECTED_ACKNOWLEDGEMENTS,
        **per_model(["chat"], ["chat", "small"]),
        "Api/Default/Requests/Resource": EXPECTED_ACKNOWLEDGEMENTS["Api/Default/Requests/Resource"] | WITHOUT_PITR,
        "Api/Default/Idempotency/Resource": (
            EXPECTED_ACKNOWLEDGEMENTS["Api/Default/Idempotency/Resource"] | WITHOUT_PITR
        ),
    },
    "PreProd": {**EXPECTED_ACKNOWLEDGEMENTS, **per_model(["chat"], ["chat"])},
    "Prod": {**EXPECTED_ACKNOWLEDGEMENTS, **per_model(["chat"], ["chat"])},
}


def normalised(rule: str) -> str:
    return re.sub(r"Resource::\S*?(/[a-z]+/\*)\]$", r"Resource::<bucket>\1]", rule)


def acknowledgements(assembly_dir: Path) -> list[tuple[str, str, str, str]]:
    """(stage, construct path, rule, reason) for every acknowledgement written to a template."""
    found = []
    templates = [*assembly_dir.glob("*.template.json"), *assembly_dir.glob("assembly-*/*.template.json")]
    for template_path in sorted(templates):
        stage = template_path.parent.name.removeprefix("assembly-") if template_path.parent != assembly_dir else "-"
        for resource in json.loads(template_path.read_text())["Resources"].values():
            metadata = resource.get("Metadata", {})
            for rule in metadata.get("cdk_nag", {}).get("rules_to_suppress", []):
                # Paths below the stage: "Dev/Api/..." becomes "Api/...".
                path = metadata["aws:cdk:path"].removeprefix(stage.replace("-", "/") + "/")
                found.append((stage, path, rule["id"], rule["reason"]))
    return found


def test_every_stage_passes_both_packs(synthesized):
    assert violations(synthesized.assembly_dir) == []


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_packs_find_nothing_left_in_each_stage(synthesized, stage):
    for pack in nag_packs(Stage(synthesized.app, f"Scratch{stage}")):
        report = pack.validate_scope(synthesized.stages[stage])
        assert [v.rule_name for v in report.violations] == []


def test_an_unacknowledged_finding_fails_synth(tmp_path):
    app = new_app(tmp_path)
    stage = Stage(app, "Bad")
    stack = Stack(stage, "Bad")
    s3.Bucket(stack, "Plain")
    register_nag_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    found = violations(tmp_path)
    assert "AwsSolutions: AwsSolutions-S1 at Bad/Bad/Plain/Resource" in found
    assert any(line.startswith("NIST.800.53.R5: ") for line in found)


def test_acknowledgements_are_written_to_every_stage_template(synthesized):
    """The pipeline deploys these same Stages (no copies under it), so this covers both deploy paths."""
    found = acknowledgements(synthesized.assembly_dir)
    assert {stage for stage, *_ in found} == {*STAGE_NAMES, "-"}


def test_acknowledgements_are_exactly_the_reviewed_list_with_reasons(synthesized):
    found = acknowledgements(synthesized.assembly_dir)
    for stage in STAGE_NAMES:
        by_path: dict[str, set[str]] = {}
        for found_stage, path, rule, _ in found:
            if found_stage == stage:
                by_path.setdefault(path, set()).add(normalised(rule))
        assert by_path == EXPECTED_BY_STAGE[stage], stage
    assert all(len(reason) >= 40 for *_, reason in found), "each acknowledgement needs a specific reason"


def test_list_every_acknowledgement_for_reviewers(synthesized, capsys):
    """Prints each acknowledgement once, with where it applies and why, in the test output."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    for stage, path, rule, reason in acknowledgements(synthesized.assembly_dir):
        lines.setdefault((path, rule, reason), []).append(stage)
    with capsys.disabled():
        print("\n\ncdk-nag acknowledgements (construct path | rule | stages | reason):")
        for (path, rule, reason), stages in sorted(lines.items()):
            print(f"  {path} | {rule} | {','.join(stages)} | {reason}")
    assert lines


def test_a_finding_in_a_stage_the_pipeline_deploys_fails_synth(tmp_path):
    """CDK Pipelines synthesizes a Stage when it is added, before the packs are registered on the
    App: the packs must still see every Stage the pipeline deploys."""
    from aws_cdk import Environment

    from stacks.config import load_environments, load_pipeline_config
    from stacks.pipeline_stack import PipelineStack
    from stacks.stage import InferenceStage
    from tests.stacks.conftest import shipped_config_dir

    config_dir = shipped_config_dir(tmp_path / "config")
    environments = load_environments(config_dir)
    pipeline_config = load_pipeline_config(config_dir, environments)
    app = new_app(tmp_path / "cdk.out")
    stages = {c.stage_name: InferenceStage(app, config=c) for c in environments.values()}
    s3.Bucket(stages["PreProd"].async_inference, "Plain")
    PipelineStack(
        app,
        "Pipeline",
        pipeline_config=pipeline_config,
        stages=stages,
        env=Environment(account=pipeline_config.tooling.account, region=pipeline_config.tooling.region),
    )
    register_nag_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert "AwsSolutions: AwsSolutions-S1 at PreProd/AsyncInference/Plain/Resource" in violations(tmp_path / "cdk.out")
