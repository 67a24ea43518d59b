"""The GPU instance table agrees with AWS's SageMaker SDK table wherever that table lists the instance."""

from __future__ import annotations

import json

import pytest

from stacks.gpu_instances import GPU_INSTANCES, UnknownInstanceType, gpu_instance
from tests.scripts.image_table_generator import generator


# AWS's SDK table from the pinned sagemaker-core wheel; the figures are the same in every region.
AWS = json.loads(generator.config_file("instance_gpu_info.json"))["us-east-1"]
LISTED_BY_AWS = sorted(set(AWS) & set(GPU_INSTANCES))


def test_aws_table_covers_the_g5_p4_and_p5_instances():
    assert {"ml.g5.2xlarge", "ml.g5.12xlarge", "ml.g5.48xlarge", "ml.p4d.24xlarge", "ml.p5.48xlarge"} <= set(LISTED_BY_AWS)


@pytest.mark.parametrize("instance_type", LISTED_BY_AWS)
def test_accelerator_count_and_memory_match_aws(instance_type):
    ours = GPU_INSTANCES[instance_type]
    assert (ours.accelerators, ours.accelerator_memory_mib) == (
        AWS[instance_type]["Count"],
        AWS[instance_type]["TotalGpuMemoryInMiB"],
    )


def test_unknown_instance_type_names_the_nearest_known_ones():
    with pytest.raises(UnknownInstanceType) as caught:
        gpu_instance("ml.g5.2xlarg")
    assert "nearest: ml.g5.2xlarge" in str(caught.value)


def test_instance_without_any_near_miss_lists_the_supported_families():
    with pytest.raises(UnknownInstanceType) as caught:
        gpu_instance("ml.c5.large")
    assert "ml.g5, ml.g6, ml.g6e" in str(caught.value)
