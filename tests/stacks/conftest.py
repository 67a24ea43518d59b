"""The real app, synthesized once per test session with cdk.json's feature flags."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from app import build_app
from stacks.config import CONFIG_DIR
from stacks.pipeline_stack import PipelineStack
from stacks.stage import InferenceStage

ROOT = Path(__file__).resolve().parents[2]


def cdk_context() -> dict:
    """The context `cdk synth` passes to the app: feature flags from cdk.json, no asset bundling."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    # Tests read templates, not Lambda bundles: skip bundling in every stack.
    # Path metadata is what `cdk synth` adds too; nag acknowledgement listings read it.
    return {**context, "aws:cdk:bundling-stacks": [], "aws:cdk:enable-path-metadata": True}


def new_app(outdir: Path) -> App:
    return App(context=cdk_context(), outdir=str(outdir))


@dataclass
class SynthesizedApp:
    app: App
    stages: dict[str, InferenceStage]
    pipeline: PipelineStack
    assembly_dir: Path

    def template(self, stage: str, stack: str = "async_inference") -> Template:
        """`stack` is the Stage attribute: async_inference, streaming or api."""
        return Template.from_stack(getattr(self.stages[stage], stack))


def shipped_config_dir(target: Path) -> Path:
    """A copy of config/ without the developers' own sandbox files (git-ignored, personal)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in CONFIG_DIR.glob("*.yaml"):
        if not path.name.startswith("sandbox-"):
            shutil.copy(path, target)
    return target


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> SynthesizedApp:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(outdir)
    stages, pipeline = build_app(app, shipped_config_dir(tmp_path_factory.mktemp("config")))
    assembly = app.synth()
    return SynthesizedApp(
        app=app,
        stages={stage.config.stage_name: stage for stage in stages},
        pipeline=pipeline,
        assembly_dir=Path(assembly.directory),
    )


STAGE_NAMES = ("Dev", "PreProd", "Prod")


def single(template: Template, type_: str, props: dict | None = None) -> tuple[str, dict]:
    """The one resource of `type_` (matching `props`), as (logical id, resource)."""
    found = template.find_resources(type_, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {type_} matching {props}, found {len(found)}"
    return next(iter(found.items()))
