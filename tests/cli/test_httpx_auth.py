"""SigV4Auth, the httpx.Auth for OpenAI-style clients, against the local gateway that recomputes
every signature: what it signs, with which credentials and region."""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.credentials import Credentials

from inference_client import SigV4Auth
from inference_client.signing import MissingCredentials

from .callers import ENVIRONMENT_CALLER, OTHER_CALLER


def test_temporary_credentials_from_the_chain_sign_and_send_their_session_token(api_url, gateway):
    with httpx.Client(auth=SigV4Auth(region="us-east-1")) as http:
        answer = http.get(f"{api_url}v1/models")

    assert answer.status_code == 200, answer.text
    [request] = gateway.requests
    assert request.headers["x-amz-security-token"] == ENVIRONMENT_CALLER.token
    assert "Credential=testing/" in request.headers["authorization"]


def test_only_host_content_type_and_amz_headers_are_signed(api_url, gateway):
    with httpx.Client(auth=SigV4Auth(region="us-east-1"), headers={"X-Stainless-Lang": "python"}) as http:
        http.post(f"{api_url}v1/inferences", json={"inputs": "Hello"})

    [request] = gateway.requests
    signed = request.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert signed == ["content-type", "host", "x-amz-date", "x-amz-security-token"]


def test_the_body_is_signed_so_a_changed_body_is_refused(api_url, gateway):
    def tamper(request: httpx.Request) -> None:
        # Same length, other content: what a proxy rewriting the body would send.
        request.stream = httpx.ByteStream(json.dumps({"inputs": "Hellp"}).encode())

    auth = SigV4Auth(region="us-east-1")
    with httpx.Client(auth=auth, event_hooks={"request": [tamper]}) as http:
        answer = http.post(f"{api_url}v1/inferences", content=json.dumps({"inputs": "Hello"}).encode(),
                           headers={"Content-Type": "application/json"})

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "INVALID_SIGNATURE"


def test_explicit_credentials_sign_as_that_caller(api_url, gateway):
    caller = Credentials(OTHER_CALLER.access_key, OTHER_CALLER.secret_key)
    with httpx.Client(auth=SigV4Auth(region="us-east-1", credentials=caller)) as http:
        assert http.get(f"{api_url}v1/models").status_code == 200

    [request] = gateway.requests
    assert f"Credential={OTHER_CALLER.access_key}/" in request.headers["authorization"]


def test_the_region_comes_from_an_execute_api_url():
    request = httpx.Request("GET", "https://abc123.execute-api.eu-west-3.amazonaws.com/api/v1/models")
    signed = next(SigV4Auth(credentials=Credentials("k", "s")).auth_flow(request))

    assert "/eu-west-3/execute-api/aws4_request" in signed.headers["Authorization"]


def test_no_credentials_anywhere_is_a_clear_error(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(MissingCredentials, match="no AWS credentials found"):
        next(SigV4Auth(region="us-east-1").auth_flow(httpx.Request("GET", "http://127.0.0.1/api/v1/models")))
