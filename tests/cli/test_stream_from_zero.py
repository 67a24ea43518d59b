"""stream to a model at zero copies: the CLI says the model is starting, then prints the tokens,
with no retry. Through the local gateway to a front that scales to zero, woken through the local
stand-in (local/scale_to_zero.py) against moto's CloudWatch."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from handler_harness import ApiGateway
from tests.streaming import streaming_modules
from local.scripted_runtime import parts
from local.asgi_server import serve
from tests.streaming.streams import tgi_stream

from .callers import ENVIRONMENT_CALLER
from local.gateway import LocalApiGateway

from .conftest import STREAMING_ENDPOINT

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from local.scale_to_zero import ScaleToZeroStandIn  # noqa: E402

_components = itertools.count()


@pytest.fixture
def cold_api_url(aws, moto_url, emulator, async_api_module) -> Iterator[str]:
    """A gateway whose streaming front serves a fresh inference component at zero copies."""
    name = f"cold-chat-{next(_components)}"
    with ScaleToZeroStandIn(cloudwatch_client=boto3.client("cloudwatch"), cold_start_seconds=1.0) as stand_in:
        stand_in.add_inference_component(name, endpoint_name=STREAMING_ENDPOINT)
        emulator.gate_capacity(stand_in.has_capacity)
        try:
            # The front creates its control-plane clients at first use: the redirects stay set.
            with pytest.MonkeyPatch.context() as env:
                env.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emulator.url)
                env.setenv("AWS_ENDPOINT_URL_SAGEMAKER", stand_in.url)
                settings = streaming_modules.stream_settings.Settings.one_model(
                    STREAMING_ENDPOINT, inference_component_name=name, upstream_max_attempts=1,
                    scale_to_zero=True, max_hold_seconds=20, hold_keepalive_seconds=0.3, hold_poll_seconds=0.05,
                )
                app = streaming_modules.load_app_module_apart().create_app(settings)
                with serve(app) as streaming_url, LocalApiGateway(
                    ApiGateway(async_api_module), streaming_url, [ENVIRONMENT_CALLER]
                ) as gateway:
                    yield gateway.url
        finally:
            emulator.gate_capacity(None)


def test_stream_to_a_cold_model_says_it_is_starting_then_prints_the_tokens(llm_infer, cold_api_url, emulator):
    scenario = emulator.script(parts(tgi_stream(["Good", " morning"]), cuts=[]))

    outcome = llm_infer("--api-url", cold_api_url, "stream", "--inputs", scenario.key)

    assert (outcome.exit_code, outcome.stdout) == (0, "Good morning\n")
    assert outcome.stderr.startswith("model starting from zero (waking), 0s elapsed; tokens follow\n")
    assert len(scenario.requests) == 1
