"""stacks/serving_images.json is AWS's image table, exactly as the pinned sagemaker-core ships it."""

from __future__ import annotations

import json

import pytest

from stacks import serving_images
from tests.scripts.image_table_generator import generator as GENERATOR


def test_committed_table_is_what_make_images_generates_from_the_pinned_release():
    committed = serving_images.TABLE.read_text()
    assert committed == GENERATOR.render(GENERATOR.generate()), "run `make images` and commit the result"


def test_table_names_its_provenance():
    assert serving_images.provenance() == f"sagemaker-core=={GENERATOR.pinned_version()} (sagemaker/core/image_uri_config)"


@pytest.mark.parametrize(
    ("framework", "version", "repository", "tag"),
    [
        ("lmi", "0.38.0", "djl-inference", "0.38.0-lmi29.0.0-cu130"),
        ("vllm", "0.30.0", "vllm", "0.30.0-gpu-py312-cu130-ubuntu24.04-sagemaker"),
        ("tgi", "3.3.6", "huggingface-pytorch-tgi-inference", "2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04"),
    ],
)
def test_newest_images_are_the_ones_aws_publishes(framework, version, repository, tag):
    image = serving_images.serving_image(framework)
    assert (image.version, image.repository, image.tag) == (version, repository, tag)


def test_deep_learning_containers_account_serves_the_main_regions():
    lmi = serving_images.serving_image("lmi")
    assert {region: lmi.registry_account(region) for region in ("us-east-1", "eu-west-1", "ap-southeast-1")} == {
        "us-east-1": "763104351884",
        "eu-west-1": "763104351884",
        "ap-southeast-1": "763104351884",
    }


def test_a_region_without_a_registry_has_no_account():
    assert serving_images.serving_image("vllm").registry_account("cn-north-1") is None


def test_table_is_valid_json_with_a_latest_version_per_framework():
    table = json.loads(serving_images.TABLE.read_text())
    for framework in serving_images.FRAMEWORKS:
        entry = table["frameworks"][framework]
        assert entry["latest"] in entry["versions"]
