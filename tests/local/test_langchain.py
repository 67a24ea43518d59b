"""LangChain's ChatOpenAI against `make local`, through the same SigV4Auth http client."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langchain_openai import ChatOpenAI

from inference_client import SigV4Auth

from .conftest import MODEL


@pytest.fixture
def chat(local_api, caller_credentials) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL, base_url=f"{local_api.url}v1", api_key="unused", max_retries=0,
        http_client=httpx.Client(auth=SigV4Auth(region="eu-west-1")),
    )


def test_invoke_answers_with_one_message(chat):
    answer = chat.invoke("Name three colours")

    assert answer.content == "This is the local model. You said: Name three colours"


def test_stream_yields_the_answer_in_chunks(chat):
    chunks = [chunk.content for chunk in chat.stream("Name three colours")]

    assert "".join(chunks) == "This is the local model. You said: Name three colours"
    assert len([c for c in chunks if c]) == 10  # one per word


def test_async_invoke_needs_the_signing_client_for_async_calls_too(local_api, caller_credentials):
    # ChatOpenAI's async methods use http_async_client, never http_client.
    chat = ChatOpenAI(
        model=MODEL, base_url=f"{local_api.url}v1", api_key="unused", max_retries=0,
        http_client=httpx.Client(auth=SigV4Auth(region="eu-west-1")),
        http_async_client=httpx.AsyncClient(auth=SigV4Auth(region="eu-west-1")),
    )

    answer = asyncio.run(chat.ainvoke("Name three colours"))

    assert answer.content == "This is the local model. You said: Name three colours"
