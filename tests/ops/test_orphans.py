"""A part turned off in config is caught before the deploy leaves its stack running."""

from __future__ import annotations

import json

import pytest

from ops.orphans import orphaned, refusal, stage_stack_names
from tests.moto_aws import client

TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


@pytest.fixture(scope="module")
def cloudformation(moto_url):
    return client(moto_url, "cloudformation")


@pytest.fixture
def prefix(request) -> str:
    """moto keeps stacks per process: each test deploys under a prefix of its own."""
    return f"t{abs(hash(request.node.name)) % 10**8}"


def deploy(cloudformation, *names: str) -> None:
    for name in names:
        cloudformation.create_stack(StackName=name, TemplateBody=TEMPLATE)


def test_a_stack_whose_part_was_turned_off_is_orphaned(cloudformation, prefix):
    deploy(cloudformation, f"{prefix}-async-inference", f"{prefix}-streaming", f"{prefix}-api")
    expected = {f"{prefix}-async-inference", f"{prefix}-api"}
    assert orphaned(cloudformation, resource_prefix=prefix, expected=expected) == [f"{prefix}-streaming"]


def test_a_part_turned_back_on_is_no_longer_orphaned(cloudformation, prefix):
    deploy(cloudformation, f"{prefix}-async-inference", f"{prefix}-streaming")
    expected = {f"{prefix}-async-inference", f"{prefix}-streaming", f"{prefix}-api"}
    assert orphaned(cloudformation, resource_prefix=prefix, expected=expected) == []


def test_a_deleted_stack_and_other_environments_stacks_are_not_orphans(cloudformation, prefix):
    deploy(cloudformation, f"{prefix}-streaming", f"{prefix}x-streaming", f"other-{prefix}-streaming")
    cloudformation.delete_stack(StackName=f"{prefix}-streaming")
    assert orphaned(cloudformation, resource_prefix=prefix, expected=set()) == []


def test_the_stacks_of_an_environment_whose_prefix_extends_this_ones_are_not_orphans(cloudformation, prefix):
    # llm-dev and llm-dev-eu in one account: the refusal must never name the other's stack.
    deploy(cloudformation, f"{prefix}-eu-streaming", f"{prefix}-eu-api", f"{prefix}-api")
    assert orphaned(cloudformation, resource_prefix=prefix, expected=set()) == [f"{prefix}-api"]


def test_the_refusal_names_the_command_that_removes_each_orphan():
    message = refusal("Dev", "eu-west-1", ["llm-dev-streaming"])
    assert "aws cloudformation delete-stack --region eu-west-1 --stack-name llm-dev-streaming" in message


def test_the_expected_stacks_are_read_from_the_synthesized_stage(tmp_path):
    stage = tmp_path / "assembly-Dev"
    stage.mkdir()
    (stage / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "DevApi": {"type": "aws:cloudformation:stack", "properties": {"stackName": "llm-dev-api"}},
                    "DevApi.assets": {"type": "cdk:asset-manifest", "properties": {"file": "x"}},
                }
            }
        )
    )
    assert stage_stack_names(tmp_path, "Dev") == {"llm-dev-api"}
