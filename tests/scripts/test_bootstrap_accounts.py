"""scripts/bootstrap-accounts.sh bootstraps the tooling account and makes every workload trust it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stacks.config import load_all, load_pipeline_config

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap-accounts.sh"
PROFILES = ["--tooling-profile", "t", "--dev-profile", "d", "--preprod-profile", "pp", "--prod-profile", "p"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_dry_run_bootstraps_tooling_then_each_workload_trusting_it():
    result = run(*PROFILES, "--dry-run")
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if line.startswith("node_modules/.bin/cdk bootstrap")]
    pipeline = load_pipeline_config()
    _, preprod, prod = load_all()
    tooling = pipeline.tooling.account
    expected = [
        (f"aws://{tooling}/{pipeline.tooling.region}", "t", False),
        (f"aws://{pipeline.dev.account}/{pipeline.dev.region}", "d", True),
        (f"aws://{preprod.account}/{preprod.region}", "pp", True),
        (f"aws://{prod.account}/{prod.region}", "p", True),
    ]
    assert len(commands) == len(expected)
    for command, (target, profile, trusts) in zip(commands, expected):
        words = command.split()
        assert words[2] == target and words[words.index("--profile") + 1] == profile
        assert (f"--trust {tooling}" in command) is trusts
        assert (f"--trust-for-lookup {tooling}" in command) is trusts


def test_a_missing_profile_is_named():
    result = run("--tooling-profile", "t", "--dry-run")
    assert result.returncode == 2
    assert "--dev-profile is required" in result.stderr
