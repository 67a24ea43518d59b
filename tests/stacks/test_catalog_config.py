"""The model catalog's rules stop synth with the field to change, what is wrong and the near miss."""

from __future__ import annotations

import copy

import pytest

from stacks.config import load_environment_config
from tests.stacks.test_config import DEV, config_error, with_change, write_config

IN_EU_WEST_1 = {"account": "111111111111", "region": "eu-west-1"}


def dev_with(**top_level) -> dict:
    data = copy.deepcopy(DEV)
    data.update(top_level)
    return data


def test_hub_model_without_revision_is_refused_outside_a_sandbox(tmp_path):
    data = with_change("models.chat.source.hub.revision", None)
    message = config_error(tmp_path, data)
    assert "field 'models.chat.source.hub.revision': required outside a sandbox environment" in message


def test_sandbox_may_serve_the_hub_head(tmp_path):
    data = with_change("models.chat.source.hub.revision", None)
    data["sandbox"] = True
    config = load_environment_config(write_config(tmp_path, data))
    assert config.models["chat"].source.hub.revision is None


def test_revision_must_be_a_commit_sha_not_a_branch(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.source.hub.revision", "main"))
    assert "field 'models.chat.source.hub.revision'" in message
    assert "40-character commit sha" in message


def test_misspelt_region_is_refused_with_the_nearest_region(tmp_path):
    # The region list (stacks/aws_names.py) catches a misspelling before the image table is asked.
    message = config_error(tmp_path, dev_with(account="111111111111", region="eu-wst-1"))
    assert "field 'region': unknown AWS region 'eu-wst-1'" in message
    assert "did you mean 'eu-west-1'" in message


def test_framework_without_an_image_in_the_region_is_refused(tmp_path):
    data = with_change("models.chat.container.framework", "vllm")
    del data["models"]["chat"]["container"]["version"]  # the shipped LMI pin; vLLM's newest instead
    del data["models"]["chat"]["streaming"]
    data.update(account="111111111111", region="cn-north-1")
    message = config_error(tmp_path, data)
    assert "no vllm 0.30.0 image (vllm) in this region, which model 'chat' needs" in message


def test_unknown_container_version_suggests_the_listed_one(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.container.version", "0.38"))
    assert "field 'models.chat.container.version': not a lmi version in stacks/serving_images.json" in message
    assert "did you mean '0.38.0'?" in message


def test_pinned_image_must_not_float_on_latest(tmp_path):
    image = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/my-lmi:latest"
    message = config_error(tmp_path, with_change("models.chat.container.image_uri", image))
    assert "field 'models.chat.container.image_uri': must be pinned" in message


def test_hub_token_in_the_container_environment_is_refused(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.container.environment", {"HF_TOKEN": "hf_x"}))
    assert "field 'models.chat.container.environment': must not hold HF_TOKEN" in message


def test_unknown_instance_type_names_the_nearest_known_ones(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.async.instance_type", "ml.g5.3xlarge"))
    assert "field 'models.chat.async.instance_type': unknown SageMaker instance type 'ml.g5.3xlarge'" in message
    assert "did you mean 'ml.g5.xlarge'" in message


def test_an_instance_type_without_gpus_names_the_nearest_supported_ones(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.async.instance_type", "ml.c5.xlarge"))
    assert "field 'models.chat.async.instance_type': not a supported GPU instance type; nearest: ml.g5.xlarge" in message


def test_copy_cannot_need_more_gpus_than_the_instance_has(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.resources.gpus", 4))
    assert "field 'models.chat.resources.gpus': ml.g5.2xlarge has 1 GPU(s); a copy cannot need more (got 4)" in message


def test_copy_cannot_need_more_memory_than_the_instance_has(tmp_path):
    message = config_error(tmp_path, with_change("models.small.resources.memory_mb", 40000))
    assert "field 'models.small.resources.memory_mb': ml.g5.2xlarge has 32768 MiB of host memory" in message


def test_weights_larger_than_the_copys_gpu_memory_are_refused_before_a_deploy(tmp_path):
    # Qwen2.5-72B in bf16 on one A10G: would fail to load 15-30 minutes into the deploy.
    message = config_error(tmp_path, with_change("models.chat.resources.weights_gib", 135.5))
    assert (
        "field 'models.chat.resources.weights_gib': the weights do not fit the copy's GPU memory: "
        "1 GPU(s) of ml.g5.2xlarge hold 24 GiB, of which the serving engine takes 90% (21.6 GiB)"
    ) in message


def test_weights_that_fit_the_copys_gpus_together_are_accepted(tmp_path):
    data = with_change("models.chat.resources.weights_gib", 27.5)  # too big for one A10G, fine on two
    data["models"]["chat"]["async"]["instance_type"] = "ml.g5.12xlarge"
    data["models"]["chat"]["resources"]["gpus"] = 2
    data["streaming_endpoint"]["instance_type"] = "ml.g5.12xlarge"
    assert load_environment_config(write_config(tmp_path, data)).models["chat"].resources.weights_gib == 27.5


def test_tensor_parallel_degree_must_divide_the_copys_gpus(tmp_path):
    data = with_change("models.chat.container.tensor_parallel_degree", 3)
    data["models"]["chat"]["async"]["instance_type"] = "ml.g5.12xlarge"
    data["models"]["chat"]["resources"]["gpus"] = 4
    data["streaming_endpoint"]["instance_type"] = "ml.g5.12xlarge"
    message = config_error(tmp_path, data)
    assert "field 'models.chat.container.tensor_parallel_degree': must divide the copy's GPUs" in message


def test_minimum_copies_of_the_streaming_models_must_fit_max_instances(tmp_path):
    message = config_error(tmp_path, with_change("streaming_endpoint.max_instances", 1))
    assert "field 'streaming_endpoint.max_instances'" in message
    assert "minimum copies (chat: 1, small: 1) need 2 ml.g5.2xlarge instance(s) (got 1)" in message


def test_copies_that_never_scale_to_zero_count_at_their_minimum(tmp_path):
    data = with_change("streaming_endpoint.scale_to_zero", False)
    data["models"]["chat"]["streaming"].update(min_copies=3, max_copies=3)
    data["streaming_endpoint"]["max_instances"] = 3
    message = config_error(tmp_path, data)
    assert "(chat: 3, small: 1) need 4 ml.g5.2xlarge instance(s) (got 3)" in message


def test_a_vllm_model_may_stream_since_the_front_normalises_its_chat_chunks(tmp_path):
    data = with_change("models.small.container.framework", "vllm")
    del data["models"]["small"]["container"]["version"]
    assert load_environment_config(write_config(tmp_path, data)).models["small"].container.framework == "vllm"


def test_exactly_one_model_is_the_default(tmp_path):
    message = config_error(tmp_path, with_change("models.small.default", True))
    assert "field 'models': mark exactly one model with 'default: true'" in message


def test_streaming_model_needs_the_streaming_endpoint(tmp_path):
    data = copy.deepcopy(DEV)
    del data["streaming_endpoint"]
    message = config_error(tmp_path, data)
    assert "field 'streaming_endpoint': required because chat, small stream(s)" in message


def test_model_served_by_no_mode_is_refused(tmp_path):
    data = copy.deepcopy(DEV)
    del data["models"]["small"]["streaming"]
    message = config_error(tmp_path, data)
    assert "field 'models.small': set 'async', 'streaming' or both" in message


def test_model_name_must_fit_resource_names(tmp_path):
    data = copy.deepcopy(DEV)
    data["models"]["Big_Model"] = data["models"].pop("small")
    message = config_error(tmp_path, data)
    assert "field 'models.Big_Model': a model name is 1-20 lowercase letters" in message


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-1"])
def test_shipped_dev_catalog_deploys_in_the_main_regions(tmp_path, region):
    config = load_environment_config(write_config(tmp_path, dev_with(account="111111111111", region=region)))
    assert config.region == region
