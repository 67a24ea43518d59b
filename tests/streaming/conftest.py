"""Streaming front fixtures: one event-stream emulator per session, the relay on real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from local.asgi_server import serve
from local.scripted_runtime import SageMakerRuntimeEmulator

from .streaming_modules import ENDPOINT_NAME, MODEL_CATALOG, load_app_module, stream_settings


@pytest.fixture(scope="session")
def emulator() -> Iterator[SageMakerRuntimeEmulator]:
    with SageMakerRuntimeEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def streaming_environment(emulator):
    """What the stack gives the function, plus fake credentials and the emulator's address."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "UPSTREAM_READ_TIMEOUT_SECONDS"):
            env.delenv(name, raising=False)
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emulator.url)
        env.setenv("MODEL_CATALOG", json.dumps(MODEL_CATALOG))
        # One attempt: the refusal tests assert the status mapping, not botocore's backoff.
        env.setenv("UPSTREAM_MAX_ATTEMPTS", "1")
        yield env


@pytest.fixture(scope="module")
def app_module(streaming_environment):
    return load_app_module()


@pytest.fixture(scope="module")
def relay_url(app_module) -> Iterator[str]:
    """The app exactly as uvicorn loads it in the Lambda (``app:app``, TGI by default)."""
    with serve(app_module.app) as url:
        yield url


@pytest.fixture(scope="module")
def relay_for(app_module):
    """Start another relay with different settings: ``relay_for(container_format="lmi")`` (one model),
    or ``relay_for(settings=...)``."""
    with_servers: list = []

    def start(settings: stream_settings.Settings | None = None, **overrides) -> str:
        settings = settings or stream_settings.Settings.one_model(ENDPOINT_NAME, upstream_max_attempts=1, **overrides)
        context = serve(app_module.create_app(settings))
        with_servers.append(context)
        return context.__enter__()

    yield start
    for context in reversed(with_servers):
        context.__exit__(None, None, None)
