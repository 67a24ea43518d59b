"""The quota preflight against Service Quotas' wire protocol (a stand-in) and SageMaker's (moto)."""

from __future__ import annotations

import boto3
import pytest

from ops.capacity import InstanceNeed
from ops.quotas import preflight, render
from tests.ops.service_quotas_standin import ServiceQuotasStandIn

REGION = "eu-west-1"
# moto's SageMaker validates instance types against an older list, without ml.g5: the g4dn types
# stand in for the GPU types here.
GPU = "ml.g4dn.12xlarge"
SMALL_GPU = "ml.g4dn.xlarge"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": REGION}


@pytest.fixture
def sagemaker(moto_url):
    client = boto3.client("sagemaker", endpoint_url=moto_url, **CREDENTIALS)
    yield client
    for endpoint in client.list_endpoints()["Endpoints"]:
        client.delete_endpoint(EndpointName=endpoint["EndpointName"])


@pytest.fixture
def quotas():
    with ServiceQuotasStandIn() as standin:
        standin.client = boto3.client("service-quotas", endpoint_url=standin.url, **CREDENTIALS)
        yield standin


def run_endpoint(sagemaker, name: str, instance_type: str, count: int) -> None:
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer={"Image": "image"}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": count, "InstanceType": instance_type}
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


OWN_ASYNC, OWN_STREAMING = "llm-prod-chat-async-1a2b3c4d", "llm-prod-stream-1a2b3c4d"


def needs(async_max: int, streaming_max: int) -> list[InstanceNeed]:
    return [
        InstanceNeed("async", GPU, 0, async_max, endpoint_name=OWN_ASYNC),
        InstanceNeed("streaming", GPU, 0, streaming_max, endpoint_name=OWN_STREAMING),
    ]


def test_both_endpoints_count_against_one_quota_when_they_share_an_instance_type(quotas, sagemaker):
    quotas.defaults = {f"{GPU} for endpoint usage": ("L-GPU12", 4.0)}
    [result] = preflight(needs(4, 2), service_quotas=quotas.client, sagemaker=sagemaker)
    assert (result.needed, result.available, result.short_by) == (6, 4, 2)


def test_an_applied_quota_value_wins_over_the_default(quotas, sagemaker):
    quotas.defaults = {f"{GPU} for endpoint usage": ("L-GPU12", 0.0), f"{SMALL_GPU} for endpoint usage": ("L-GPU1", 2.0)}
    quotas.applied = {f"{GPU} for endpoint usage": ("L-GPU12", 8.0)}
    [result] = preflight(needs(4, 2), service_quotas=quotas.client, sagemaker=sagemaker)
    assert result.short_by == 0
    assert "All quotas suffice." in render("Prod", REGION, [result])


def test_instances_other_endpoints_hold_are_not_available(quotas, sagemaker):
    quotas.defaults = {f"{GPU} for endpoint usage": ("L-GPU12", 6.0)}
    run_endpoint(sagemaker, "other-team-search", GPU, 3)
    run_endpoint(sagemaker, OWN_ASYNC, GPU, 1)  # this environment's own: already in its needs
    [result] = preflight(needs(4, 2), service_quotas=quotas.client, sagemaker=sagemaker)
    assert (result.in_use_elsewhere, result.available, result.short_by) == (3, 3, 3)


def test_an_environment_whose_prefix_extends_this_ones_is_another_environment(quotas, sagemaker):
    quotas.defaults = {f"{GPU} for endpoint usage": ("L-GPU12", 6.0)}
    run_endpoint(sagemaker, "llm-prod-eu-stream-1a2b3c4d", GPU, 2)
    [result] = preflight(needs(4, 2), service_quotas=quotas.client, sagemaker=sagemaker)
    assert (result.in_use_elsewhere, result.short_by) == (2, 2)


def test_an_endpoint_this_environment_is_replacing_still_holds_its_instances(quotas, sagemaker):
    # After an instance type change the old endpoint (another digest) runs until the new one is in service.
    quotas.defaults = {f"{GPU} for endpoint usage": ("L-GPU12", 6.0)}
    run_endpoint(sagemaker, "llm-prod-chat-async-99999999", GPU, 1)
    [result] = preflight(needs(4, 2), service_quotas=quotas.client, sagemaker=sagemaker)
    assert (result.in_use_elsewhere, result.short_by) == (1, 1)


def test_a_short_quota_prints_the_exact_increase_request(quotas, sagemaker):
    quotas.defaults = {f"{GPU} for endpoint usage": ("L-GPU12", 0.0)}
    run_endpoint(sagemaker, "other-team-search", GPU, 1)
    checks = preflight(needs(4, 2), service_quotas=quotas.client, sagemaker=sagemaker)
    report = render("Prod", REGION, checks)
    assert (
        "aws service-quotas request-service-quota-increase --region eu-west-1 --service-code sagemaker "
        "--quota-code L-GPU12 --desired-value 7"
    ) in report


def test_an_instance_type_without_an_endpoint_quota_in_the_region_is_short(quotas, sagemaker):
    [result] = preflight(needs(1, 0), service_quotas=quotas.client, sagemaker=sagemaker)
    assert result.quota is None and result.short_by == 1
    assert "not offered there" in result.increase_request(REGION)


def test_every_page_of_both_quota_listings_is_read(quotas, sagemaker):
    quotas.defaults = {f"ml.m5.{size} for endpoint usage": (f"L-M{size}", 1.0) for size in ("large", "xlarge", "2xlarge")}
    quotas.defaults[f"{GPU} for endpoint usage"] = ("L-GPU12", 9.0)
    [result] = preflight(needs(1, 1), service_quotas=quotas.client, sagemaker=sagemaker)
    assert result.quota.value == 9.0
    assert len(quotas.calls("ListAWSDefaultServiceQuotas")) == 2
