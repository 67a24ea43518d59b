"""`python -m ops`: what an operator sees when something is missing, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3

from tests.moto_aws import REGION, client
from tests.ops.test_orphans import TEMPLATE
from tests.stacks.conftest import ROOT


def run_ops(*args: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    extra = environment or {}
    environment = {
        **os.environ,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        environment.pop(name, None)
    environment.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "ops", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_without_credentials_an_aws_command_says_so_in_one_line():
    result = run_ops("pause", "--stage", "Dev", "--region", REGION)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: pause: Unable to locate credentials"


def test_preflight_refuses_an_environment_whose_alarms_go_to_a_placeholder_address():
    # The shipped configs' platform-oncall@example.com: nobody would hear of an alarm.
    result = run_ops("preflight", "--stage", "Prod")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: Prod: alarms.email lists platform-oncall@example.com, a placeholder (RFC 2606 reserved domain)"
    )


def test_an_unknown_stage_names_the_environments():
    result = run_ops("pause", "--stage", "Dve")
    assert result.returncode == 1
    assert "error: no environment named 'Dve'; choose one of: Dev, " in result.stderr
    assert "Traceback" not in result.stderr


def test_orphans_reads_the_environments_account_through_the_role_it_is_given(moto_url, tmp_path):
    # The pipeline's preflight runs in the tooling account: the leftover stack exists only in the
    # environment's account, reached through its bootstrap lookup role.
    role = "arn:aws:iam::111111111111:role/cdk-hnb659fds-lookup-role-111111111111-eu-west-1"
    assumed = client(moto_url, "sts").assume_role(RoleArn=role, RoleSessionName="arrange")["Credentials"]
    target = boto3.client(
        "cloudformation", endpoint_url=moto_url, region_name=REGION, aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"], aws_session_token=assumed["SessionToken"],
    )
    target.create_stack(StackName="llm-dev-streaming", TemplateBody=TEMPLATE)
    stage = tmp_path / "assembly-Dev"
    stage.mkdir()
    (stage / "manifest.json").write_text(json.dumps({"artifacts": {}}))
    try:
        result = run_ops("orphans", "--stage", "Dev", "--region", REGION, "--role-arn", role,
                         "--assembly", str(tmp_path), environment={"AWS_ENDPOINT_URL": moto_url,
                                                                  "AWS_ACCESS_KEY_ID": "test",
                                                                  "AWS_SECRET_ACCESS_KEY": "test"})
    finally:
        target.delete_stack(StackName="llm-dev-streaming")

    assert result.returncode == 1
    assert f"aws cloudformation delete-stack --region {REGION} --stack-name llm-dev-streaming" in result.stderr
