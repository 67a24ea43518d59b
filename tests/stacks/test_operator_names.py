"""The operator tools find an environment's endpoints by the names its stacks give them."""

from __future__ import annotations

import pytest

from ops.capacity import instance_needs
from tests.stacks.conftest import STAGE_NAMES


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_quota_preflight_knows_every_endpoint_the_stacks_create_by_its_exact_name(synthesized, stage):
    created = {
        properties["EndpointName"]
        for stack in ("async_inference", "streaming")
        for properties in (
            resource["Properties"]
            for resource in synthesized.template(stage, stack).to_json()["Resources"].values()
            if resource["Type"] == "AWS::SageMaker::Endpoint"
        )
    }
    assert created
    assert {need.endpoint_name for need in instance_needs(synthesized.stages[stage].config)} == created
