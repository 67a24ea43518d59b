"""cfn-lint finds no error in any synthesized template, and explains a finding in config terms."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.config import CONFIG_DIR
from stacks.template_lint import lint_assembly

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_is_cfn_lint_clean(synthesized):
    findings = lint_assembly(synthesized.assembly_dir)
    templates = {f.template for f in findings} | set(synthesized.assembly_dir.glob("assembly-*/*.template.json"))
    assert len(templates) >= 9
    assert [str(f) for f in findings if f.is_error] == []


@pytest.fixture
def assembly_with_a_bad_instance_type(tmp_path) -> tuple[Path, Path]:
    """A Dev template holding an instance type that the Dev config file (as written) sets."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    for shipped in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(shipped, config_dir)
    dev = yaml.safe_load((config_dir / "dev.yaml").read_text())
    dev["models"]["chat"]["async"]["instance_type"] = "ml.g5.2xlargee"
    (config_dir / "dev.yaml").write_text(yaml.safe_dump(dev))
    template = {
        "Resources": {
            "EndpointConfig": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.g5.2xlargee"}
                    ]
                },
                "Metadata": {"aws:cdk:path": "Dev/AsyncInference/chat/Endpoint/Config"},
            }
        }
    }
    assembly = tmp_path / "cdk.out" / "assembly-Dev"
    assembly.mkdir(parents=True)
    (assembly / "DevAsyncInference.template.json").write_text(json.dumps(template))
    return tmp_path / "cdk.out", config_dir


def test_a_finding_names_the_config_field_that_set_the_value(assembly_with_a_bad_instance_type):
    assembly_dir, config_dir = assembly_with_a_bad_instance_type
    (finding,) = [f for f in lint_assembly(assembly_dir, config_dir) if f.is_error]
    assert finding.rule == "E3030"
    assert finding.construct == "Dev/AsyncInference/chat/Endpoint/Config"
    assert finding.config_fields == ("models.chat.async.instance_type",)
    assert f"set by {config_dir / 'dev.yaml'}, field 'models.chat.async.instance_type'" in str(finding)


def test_a_finding_carries_the_rules_explanation_and_a_near_miss_not_the_whole_list(assembly_with_a_bad_instance_type):
    assembly_dir, config_dir = assembly_with_a_bad_instance_type
    (finding,) = [f for f in lint_assembly(assembly_dir, config_dir) if f.is_error]
    text = str(finding)
    assert "E3030: Check if properties have a valid value" in text
    assert "did you mean 'ml.g5.2xlarge'" in text
    assert "ml.c4.2xlarge" not in text and len(text) < 800


def test_synth_step_fails_on_an_error_and_prints_it(assembly_with_a_bad_instance_type):
    assembly_dir, config_dir = assembly_with_a_bad_instance_type
    result = subprocess.run(
        [sys.executable, "-m", "stacks.template_lint", str(assembly_dir), str(config_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cfn-lint E3030 at Dev/AsyncInference/chat/Endpoint/Config")
    assert "Traceback" not in result.stderr
