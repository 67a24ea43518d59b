"""The promotion pipeline: what runs in which order, where each stage deploys, the smoke test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from stacks.config import load_all, load_pipeline_config
from stacks.pipeline_stack import SMOKE_TEST_SETUP_MINUTES, pinned_cli_version

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_CONFIG = load_pipeline_config()
CONFIGS = {c.stage_name: c for c in load_all()}


@pytest.fixture(scope="module")
def pipeline(synthesized) -> Template:
    return Template.from_stack(synthesized.pipeline)


@pytest.fixture(scope="module")
def stages(pipeline) -> list[dict]:
    (resource,) = pipeline.find_resources("AWS::CodePipeline::Pipeline").values()
    return resource["Properties"]["Stages"]


def stage_named(stages: list[dict], name: str) -> dict:
    return next(s for s in stages if s["Name"] == name)


def buildspec(pipeline: Template, project_prefix: str) -> dict:
    (project,) = [
        p for i, p in pipeline.find_resources("AWS::CodeBuild::Project").items() if i.startswith(project_prefix)
    ]
    return json.loads(project["Properties"]["Source"]["BuildSpec"])


def test_stages_run_source_build_self_update_then_dev_preprod_prod(stages):
    names = [s["Name"] for s in stages]
    assert names[:3] == ["Source", "Build", "UpdatePipeline"]
    assert [n for n in names if n in {"Dev", "PreProd", "Prod"}] == ["Dev", "PreProd", "Prod"]


def test_prod_waits_for_a_manual_approval_before_any_deployment(stages):
    actions = sorted(stage_named(stages, "Prod")["Actions"], key=lambda a: a["RunOrder"])
    assert actions[0]["ActionTypeId"]["Category"] == "Approval"
    assert actions[0]["Name"] == "PromoteToProd"
    assert all(a["RunOrder"] > actions[0]["RunOrder"] for a in actions[1:])
    assert {a["ActionTypeId"]["Category"] for a in actions[1:]} == {"Build", "Deploy"}


def test_preprod_runs_the_smoke_test_after_every_deployment(stages):
    actions = stage_named(stages, "PreProd")["Actions"]
    (smoke,) = [a for a in actions if a["Name"] == "SmokeTestPreProd"]
    deploys = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy"]
    assert deploys and all(smoke["RunOrder"] > a["RunOrder"] for a in deploys)
    variables = json.loads(smoke["Configuration"]["EnvironmentVariables"])
    (api_url,) = [v for v in variables if v["name"] == "API_URL"]
    assert "ApiUrl" in api_url["value"], "the smoke test gets the freshly deployed API's URL"


def test_smoke_test_runs_the_smoke_script_against_the_api(pipeline):
    commands = buildspec(pipeline, "PipelinePreProdSmokeTestPreProd")["phases"]["build"]["commands"]
    assert commands == ["make cli", '.venv/bin/python scripts/smoke_test.py "$API_URL"']


def test_smoke_test_budget_ends_before_its_codebuild_timeout(pipeline):
    (project,) = [
        p for i, p in pipeline.find_resources("AWS::CodeBuild::Project").items() if i.startswith("PipelinePreProdSmokeTest")
    ]
    (budget,) = [
        v for v in project["Properties"]["Environment"]["EnvironmentVariables"] if v["Name"] == "SMOKE_TEST_BUDGET_SECONDS"
    ]
    budget_minutes = PIPELINE_CONFIG.smoke_test_timeout_minutes
    assert int(budget["Value"]) == budget_minutes * 60
    assert project["Properties"]["TimeoutInMinutes"] == budget_minutes + SMOKE_TEST_SETUP_MINUTES


def test_smoke_test_may_invoke_only_the_preprod_api_stage(pipeline):
    preprod = CONFIGS["PreProd"]
    statements = [
        s for p in pipeline.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "execute-api:Invoke"
    ]
    (statement,) = statements
    assert statement["Resource"] == f"arn:aws:execute-api:{preprod.region}:{preprod.account}:*/api/*"


def test_preprod_api_lets_the_tooling_account_invoke_it(synthesized):
    api = synthesized.template("PreProd", "api")
    (rest_api,) = api.find_resources("AWS::ApiGateway::RestApi").values()
    (statement,) = rest_api["Properties"]["Policy"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert PIPELINE_CONFIG.tooling.account in json.dumps(statement["Principal"])


@pytest.mark.parametrize("name", ["Dev", "PreProd", "Prod"])
def test_each_stage_deploys_to_the_account_and_region_of_its_config(stages, name):
    expected = CONFIGS[name]
    deploys = [a for a in stage_named(stages, name)["Actions"] if a["ActionTypeId"]["Category"] == "Deploy"]
    assert len(deploys) == 8, "prepare and deploy for each of the four stacks"
    for action in deploys:
        role = json.dumps(action["RoleArn"])
        assert f":iam::{expected.account}:role/cdk-" in role and f"-{expected.region}" in role


def test_synth_step_tests_before_it_synthesizes(pipeline):
    spec = buildspec(pipeline, "PipelineBuildSynthAndTest")
    assert spec["phases"]["build"]["commands"] == ["make test", "make synth"]
    assert spec["artifacts"]["base-directory"] == "cdk.out"


def test_self_mutation_uses_the_cli_version_pinned_in_package_json(pipeline):
    assert pinned_cli_version() == json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    spec = buildspec(pipeline, "PipelineUpdatePipelineSelfMutation")
    assert spec["phases"]["install"]["commands"] == [f"npm install -g aws-cdk@{pinned_cli_version()}"]


def test_artifacts_use_a_rotating_cross_account_key_and_a_logged_versioned_bucket(pipeline):
    keys = pipeline.find_resources("AWS::KMS::Key")
    assert keys and all(k["Properties"]["EnableKeyRotation"] for k in keys.values())
    (artifacts,) = [b for i, b in pipeline.find_resources("AWS::S3::Bucket").items() if i.startswith("PipelineArtifactsBucket")]
    assert artifacts["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert artifacts["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "artifacts/"


def test_pipeline_runs_in_the_tooling_account(synthesized):
    pipeline = synthesized.pipeline
    assert (pipeline.account, pipeline.region) == (PIPELINE_CONFIG.tooling.account, PIPELINE_CONFIG.tooling.region)


def deploy_actions(stages: list[dict], name: str) -> dict[str, dict]:
    """The pipeline's CloudFormation actions of one wave, by stack name."""
    return {
        a["Configuration"]["StackName"]: a
        for a in stage_named(stages, name)["Actions"]
        if a["ActionTypeId"]["Provider"] == "CloudFormation" and "TemplatePath" in a["Configuration"]
    }


