"""Each part of an environment can be turned off (and on again) in config, without orphaning a stack.

Turning a part off removes its stack from the Stage; `make deploy` then refuses while the old
stack is still deployed (ops orphans, checked here against CloudFormation's wire protocol in moto),
naming the command that removes it. Turning it back on simply creates it again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Template

from ops.orphans import orphaned, stage_stack_names
from stacks.config import CONFIG_DIR, ConfigError, parse_environment_config
from stacks.stage import InferenceStage
from tests.moto_aws import client, moto_server
from tests.stacks.conftest import cdk_context

DEV = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())


def dev_with(change) -> dict:
    data = json.loads(json.dumps(DEV))
    change(data)
    return data


def without_streaming(data: dict) -> None:
    for model in data["models"].values():
        model.pop("streaming", None)
    data["models"] = {name: model for name, model in data["models"].items() if "async" in model}
    del data["streaming_endpoint"]


def without_async(data: dict) -> None:
    for model in data["models"].values():
        model.pop("async", None)


def without_api(data: dict) -> None:
    data["api"] = {"enabled": False}


def synthesize(data: dict, outdir: Path) -> tuple[InferenceStage, Path]:
    app = App(context=cdk_context(), outdir=str(outdir))
    stage = InferenceStage(app, config=parse_environment_config(data, "config/dev.yaml"))
    return stage, Path(app.synth().directory)


def test_the_shipped_dev_config_has_every_part(tmp_path):
    stage, _ = synthesize(DEV, tmp_path)
    assert stage.streaming is not None and stage.api is not None
    assert Template.from_stack(stage.async_inference).find_resources("AWS::SageMaker::Endpoint")


def test_an_environment_without_streaming_models_has_no_streaming_stack_and_needs_no_endpoint_block(tmp_path):
    stage, assembly = synthesize(dev_with(without_streaming), tmp_path)
    assert stage.streaming is None
    assert stage_stack_names(assembly, "Dev") == {"llm-dev-async-inference", "llm-dev-api", "llm-dev-dashboard"}


def test_an_environment_without_async_models_has_no_async_endpoint(tmp_path):
    stage, _ = synthesize(dev_with(without_async), tmp_path)
    assert not Template.from_stack(stage.async_inference).find_resources("AWS::SageMaker::Endpoint")


def test_an_environment_with_the_api_turned_off_has_no_api_stack_and_needs_no_other_api_key(tmp_path):
    stage, assembly = synthesize(dev_with(without_api), tmp_path)
    assert stage.api is None
    assert "llm-dev-api" not in stage_stack_names(assembly, "Dev")


def test_a_model_that_neither_streams_nor_runs_async_is_a_config_error():
    def neither(data: dict) -> None:
        data["models"]["small"].pop("streaming")

    with pytest.raises(ConfigError, match="models.small"):
        parse_environment_config(dev_with(neither), "config/dev.yaml")


@pytest.fixture(scope="module")
def cloudformation():
    with moto_server() as url:
        yield client(url, "cloudformation")


def deploy(cloudformation, names: set[str]) -> None:
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    for name in names:
        cloudformation.create_stack(StackName=name, TemplateBody=template)


@pytest.mark.parametrize("change", [without_streaming, without_api], ids=["streaming", "api"])
def test_turning_a_part_off_is_refused_until_its_stack_is_removed_and_turning_it_on_again_is_not(
    tmp_path, cloudformation, change
):
    _, full = synthesize(DEV, tmp_path / "full")
    _, reduced = synthesize(dev_with(change), tmp_path / "reduced")
    on, off = stage_stack_names(full, "Dev"), stage_stack_names(reduced, "Dev")
    prefix = f"llm-dev-{change.__name__.replace('_', '-')}"
    renamed = lambda names: {name.replace("llm-dev", prefix) for name in names}  # noqa: E731 (one moto per module)

    deploy(cloudformation, renamed(on))
    leftover = orphaned(cloudformation, resource_prefix=prefix, expected=renamed(off))
    assert leftover == sorted(renamed(on) - renamed(off))

    for name in leftover:
        cloudformation.delete_stack(StackName=name)
    assert orphaned(cloudformation, resource_prefix=prefix, expected=renamed(on)) == []


def test_a_smoke_tested_environment_without_its_api_is_a_pipeline_config_error(tmp_path):
    from stacks.config import load_pipeline_config
    from tests.stacks.conftest import shipped_config_dir

    config_dir = shipped_config_dir(tmp_path)
    preprod = yaml.safe_load((config_dir / "preprod.yaml").read_text())
    preprod["api"]["enabled"] = False
    (config_dir / "preprod.yaml").write_text(yaml.safe_dump(preprod))
    with pytest.raises(ConfigError, match=r"smoke_test.*'api.enabled: false'"):
        load_pipeline_config(config_dir)
