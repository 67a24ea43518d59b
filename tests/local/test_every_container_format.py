"""Whatever the container emits, OpenAI clients see the same answer: the streaming front, in front of
the SageMaker runtime stand-in and a model container stand-in speaking LMI, vLLM or TGI, read by the
official openai SDK (no gateway: the front is called as API Gateway calls it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import openai
import pytest
from botocore.config import Config

from local.asgi_server import serve
from local.model_container import ModelContainer
from local.sagemaker_runtime import LocalEndpoint, SageMakerRuntime
from tests.streaming.streaming_modules import catalog, load_app_module_apart, stream_settings

FORMATS = ("lmi", "vllm", "tgi")
ANSWER = "This is the local model. You said: Hello there"
HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def front_url() -> Iterator[str]:
    """One streaming endpoint with one inference component per container format."""
    with ModelContainer("lmi") as lmi, ModelContainer("vllm") as vllm, ModelContainer("tgi") as tgi:
        components = {"lmi-ic": lmi.url, "vllm-ic": vllm.url, "tgi-ic": tgi.url}
        endpoint = LocalEndpoint("streaming", None, inference_components=components)
        with SageMakerRuntime([endpoint], s3=None, sns=None, region="us-east-1") as runtime:
            models = {
                fmt: {"container_format": fmt,
                      "streaming": {"endpoint_name": "streaming", "inference_component_name": f"{fmt}-ic"}}
                for fmt in FORMATS
            }
            settings = stream_settings.Settings(
                catalog=catalog.ModelCatalog.from_dict({"default": "lmi", "models": models}),
                upstream_max_attempts=1,
            )
            client = boto3.client(
                "sagemaker-runtime", endpoint_url=runtime.url, region_name="us-east-1",
                aws_access_key_id="local", aws_secret_access_key="local",
                config=Config(retries={"total_max_attempts": 1}),
            )
            with pytest.MonkeyPatch.context() as env:
                # Importing app.py builds its module-level app from the environment, as in Lambda.
                env.setenv("MODEL_CATALOG", json.dumps({"default": "lmi", "models": models}))
                env.setenv("AWS_DEFAULT_REGION", "us-east-1")
                app = load_app_module_apart().create_app(settings, client=client)
            with serve(app) as url:
                yield url


@pytest.fixture
def client(front_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{front_url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_streamed_answer_is_the_same_chunks_whatever_the_container(client, fmt):
    chunks = list(client.chat.completions.create(
        model=fmt, messages=HELLO, stream=True, stream_options={"include_usage": True}
    ))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 9


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_whole_answer_is_the_same_chat_completion_whatever_the_container(client, fmt):
    completion = client.chat.completions.create(model=fmt, messages=HELLO, max_tokens=4)

    assert completion.choices[0].message.content == "This is the local"
    assert completion.choices[0].finish_reason == "length"
    assert completion.model == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failure_mid_stream_raises_the_same_error_whatever_the_container(client, fmt):
    received = []
    with pytest.raises(openai.APIError, match="failed during generation"):
        for chunk in client.chat.completions.create(
            model=fmt, messages=[{"role": "user", "content": "[[fail]]"}], stream=True
        ):
            received.append(chunk.choices[0].delta.content)

    assert received == ["This", " is"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_input_the_model_refuses_is_a_4xx_whatever_the_container(client, fmt):
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        client.chat.completions.create(model=fmt, messages=[{"role": "user", "content": "[[reject]]"}])

    assert "refuses this input" in raised.value.message
    assert raised.value.code == "model_rejected_input"
