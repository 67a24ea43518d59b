#!/usr/bin/env python3
"""The CDK app: one Stage per environment (for laptop deploys) and the promotion pipeline.

`cdk deploy "Dev/*"` deploys one environment with your credentials; the `Pipeline` stack, deployed
once to the tooling account, promotes the same Stage class through Dev, PreProd and Prod.
"""

import sys

from aws_cdk import App, Environment

from stacks.config import ConfigError, load_all, load_pipeline_config
from stacks.nag import register_nag_packs
from stacks.pipeline_stack import PipelineStack
from stacks.stage import InferenceStage
from stacks.validation import violations


def build_app(app: App) -> tuple[list[InferenceStage], PipelineStack]:
    environments = load_all()
    pipeline_config = load_pipeline_config()
    stages = [InferenceStage(app, config=config) for config in environments]
    pipeline = PipelineStack(
        app,
        "Pipeline",
        pipeline_config=pipeline_config,
        environments=environments,
        env=Environment(account=pipeline_config.tooling.account, region=pipeline_config.tooling.region),
        stack_name="llm-hosting-pipeline",
        description="Promotes the inference stacks through Dev, PreProd (smoke-tested) and Prod",
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
