"""What stops a command before the API answers: exit 3 and one clear line, never a traceback."""

from __future__ import annotations

import socket

import pytest

ANY_ID = "8f0e2b9c-3a4d-4e5f-8a6b-7c8d9e0f1a2b"


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """Nothing in the environment, empty AWS config files, no instance metadata."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, file in (("AWS_CONFIG_FILE", "config"), ("AWS_SHARED_CREDENTIALS_FILE", "credentials")):
        (tmp_path / file).write_text("")
        monkeypatch.setenv(name, str(tmp_path / file))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_unreachable_api_exits_3_naming_the_url_and_the_reason(llm_infer, aws_environment, closed_port_url):
    outcome = llm_infer("--api-url", closed_port_url, "status", ANY_ID)

    assert outcome.exit_code == 3
    assert outcome.stderr == f"error: cannot reach the API at {closed_port_url}: Connection refused\n"
    assert outcome.stdout == ""


def test_missing_credentials_exit_3_before_any_request(llm_infer, api_url, gateway, no_credentials):
    outcome = llm_infer("--api-url", api_url, "submit", "--inputs", "Hello")

    assert outcome.exit_code == 3
    assert outcome.stderr.startswith("error: no AWS credentials found (set AWS_PROFILE")
    assert list(gateway.requests) == []


def test_missing_payload_file_exits_3_before_any_request(llm_infer, api_url, gateway, tmp_path):
    missing = tmp_path / "payload.json"

    outcome = llm_infer("--api-url", api_url, "submit", "--file", str(missing))

    assert outcome.exit_code == 3
    assert outcome.stderr == f"error: [Errno 2] No such file or directory: '{missing}'\n"
    assert list(gateway.requests) == []


def test_no_api_url_exits_3_saying_how_to_give_one(llm_infer, aws_environment, monkeypatch):
    monkeypatch.delenv("LLM_API_URL", raising=False)

    outcome = llm_infer("status", ANY_ID)

    assert outcome.exit_code == 3
    assert outcome.stderr == "error: no API given: pass --api-url URL or --stack NAME, or set LLM_API_URL\n"


def test_api_url_may_come_from_llm_api_url(llm_infer, api_url, gateway, monkeypatch):
    monkeypatch.setenv("LLM_API_URL", api_url)

    outcome = llm_infer("status", ANY_ID)

    assert outcome.stderr == f"error: 404 InferenceNotFound: no inference {ANY_ID} submitted by you\n"
    assert len(gateway.requests) == 1


def test_parameters_that_are_not_a_json_object_are_a_usage_error_exit_3(llm_infer):
    outcome = llm_infer("--api-url", "http://127.0.0.1:9/api/", "stream", "--inputs", "Hi", "--parameters", "[1]")

    assert outcome.exit_code == 3
    assert "argument --parameters: must be a JSON object" in outcome.stderr
