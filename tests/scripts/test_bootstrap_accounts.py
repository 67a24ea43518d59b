"""scripts/bootstrap-accounts.sh bootstraps the tooling account and every account the pipeline deploys to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from stacks.config import CONFIG_DIR, load_environments, load_pipeline_config

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap-accounts.sh"
PROFILES = ["--tooling-profile", "t", "--profile", "Dev=d", "--profile", "PreProd=pp", "--profile", "Prod=p"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def bootstrap_commands(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line.startswith("node_modules/.bin/cdk bootstrap")]


def test_dry_run_bootstraps_tooling_then_each_pipeline_environment_trusting_it():
    result = run(*PROFILES, "--dry-run")
    assert result.returncode == 0, result.stderr
    pipeline = load_pipeline_config()
    configs = {c.stage_name: c for c in load_environments().values()}
    tooling = pipeline.tooling.account
    expected = [(f"aws://{tooling}/{pipeline.tooling.region}", "t", False)] + [
        (f"aws://{configs[name].account}/{configs[name].region}", profile, True)
        for name, profile in (("Dev", "d"), ("PreProd", "pp"), ("Prod", "p"))
    ]
    commands = bootstrap_commands(result.stdout)
    assert len(commands) == len(expected)
    for words, (target, profile, trusts) in zip(commands, expected):
        command = " ".join(words)
        assert words[2] == target and words[words.index("--profile") + 1] == profile
        assert (f"--trust {tooling}" in command) is trusts
        assert (f"--trust-for-lookup {tooling}" in command) is trusts


def test_an_environment_added_to_a_wave_is_bootstrapped_without_code_changes(tmp_path):
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    staging = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    staging.update(stage_name="Staging", resource_prefix="llm-staging", account="555555555555")
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(staging))
    pipeline = yaml.safe_load((CONFIG_DIR / "pipeline.yaml").read_text())
    pipeline["waves"][0]["environments"].append("Staging")
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    result = run(*PROFILES, "--profile", "Staging=s", "--dry-run", "--config-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    targets = [(words[2], words[words.index("--profile") + 1]) for words in bootstrap_commands(result.stdout)]
    assert ("aws://555555555555/eu-west-1", "s") in targets


def test_a_missing_profile_is_named_with_the_stage_it_is_for():
    result = run("--tooling-profile", "t", "--profile", "Dev=d", "--dry-run")
    assert result.returncode == 2
    assert "--profile PreProd=PROFILE --profile Prod=PROFILE" in result.stderr


def test_a_config_error_stops_the_script_with_the_message_and_no_traceback(tmp_path):
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    pipeline = yaml.safe_load((CONFIG_DIR / "pipeline.yaml").read_text())
    pipeline["waves"][0]["environments"] = ["Deb"]
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    result = run(*PROFILES, "--dry-run", "--config-dir", str(tmp_path))
    assert result.returncode != 0
    assert "did you mean 'Dev'?" in result.stderr and "Traceback" not in result.stderr
