"""Every request is SigV4-signed for execute-api; the local gateway recomputes each signature, so a
request it accepts was signed right (method, path, headers and body)."""

from __future__ import annotations

import json
import re

import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from inference_client.signing import region_in_url

from .callers import ENVIRONMENT_CALLER, OTHER_CALLER

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/us-east-1/execute-api/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=[0-9a-f]{64}"
)


def test_requests_carry_a_sigv4_authorization_date_and_session_token(llm_infer, api_url, gateway):
    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Hello", "--idempotency-key", "k-1")

    assert outcome.exit_code == 0, outcome.stderr
    [request] = gateway.requests
    authorization = AUTHORIZATION.fullmatch(request.headers["authorization"])
    assert authorization is not None, request.headers["authorization"]
    assert authorization["key"] == ENVIRONMENT_CALLER.access_key
    assert re.fullmatch(r"\d{8}T\d{6}Z", request.headers["x-amz-date"])
    assert request.headers["x-amz-date"].startswith(authorization["date"])
    assert request.headers["x-amz-security-token"] == ENVIRONMENT_CALLER.token
    signed = authorization["signed"].split(";")
    assert {"host", "x-amz-date", "x-amz-security-token", "content-type", "idempotency-key"} <= set(signed)


def test_credentials_without_a_session_token_send_no_token_header(llm_infer, api_url, gateway, as_caller):
    as_caller(OTHER_CALLER)

    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Hello")

    assert outcome.exit_code == 0, outcome.stderr
    [request] = gateway.requests
    assert AUTHORIZATION.fullmatch(request.headers["authorization"])["key"] == OTHER_CALLER.access_key
    assert "x-amz-security-token" not in request.headers


def test_the_local_gateway_rejects_an_unsigned_request(api_url):
    answer = urllib3.request("GET", f"{api_url}v1/inferences/8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b")

    assert answer.status == 403
    assert answer.json()["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"


def test_the_local_gateway_rejects_a_signature_made_with_the_wrong_secret(api_url):
    body = json.dumps({"inputs": "Hello"}).encode()
    request = AWSRequest(
        method="POST", url=f"{api_url}v1/inferences", data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(OTHER_CALLER.access_key, "not-the-secret"), "execute-api", "us-east-1").add_auth(request)

    answer = urllib3.request("POST", request.url, body=body, headers=dict(request.headers.items()))

    assert answer.status == 403
    assert answer.json()["error"]["code"] == "INVALID_SIGNATURE"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://abc123defg.execute-api.eu-west-1.amazonaws.com/api/", "eu-west-1"),
        ("https://abc123defg.execute-api.us-gov-west-1.amazonaws.com/api/", "us-gov-west-1"),
        ("https://abc123defg-vpce-0a1b2c3d.execute-api.ap-southeast-2.vpce.amazonaws.com/api/", "ap-southeast-2"),
        ("https://abc123defg.execute-api.cn-north-1.amazonaws.com.cn/api/", "cn-north-1"),
    ],
)
def test_the_signing_region_comes_from_an_execute_api_host(url, region):
    assert region_in_url(url) == region


@pytest.mark.parametrize("url", ["https://llm.example.com/", "http://127.0.0.1:8080/api/"])
def test_a_custom_domain_or_local_url_names_no_region(url):
    assert region_in_url(url) is None
