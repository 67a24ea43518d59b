#!/usr/bin/env python3
"""The CDK app: one Stage per environment, built from config/<env>.yaml, checked by cdk-nag."""

import sys

from aws_cdk import App

from stacks.config import ConfigError, load_all
from stacks.nag import register_nag_packs
from stacks.stage import InferenceStage
from stacks.validation import violations


def build_app(app: App) -> list[InferenceStage]:
    stages = [InferenceStage(app, config=config) for config in load_all()]
    register_nag_packs(app, stages)
    return stages


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