PIPELINE_ENVIRONMENTS = [(wave.name, name) for wave in PIPELINE_CONFIG.waves for name in wave.environments]


@pytest.mark.parametrize(("wave", "name"), PIPELINE_ENVIRONMENTS, ids=[name for _, name in PIPELINE_ENVIRONMENTS])
def test_pipeline_deploys_the_same_templates_as_make_deploy(synthesized, stages, wave, name):
    """One definition per environment: `make deploy STAGE=X` (cdk deploy "X/*") and the pipeline deploy
    the same template files, so either path updates what the other created with nothing replaced."""
    laptop_files = {
        stack.stack_name: f"assembly-{name}/{stack.template_file}"
        for stack in synthesized.stages[name].node.children
        if isinstance(stack, Stack)
    }
    prefix = f"{CONFIGS[name].resource_prefix}-"
    pipeline_files = {
        stack_name: action["Configuration"]["TemplatePath"].split("::", 1)[1]
        for stack_name, action in deploy_actions(stages, wave).items()
        if stack_name.startswith(prefix)
    }
    assert set(pipeline_files) == set(laptop_files), "same stack names"
    assert pipeline_files == laptop_files, "the very same template files"
    for path in pipeline_files.values():
        assert (synthesized.assembly_dir / path).is_file()


def test_no_stage_is_synthesized_twice(synthesized):
    """A second copy of a Stage under the pipeline would get other logical ids for the same stacks."""
    assemblies = {p.name for p in synthesized.assembly_dir.glob("assembly-*")}
    assert {f"assembly-{name}" for name in synthesized.stages} <= assemblies
    assert not [name for name in assemblies if name.startswith("assembly-Pipeline")]


def source_action_role_statements(pipeline: Template) -> list[dict]:
    statements = []
    for logical_id, policy in pipeline.find_resources("AWS::IAM::Policy").items():
        if logical_id.startswith("PipelineSource"):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions_on(statements: list[dict], resource: str) -> set[str]:
    found = set()
    for statement in statements:
        if statement["Resource"] == resource:
            actions = statement["Action"]
            found |= set(actions if isinstance(actions, list) else [actions])
    return found


def test_source_action_may_use_a_codeconnections_connection(pipeline):
    assert PIPELINE_CONFIG.connection_arn.startswith("arn:aws:codeconnections:")
    actions = actions_on(source_action_role_statements(pipeline), PIPELINE_CONFIG.connection_arn)
    assert "codeconnections:UseConnection" in actions


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_deployment_waits_for_the_preflight_of_its_environment(stages, name):
    actions = next(s for s in stages if any(a["Name"] == f"Preflight{name}" for a in s["Actions"]))["Actions"]
    (preflight,) = [a for a in actions if a["Name"] == f"Preflight{name}"]
    deploys = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy" and a["Name"].startswith(CONFIGS[name].resource_prefix)]
    assert deploys and all(a["RunOrder"] > preflight["RunOrder"] for a in deploys)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_preflight_checks_orphans_then_quotas_through_the_bootstrap_lookup_role_only(pipeline, name):
    config = CONFIGS[name]
    role = f"arn:aws:iam::{config.account}:role/cdk-hnb659fds-lookup-role-{config.account}-{config.region}"
    (project,) = [
        p for i, p in pipeline.find_resources("AWS::CodeBuild::Project").items() if f"Preflight{name}" in i
    ]
    spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"][-2:] == [
        f".venv/bin/python -m ops orphans --stage {name} --role-arn {role} --assembly cdk.out",
        f".venv/bin/python -m ops preflight --stage {name} --role-arn {role}",
    ]
    statements = [
        statement
        for policy in pipeline.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "sts:AssumeRole" and role in json.dumps(statement["Resource"])
    ]
    assert statements and all(statement["Resource"] == role for statement in statements)


def test_s3_may_deliver_the_artifact_buckets_access_logs_and_only_those(pipeline):
    (artifacts_id,) = [
        i for i, b in pipeline.find_resources("AWS::S3::Bucket").items()
        if b["Properties"].get("LoggingConfiguration", {}).get("LogFilePrefix") == "artifacts/"
    ]
    log_bucket = pipeline.find_resources("AWS::S3::Bucket")[artifacts_id]["Properties"]["LoggingConfiguration"][
        "DestinationBucketName"
    ]["Ref"]
    (policy,) = [
        p for p in pipeline.find_resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": log_bucket}
    ]
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    # S3 user guide, "Enabling Amazon S3 server access logging": the logging service principal,
    # scoped to the source bucket and account.
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::GetAtt": [artifacts_id, "Arn"]}}
    assert "aws:SourceAccount" in allow["Condition"]["StringEquals"]
