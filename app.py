#!/usr/bin/env python3
"""The CDK app: one Stage per environment file in config/, and the promotion pipeline.

`make deploy STAGE=Dev` deploys one environment with your credentials; the `Pipeline` stack,
deployed once to the tooling account, deploys the very same Stages in the waves of
config/pipeline.yaml. `cdk synth -c config_dir=DIR` reads the environments from DIR instead.
"""

import sys
from pathlib import Path

from stacks.toolchain import use_pinned_node

# Before aws_cdk starts its jsii kernel: the kernel runs on the venv's Node.js 24, not the system's.
use_pinned_node()

from aws_cdk import App, Environment  # noqa: E402

from stacks.config import CONFIG_DIR, ConfigError, load_environments, load_pipeline_config  # noqa: E402
from stacks.nag import register_nag_packs  # noqa: E402
from stacks.pipeline_stack import PipelineStack  # noqa: E402
from stacks.stage import InferenceStage  # noqa: E402
from stacks.validation import violations  # noqa: E402

CONFIG_DIR_CONTEXT = "config_dir"


def build_app(app: App, config_dir: Path | None = None) -> tuple[list[InferenceStage], PipelineStack]:
    config_dir = config_dir or Path(app.node.try_get_context(CONFIG_DIR_CONTEXT) or CONFIG_DIR)
    environments = load_environments(config_dir)
    pipeline_config = load_pipeline_config(config_dir, environments)
    stages = [InferenceStage(app, config=config) for config in environments.values()]
    pipeline = PipelineStack(
        app,
        "Pipeline",
        pipeline_config=pipeline_config,
        stages={stage.config.stage_name: stage for stage in stages},
        env=Environment(account=pipeline_config.tooling.account, region=pipeline_config.tooling.region),
        stack_name="llm-hosting-pipeline",
        description="Promotes the inference stacks through the waves of config/pipeline.yaml",
    )
    register_nag_packs(app)
    return stages, pipeline


def main() -> None:
    app = App()
    try:
        build_app(app)
    except ConfigError as err:
        sys.exit(f"error: {err}")
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
    found = violations(app.outdir)
    if found:
        sys.exit("error: unacknowledged cdk-nag findings:\n  " + "\n  ".join(found))


if __name__ == "__main__":
    main()
