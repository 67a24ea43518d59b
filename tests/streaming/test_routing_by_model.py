"""The streaming front relays from the inference component of the model a request names."""

from __future__ import annotations

import json

from local.scripted_runtime import parts

from .sse_client import StreamingCall
from .streaming_modules import catalog, stream_settings
from .streams import lmi_stream, tgi_stream

PATH = "/v1/generate/stream"


def call(base_url: str, document: dict) -> StreamingCall:
    return StreamingCall(base_url, PATH, json.dumps(document).encode())


def test_named_model_streams_from_its_own_component_in_its_own_format(emulator, relay_url):
    scenario = emulator.script(parts(lmi_stream(["Bon", "jour"]), cuts=[]))
    with call(relay_url, {"model": "small", "inputs": scenario.key, "parameters": {"stop": ["."]}}) as streaming:
        events = [(event.event, event.data) for event in streaming.events()]
    assert events[-1] == ("done", {"generated_text": "Bonjour"})
    [request] = scenario.requests
    assert request["headers"]["x-amzn-sagemaker-inference-component"] == "streaming-endpoint-small"
    assert request["body"]["parameters"] == {"stop_sequences": ["."]}, "LMI's name for stop sequences"


def test_request_without_a_model_streams_from_the_default(emulator, relay_url):
    scenario = emulator.script(parts(tgi_stream(["a"]), cuts=[]))
    with call(relay_url, {"inputs": scenario.key}) as streaming:
        list(streaming.events())
    [request] = scenario.requests
    assert request["headers"]["x-amzn-sagemaker-inference-component"] == "streaming-endpoint-chat"


def test_unknown_model_is_404_model_not_found_listing_the_known_ones(relay_url):
    with call(relay_url, {"model": "gpt-7", "inputs": "Hello"}) as streaming:
        assert streaming.status == 404
        error = streaming.json()["error"]
    assert error["code"] == "ModelNotFound"
    assert "known models: chat, small, summarizer" in error["message"]


def test_async_only_model_is_refused_naming_the_streaming_ones(relay_url):
    with call(relay_url, {"model": "summarizer", "inputs": "Hello"}) as streaming:
        assert streaming.status == 400
        error = streaming.json()["error"]
    assert error["code"] == "ModelNotServedStreaming"
    assert "streaming models: chat, small" in error["message"]


def test_model_must_be_a_name(relay_url):
    with call(relay_url, {"model": ["chat"], "inputs": "Hello"}) as streaming:
        assert streaming.status == 400
        assert streaming.json()["error"]["code"] == "invalid_request"


def test_a_vllm_model_is_sent_to_chat_completions_for_its_stream(relay_for):
    models = {"fast": {"container_format": "vllm",
                       "streaming": {"endpoint_name": "streaming-endpoint", "inference_component_name": "fast-ic"}}}
    url = relay_for(settings=stream_settings.Settings(catalog=catalog.ModelCatalog.from_dict(
        {"default": "fast", "models": models}), upstream_max_attempts=1))
    with call(url, {"model": "fast", "inputs": "Hello"}) as streaming:
        assert streaming.status == 400
        error = streaming.json()["error"]
    assert error["code"] == "ModelNotServedStreaming"
    assert "POST /v1/chat/completions" in error["message"]
