"""cdk-nag runs on every Stage, fails synth on a finding, and every acknowledgement is visible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Stack, Stage
from aws_cdk import aws_s3 as s3

from stacks.nag import nag_packs, register_nag_packs
from stacks.validation import violations
from tests.stacks.conftest import STAGE_NAMES, new_app

# Every acknowledgement in the app, by construct path below its stack. A new one fails this test
# until it is reviewed and added here; its reason is printed by the listing test below.
EXPECTED_ACKNOWLEDGEMENTS = {
    "AccessLogs/Resource": {
        "AwsSolutions-S1",
        "NIST.800.53.R5-S3BucketLoggingEnabled",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
    },
    "Input/Resource": {"NIST.800.53.R5-S3BucketReplicationEnabled"},
    "Output/Resource": {"NIST.800.53.R5-S3BucketReplicationEnabled"},
    "AsyncEndpoint/ExecutionPolicy/Resource": {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::<Input49F21B70.Arn>/requests/*]",
        "AwsSolutions-IAM5[Resource::<Input49F21B70.Arn>/uploads/*]",
        "AwsSolutions-IAM5[Resource::<OutputAB65CDDE.Arn>/outputs/*]",
        "AwsSolutions-IAM5[Resource::<OutputAB65CDDE.Arn>/failures/*]",
    },
    "AsyncEndpoint/Config": {
        "AwsSolutions-SM2",
        "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
    },
}


def acknowledgements(assembly_dir: Path) -> list[tuple[str, str, str, str]]:
    """(stage, construct path, rule, reason) for every acknowledgement written to a template."""
    found = []
    for template_path in sorted(assembly_dir.glob("assembly-*/*.template.json")):
        stage = template_path.parent.name.removeprefix("assembly-")
        for resource in json.loads(template_path.read_text())["Resources"].values():
            metadata = resource.get("Metadata", {})
            for rule in metadata.get("cdk_nag", {}).get("rules_to_suppress", []):
                path = metadata["aws:cdk:path"].split("/", 2)[2]
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
    register_nag_packs(app, [stage])
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    found = violations(tmp_path)
    assert "AwsSolutions: AwsSolutions-S1 at Bad/Bad/Plain/Resource" in found
    assert any(line.startswith("NIST.800.53.R5: ") for line in found)


def test_acknowledgements_are_written_to_every_stage_template(synthesized):
    found = acknowledgements(synthesized.assembly_dir)
    assert {stage for stage, *_ in found} == set(STAGE_NAMES)


def test_acknowledgements_are_exactly_the_reviewed_list_with_reasons(synthesized):
    found = acknowledgements(synthesized.assembly_dir)
    for stage in STAGE_NAMES:
        by_path: dict[str, set[str]] = {}
        for found_stage, path, rule, _ in found:
            if found_stage == stage:
                by_path.setdefault(path, set()).add(rule)
        assert by_path == EXPECTED_ACKNOWLEDGEMENTS, stage
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
