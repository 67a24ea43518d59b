"""The official openai SDK against `make local`, signing with SigV4Auth: what application teams
write against any OpenAI-compatible API works here unchanged, errors included."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from botocore.credentials import Credentials

from inference_client import SigV4Auth

from .conftest import ALICE, MODEL

HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def client(local_api, caller_credentials) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{local_api.url}v1", api_key="unused", max_retries=0,
        http_client=httpx.Client(auth=SigV4Auth(region="eu-west-1")),
    )


def test_models_list_names_the_catalogs_models(client):
    assert [model.id for model in client.models.list()] == [MODEL, "small"]


def test_every_listed_model_is_a_valid_openai_model_object(client):
    # The SDK builds its types without validating them; a strictly typed client (the spec's
    # required id, created, object and owned_by) validates, as pydantic does here.
    for model in client.models.list():
        openai.types.Model.model_validate(model.model_dump(), strict=True)


def test_a_chat_completion_answers_the_messages(client):
    completion = client.chat.completions.create(model=MODEL, messages=HELLO)

    assert completion.choices[0].message.content == "This is the local model. You said: Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 9


def test_a_streamed_chat_completion_arrives_in_chunks_with_usage_last(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "This is the local model. You said: Hello there"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 9
    # Dev's models are LMI, whose chat stream carries no usage: the API counts the chunks.
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and (usage.completion_tokens, usage.estimated) == (9, True)


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client):
    completion = client.chat.completions.create(model=MODEL, messages=HELLO, max_completion_tokens=3)

    assert completion.choices[0].message.content == "This is the"
    assert completion.choices[0].finish_reason == "length"


def test_an_unsupported_field_raises_bad_request_naming_it(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=HELLO, n=2)

    assert raised.value.status_code == 400
    assert raised.value.param == "n"


def test_an_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)

    assert raised.value.code == "model_not_found"
    assert MODEL in raised.value.message


def test_a_wrong_signature_raises_permission_denied(local_api):
    forged = Credentials(ALICE[0], "not-alices-secret")
    client = openai.OpenAI(
        base_url=f"{local_api.url}v1", api_key="unused", max_retries=0,
        http_client=httpx.Client(auth=SigV4Auth(region="eu-west-1", credentials=forged)),
    )

    with pytest.raises(openai.PermissionDeniedError) as raised:
        client.models.list()

    assert raised.value.status_code == 403
    # API Gateway's own error, in the fields of OpenAI's error object (stacks/gateway_errors.py).
    assert (raised.value.code, raised.value.type, raised.value.param) == ("INVALID_SIGNATURE", "invalid_request_error", None)


def test_a_failure_mid_stream_raises_after_the_tokens_before_it(client):
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "[[fail]]"}], stream=True)
    received = []

    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)

    assert received == ["This", " is"]
    assert "failed during generation" in raised.value.message


def test_the_async_client_signs_with_the_same_auth(local_api, caller_credentials):
    # httpx reads the body before an Auth with requires_request_body runs, in async clients too.
    async def ask() -> tuple[list[str], str]:
        async with httpx.AsyncClient(auth=SigV4Auth(region="eu-west-1")) as http:
            client = openai.AsyncOpenAI(base_url=f"{local_api.url}v1", api_key="unused", max_retries=0, http_client=http)
            models = [model.id async for model in client.models.list()]
            stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
            text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
            return models, text

    models, text = asyncio.run(ask())

    assert models == [MODEL, "small"]
    assert text == "This is the local model. You said: Hello there"
