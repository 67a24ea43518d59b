"""`make sandbox NAME=...` writes a personal environment: agnostic, scale to zero, short-lived, never piped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import load_environment_config, load_pipeline_config
from tests.stacks.conftest import shipped_config_dir

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "new_sandbox.py"


@pytest.fixture
def config_dir(tmp_path) -> Path:
    return shipped_config_dir(tmp_path)


def new_sandbox(config_dir: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), name, "--config-dir", str(config_dir)], capture_output=True, text=True, timeout=60
    )


def test_writes_a_sandbox_of_its_own_name_and_prefix(config_dir):
    result = new_sandbox(config_dir, "alice")
    assert result.returncode == 0, result.stderr
    config = load_environment_config(config_dir / "sandbox-alice.yaml")
    assert (config.stage_name, config.resource_prefix, config.sandbox) == ("SandboxAlice", "llm-sbx-alice", True)
    assert "make deploy STAGE=SandboxAlice" in result.stdout


def test_a_sandbox_is_environment_agnostic_scales_to_zero_and_keeps_little(config_dir):
    new_sandbox(config_dir, "alice")
    config = load_environment_config(config_dir / "sandbox-alice.yaml")
    assert config.account is None and config.region is None
    assert all(model.async_.scaling.min_capacity == 0 for model in config.async_models.values())
    assert config.streaming_endpoint.scale_to_zero
    assert config.storage.removal_policy == "destroy" and config.storage.log_retention_days <= 7
    assert not config.api.point_in_time_recovery


def test_a_sandbox_stays_out_of_the_pipeline(config_dir):
    new_sandbox(config_dir, "alice")
    waves = load_pipeline_config(config_dir).waves
    assert all("SandboxAlice" not in wave.environments for wave in waves)


def test_an_existing_sandbox_is_never_overwritten(config_dir):
    new_sandbox(config_dir, "alice")
    (config_dir / "sandbox-alice.yaml").write_text((config_dir / "sandbox-alice.yaml").read_text() + "# mine\n")
    result = new_sandbox(config_dir, "alice")
    assert result.returncode == 1 and "already exists" in result.stderr
    assert (config_dir / "sandbox-alice.yaml").read_text().endswith("# mine\n")


@pytest.mark.parametrize("name", ["Alice", "alice-b", "averyverylongname", ""])
def test_a_name_that_cannot_make_a_stage_name_is_refused_with_the_rule(config_dir, name):
    result = new_sandbox(config_dir, name)
    assert result.returncode != 0
    assert "1-9 lowercase letters or digits" in result.stderr and "Traceback" not in result.stderr
