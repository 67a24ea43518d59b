"""The terminal: `make` lists the targets, STAGE is checked before cdk runs, jsii never runs on Node 20."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import load_all
from tests.stacks.conftest import shipped_config_dir

ROOT = Path(__file__).resolve().parents[2]
STAGES = [c.stage_name for c in load_all()]


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def phony_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return {t for line in text.splitlines() if line.startswith(".PHONY:") for t in line.removeprefix(".PHONY:").split()}


def test_make_alone_lists_every_target_one_line_each():
    result = make()
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^  make (\S+) +\S", result.stdout, flags=re.MULTILINE)
    assert sorted(listed) == sorted(phony_targets())
    assert len(result.stdout.splitlines()) == len(listed)


@pytest.mark.parametrize("target", ["deploy", "diff", "destroy"])
def test_a_stage_target_without_stage_names_the_choices_before_running_cdk(target):
    result = make(target)
    assert result.returncode == 2
    assert f"make {target} needs STAGE=<name>, one of: {', '.join(STAGES)}" in result.stderr
    assert "cdk" not in result.stdout and "No stacks match" not in result.stderr


def test_an_unknown_stage_gets_the_near_miss():
    result = make("deploy", "STAGE=Prdo")
    assert result.returncode == 2
    assert "STAGE=Prdo names no environment in config; did you mean 'Prod'" in result.stderr


def test_make_ls_lists_each_environment_with_its_file_target_and_wave():
    result = make("ls")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == set(STAGES)
    assert "config/preprod.yaml" in rows["PreProd"] and "222222222222/eu-west-1" in rows["PreProd"]
    assert "wave Prod" in rows["Prod"]


@pytest.mark.skipif(not shutil.which("node", path="/usr/bin:/bin"), reason="no system Node.js to fall back to")
def test_jsii_runs_on_the_pinned_node_even_when_the_system_node_comes_first():
    """What `cdk synth` run by hand (system Node first on PATH) starts: the app, then jsii."""
    env = {k: v for k, v in os.environ.items() if k != "JSII_NODE"}
    env["PATH"] = "/usr/bin:/bin"
    script = "from stacks.toolchain import use_pinned_node; use_pinned_node(); import aws_cdk; print(aws_cdk.App().node.id == '')"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr and "running on node v20" not in result.stderr


def test_the_environment_table_says_which_environments_the_pipeline_never_deploys(tmp_path):
    config_dir = shipped_config_dir(tmp_path)
    staging = (config_dir / "dev.yaml").read_text().replace("stage_name: Dev", "stage_name: Staging")
    (config_dir / "staging.yaml").write_text(staging.replace("llm-dev", "llm-staging"))
    subprocess.run([sys.executable, str(ROOT / "scripts" / "new_sandbox.py"), "bob", "--config-dir", str(config_dir)], check=True)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "environments.py"), "--config-dir", str(config_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "never (make deploy only)" in rows["Staging"]
    assert "never (sandbox)" in rows["SandboxBob"] and "your credentials' account" in rows["SandboxBob"]


def test_deploy_checks_for_orphaned_parts_and_quotas_before_it_deploys_what_it_synthesized():
    result = make("-n", "deploy", "STAGE=Dev")
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if "/cdk " in line or " -m ops " in line]
    assert [next(word for word in ("synth", "orphans", "preflight", "deploy") if word in step) for step in steps] == [
        "synth",
        "orphans",
        "preflight",
        "deploy",
    ]
    assert "deploy --app cdk.out" in steps[-1]


def test_preflight_can_be_skipped_on_purpose():
    result = make("-n", "deploy", "STAGE=Dev", "PREFLIGHT=skip")
    assert result.returncode == 0, result.stderr
    assert "ops preflight" not in result.stdout
