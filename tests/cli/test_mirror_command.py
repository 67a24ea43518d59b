"""`llm-infer mirror` copies a Hub model at a pinned commit into the model bucket (moto S3),
verifying every file, and prints the catalog entry; a file that does not verify never lands."""

from __future__ import annotations

import hashlib

import boto3
import pytest
import yaml
from handler_harness import REGION

from stacks.config import parse_environment_config
from tests.cli.hub_stand_in import HubModel, serving
from tests.stacks.test_config import DEV

REVISION = "0123456789abcdef0123456789abcdef01234567"
MODEL_ID = "acme/tiny-chat"
BUCKET = "llm-dev-models-123456789012-us-east-1"
FILES = {
    "config.json": b'{"architectures": ["Qwen2ForCausalLM"]}',
    "tokenizer.json": b'{"version": "1.0"}',
    "model-00001-of-00002.safetensors": b"\x00weights-one" * 1000,
    "model-00002-of-00002.safetensors": b"\x01weights-two" * 1000,
}
LFS = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}


@pytest.fixture
def hub_model() -> HubModel:
    return HubModel(MODEL_ID, REVISION, dict(FILES), set(LFS))


@pytest.fixture
def hub_url(hub_model):
    with serving(hub_model) as url:
        yield url


@pytest.fixture
def model_bucket(aws):
    key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    aws.s3.create_bucket(Bucket=BUCKET)
    aws.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    aws.s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]
        },
    )
    return key_arn


def run_mirror(llm_infer, hub_url: str, *extra: str):
    return llm_infer("mirror", MODEL_ID, "--revision", REVISION, "--bucket", BUCKET, "--hub-url", hub_url, *extra)


def mirrored(aws) -> dict[str, bytes]:
    prefix = f"hub/{MODEL_ID}/{REVISION}/"
    return {
        key.removeprefix(prefix): aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        for key in aws.keys_under(BUCKET, prefix)
    }


def test_every_file_is_copied_under_the_model_and_revision(llm_infer, hub_url, aws, model_bucket):
    outcome = run_mirror(llm_infer, hub_url)

    assert outcome.exit_code == 0, outcome.stderr
    assert mirrored(aws) == FILES


def test_mirrored_files_carry_their_verified_sha256(llm_infer, hub_url, aws, model_bucket):
    run_mirror(llm_infer, hub_url)

    key = f"hub/{MODEL_ID}/{REVISION}/model-00001-of-00002.safetensors"
    metadata = aws.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    assert metadata["sha256"] == hashlib.sha256(FILES["model-00001-of-00002.safetensors"]).hexdigest()
    assert metadata["hub-revision"] == REVISION


def test_printed_block_is_a_catalog_source_that_validates(llm_infer, hub_url, aws, model_bucket):
    outcome = run_mirror(llm_infer, hub_url, "--name", "tiny")

    pasted = yaml.safe_load(outcome.stdout)
    assert pasted == {
        "tiny": {
            "source": {"s3": {"uri": f"s3://{BUCKET}/hub/{MODEL_ID}/{REVISION}/", "kms_key_arn": model_bucket}},
            # The weight files' size, rounded up to a tenth of a GiB: checked against the GPUs at synth.
            "resources": {"weights_gib": 0.1},
        }
    }
    config = dict(DEV, models={"tiny": {**pasted["tiny"], "async": {"instance_type": "ml.g5.2xlarge"}}})
    del config["streaming_endpoint"]
    assert parse_environment_config(config, "pasted.yaml").models["tiny"].source.s3.kms_key_arn == model_bucket


def test_a_corrupted_weight_file_is_refused_and_never_uploaded(llm_infer, hub_url, hub_model, aws, model_bucket):
    hub_model.served_instead["model-00002-of-00002.safetensors"] = b"\x02tampered" * 1000

    outcome = run_mirror(llm_infer, hub_url)

    assert outcome.exit_code == 1
    assert "model-00002-of-00002.safetensors" in outcome.stderr and "nothing uploaded" in outcome.stderr
    assert "model-00002-of-00002.safetensors" not in mirrored(aws)


def test_a_small_file_that_differs_from_its_git_blob_is_refused(llm_infer, hub_url, hub_model, aws, model_bucket):
    hub_model.served_instead["config.json"] = b'{"architectures": ["Qwen2ForCausalLX"]}'

    outcome = run_mirror(llm_infer, hub_url)

    assert outcome.exit_code == 1 and "config.json: git blob id differs" in outcome.stderr
    assert "config.json" not in mirrored(aws)


def test_an_answer_from_another_commit_is_refused(llm_infer, hub_url, hub_model, aws, model_bucket):
    hub_model.commit_header = "f" * 40

    outcome = run_mirror(llm_infer, hub_url)

    assert outcome.exit_code == 1 and f"from commit {'f' * 40}, not {REVISION}" in outcome.stderr
    assert mirrored(aws) == {}


def test_an_unknown_revision_names_the_model_and_commit(llm_infer, hub_url, aws, model_bucket):
    outcome = llm_infer("mirror", MODEL_ID, "--revision", "a" * 40, "--bucket", BUCKET, "--hub-url", hub_url)

    assert outcome.exit_code == 1 and f"no model {MODEL_ID} at commit {'a' * 40}" in outcome.stderr


def test_a_branch_name_is_refused_before_anything_is_fetched(llm_infer, hub_url, aws, model_bucket):
    outcome = llm_infer("mirror", MODEL_ID, "--revision", "main", "--bucket", BUCKET, "--hub-url", hub_url)

    assert outcome.exit_code == 3 and "full 40-character commit sha" in outcome.stderr


def test_a_second_run_skips_what_is_already_mirrored(llm_infer, hub_url, aws, model_bucket):
    run_mirror(llm_infer, hub_url)

    outcome = run_mirror(llm_infer, hub_url)

    assert outcome.exit_code == 0
    assert outcome.stderr.count("already there") == len(FILES)


def test_exclude_leaves_matching_files_out(llm_infer, hub_url, aws, model_bucket):
    run_mirror(llm_infer, hub_url, "--exclude", "tokenizer*")

    assert set(mirrored(aws)) == set(FILES) - {"tokenizer.json"}


def test_gated_model_is_fetched_with_the_token_which_never_reaches_storage(
    llm_infer, hub_url, hub_model, aws, model_bucket, monkeypatch
):
    hub_model.gated_token = "hf_secret"
    monkeypatch.setenv("HF_TOKEN", "hf_secret")

    outcome = run_mirror(llm_infer, hub_url)

    assert outcome.exit_code == 0, outcome.stderr
    assert hub_model.storage_authorizations and set(hub_model.storage_authorizations) == {""}
    assert "hf_secret" not in outcome.stdout + outcome.stderr


def test_gated_model_without_a_token_says_so(llm_infer, hub_url, hub_model, aws, model_bucket, monkeypatch):
    hub_model.gated_token = "hf_secret"
    monkeypatch.delenv("HF_TOKEN", raising=False)

    outcome = run_mirror(llm_infer, hub_url)

    assert outcome.exit_code == 1 and "a gated model needs HF_TOKEN" in outcome.stderr
