"""cdk-nag packs for the whole app, and the acknowledgement audit trail in every template."""

from __future__ import annotations

from aws_cdk import App, Aspects, Stage, Validations
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks, WriteNagSuppressionsToCloudFormationAspect


def nag_packs(scope: App | Stage) -> list[NagPack]:
    return [
        AwsSolutionsChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
        NIST80053R5Checks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
    ]


def register_nag_packs(app: App, stages: list[Stage]) -> None:
    """Check every stack in the app, Stages included, and fail synth on any unacknowledged finding.

    The packs' metadata aspect, registered on the App, does not reach resources inside a Stage (a
    Stage synthesizes its own nested assembly), so each Stage gets the aspect as well: auditors find
    every acknowledgement, with its reason, in the template's `cdk_nag` Metadata.
    """
    Validations.of(app).add_plugins(*nag_packs(app))
    for stage in stages:
        Aspects.of(stage).add(WriteNagSuppressionsToCloudFormationAspect())
