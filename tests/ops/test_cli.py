"""`python -m ops`: what an operator sees when something is missing, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.stacks.conftest import ROOT


def run_ops(*args: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "ops", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_without_credentials_an_aws_command_says_so_in_one_line():
    result = run_ops("preflight", "--stage", "Dev")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: preflight: Unable to locate credentials"


def test_an_unknown_stage_names_the_environments():
    result = run_ops("pause", "--stage", "Dve")
    assert result.returncode == 1
    assert "error: no environment named 'Dve'; choose one of: Dev, " in result.stderr
    assert "Traceback" not in result.stderr
