"""Environments are data: a new file is a new Stage, pipeline.yaml places it in a wave, no code changes.

The app is built from a temporary config directory (the `config_dir` context key, as
`cdk synth -c config_dir=...` passes it) holding the shipped files plus a fifth environment
(Staging, deployed in parallel with Dev, behind an approval), a developer's sandbox, and a
connection from before the CodeStar Connections rename.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from aws_cdk.assertions import Template

from app import build_app
from stacks.config import CONFIG_DIR
from stacks.pipeline_stack import PipelineStack
from stacks.stage import InferenceStage
from tests.stacks.conftest import cdk_context, shipped_config_dir

ROOT = Path(__file__).resolve().parents[2]
OLD_CONNECTION = "arn:aws:codestar-connections:eu-west-1:444444444444:connection/00000000-0000-4000-8000-000000000000"


@dataclass
class Organisation:
    stages: dict[str, InferenceStage]
    pipeline: PipelineStack
    pipeline_stages: list[dict]
    template: Template


@pytest.fixture(scope="module")
def organisation(tmp_path_factory) -> Organisation:
    config_dir = shipped_config_dir(tmp_path_factory.mktemp("config"))
    # What a platform engineer does: copy a file, change its names and account.
    staging = (CONFIG_DIR / "dev.yaml").read_text()
    staging = staging.replace("stage_name: Dev", "stage_name: Staging").replace("llm-dev", "llm-staging")
    (config_dir / "staging.yaml").write_text(staging.replace('"111111111111"', '"555555555555"'))
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "new_sandbox.py"), "alice", "--config-dir", str(config_dir)],
        check=True,
        capture_output=True,
    )
    pipeline = yaml.safe_load((config_dir / "pipeline.yaml").read_text())
    pipeline["connection_arn"] = OLD_CONNECTION
    pipeline["waves"][0] = {"name": "Dev", "environments": ["Dev", "Staging"], "approval": True}
    (config_dir / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))

    from aws_cdk import App

    app = App(context={**cdk_context(), "config_dir": str(config_dir)}, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stages, pipeline_stack = build_app(app)
    template = Template.from_stack(pipeline_stack)
    (resource,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    return Organisation(
        stages={s.config.stage_name: s for s in stages},
        pipeline=pipeline_stack,
        pipeline_stages=resource["Properties"]["Stages"],
        template=template,
    )


def deployed_stacks(organisation: Organisation, wave: str) -> dict[str, int]:
    """Stack name -> run order of its Deploy action, in one pipeline stage (wave)."""
    (stage,) = [s for s in organisation.pipeline_stages if s["Name"] == wave]
    return {
        a["Configuration"]["StackName"]: a["RunOrder"]
        for a in stage["Actions"]
        if a["ActionTypeId"]["Category"] == "Deploy" and a["Name"].endswith(".Deploy")
    }


def test_a_new_file_and_a_sandbox_become_stages(organisation):
    assert set(organisation.stages) == {"Dev", "PreProd", "Prod", "Staging", "SandboxAlice"}
    assert organisation.stages["Staging"].api.stack_name == "llm-staging-api"
    assert organisation.stages["SandboxAlice"].async_inference.stack_name == "llm-sbx-alice-async-inference"


def test_a_new_environment_deploys_in_parallel_with_the_others_of_its_wave(organisation):
    deploys = deployed_stacks(organisation, "Dev")
    assert deploys["llm-staging-async-inference"] == deploys["llm-dev-async-inference"]
    assert deploys["llm-staging-api"] == deploys["llm-dev-api"]


def test_a_new_environment_deploys_to_the_account_of_its_file(organisation):
    (stage,) = [s for s in organisation.pipeline_stages if s["Name"] == "Dev"]
    staging = [a for a in stage["Actions"] if a["Configuration"].get("StackName", "").startswith("llm-staging")]
    assert staging and all(":iam::555555555555:role/cdk-" in json.dumps(a["RoleArn"]) for a in staging)


def test_approval_comes_from_the_wave_in_config(organisation):
    (stage,) = [s for s in organisation.pipeline_stages if s["Name"] == "Dev"]
    first = min(stage["Actions"], key=lambda a: a["RunOrder"])
    assert (first["Name"], first["ActionTypeId"]["Category"]) == ("PromoteToDev", "Approval")


def test_a_sandbox_never_enters_the_pipeline(organisation):
    stacks = {name for stage in organisation.pipeline_stages for name in deployed_stacks(organisation, stage["Name"])}
    assert stacks and not any(name.startswith("llm-sbx-") for name in stacks)


def test_source_action_uses_the_old_prefix_for_an_old_connection(organisation):
    actions = set()
    for logical_id, policy in organisation.template.find_resources("AWS::IAM::Policy").items():
        if logical_id.startswith("PipelineSource"):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if statement["Resource"] == OLD_CONNECTION:
                    actions |= set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    assert actions == {"codestar-connections:UseConnection"}


def test_an_environment_agnostic_sandbox_finds_its_image_registry_per_region_at_deploy_time(organisation):
    template = Template.from_stack(organisation.stages["SandboxAlice"].async_inference)
    (model,) = template.find_resources("AWS::SageMaker::Model").values()
    parts = model["Properties"]["PrimaryContainer"]["Image"]["Fn::Join"][1]
    assert any(isinstance(p, dict) and p.get("Fn::FindInMap", [None, None])[1] == {"Ref": "AWS::Region"} for p in parts)
    assert {"Ref": "AWS::Region"} in parts
    assert not any(isinstance(p, str) and "us-east-1" in p for p in parts)
