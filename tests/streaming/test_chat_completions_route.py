"""POST /v1/chat/completions on the streaming front over real HTTP, boto3 reading the event-stream
emulator: what reaches the endpoint, and the statuses and shapes a caller gets back."""

from __future__ import annotations

import json

import pytest

from local.scripted_runtime import ModelStreamError, Refuse, parts

from .sse_client import StreamingCall
from .streaming_modules import ENDPOINT_NAME, catalog, stream_settings
from .streams import lmi_chat_stream, vllm_chat_stream, vllm_error_event

PATH = "/v1/chat/completions"
CATALOG = catalog.ModelCatalog.from_dict(
    {
        "default": "chat",
        "models": {
            "chat": {"container_format": "lmi",
                     "streaming": {"endpoint_name": ENDPOINT_NAME, "inference_component_name": "chat-ic"}},
            "fast": {"container_format": "vllm",
                     "streaming": {"endpoint_name": ENDPOINT_NAME, "inference_component_name": "fast-ic"}},
        },
    }
)


@pytest.fixture(scope="module")
def chat_url(relay_for) -> str:
    return relay_for(settings=stream_settings.Settings(catalog=CATALOG, upstream_max_attempts=1))


def complete(base_url: str, prompt: str, **fields) -> StreamingCall:
    body = {"model": "chat", "messages": [{"role": "user", "content": prompt}], **fields}
    return StreamingCall(base_url, PATH, json.dumps(body).encode())


def data_events(call: StreamingCall) -> list[object]:
    return data_events_of(call.response.read())


def data_events_of(raw: bytes) -> list[str]:
    return [line.removeprefix(b"data: ").decode() for line in raw.split(b"\n\n") if line]


def test_a_streamed_chat_answers_event_stream_chunks_ending_with_done(emulator, chat_url):
    scenario = emulator.script(parts(lmi_chat_stream(["Hi", " there"]), cuts=[5, 40]))
    with complete(chat_url, scenario.key, stream=True) as call:
        assert call.status == 200
        assert call.header("content-type") == "text/event-stream; charset=utf-8"
        events = data_events(call)
    chunks = [json.loads(event) for event in events[:-1]]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["Hi", " there", None]
    assert events[-1] == "[DONE]"


def test_the_named_models_component_gets_the_messages_body(emulator, chat_url):
    scenario = emulator.script(parts(vllm_chat_stream(["ok"]), cuts=[]))
    body = {"model": "fast", "messages": [{"role": "user", "content": scenario.key}], "max_tokens": 5}
    with StreamingCall(chat_url, PATH, json.dumps(body).encode()) as call:
        call.response.read()
    [request] = scenario.requests
    assert request["endpoint"] == ENDPOINT_NAME
    assert request["headers"]["x-amzn-sagemaker-inference-component"] == "fast-ic"
    assert request["body"] == {"messages": [{"role": "user", "content": scenario.key}], "max_tokens": 5,
                               "stream": True, "stream_options": {"include_usage": True}}


def test_a_non_streamed_chat_answers_one_chat_completion(emulator, chat_url):
    scenario = emulator.script(parts(lmi_chat_stream(["Hi", " there"], finish_reason="length"), cuts=[9]))
    with complete(chat_url, scenario.key) as call:
        assert call.status == 200
        completion = call.json()
    assert completion["object"] == "chat.completion" and completion["model"] == "chat"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "Hi there"}
    assert completion["choices"][0]["finish_reason"] == "length"


def test_a_non_streamed_chat_that_fails_mid_generation_is_a_502_in_openais_shape(emulator, chat_url):
    scenario = emulator.script([*parts(lmi_chat_stream(["Hi"])[:40], cuts=[]), ModelStreamError("took too long")])
    with complete(chat_url, scenario.key) as call:
        assert call.status == 502
        error = call.json()["error"]
    assert error["message"] == "took too long" and error["type"] == "server_error"


def test_an_unknown_model_is_a_404_in_openais_shape(chat_url):
    body = {"model": "nope", "messages": [{"role": "user", "content": "x"}]}
    with StreamingCall(chat_url, PATH, json.dumps(body).encode()) as call:
        assert call.status == 404
        assert call.json() == {"error": {"message": "the model 'nope' does not exist; available: chat, fast",
                                         "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}


def test_a_body_that_is_not_json_is_a_400_in_openais_shape(chat_url):
    with StreamingCall(chat_url, PATH, b"{not json") as call:
        assert call.status == 400
        assert call.json()["error"]["code"] == "malformed_json"


def test_a_model_scaling_from_zero_is_a_503_with_retry_after_in_openais_shape(emulator, chat_url):
    scenario = emulator.script([Refuse(400, "ValidationError", "Inference Component has no capacity to process this request.")])
    with complete(chat_url, scenario.key, stream=True) as call:
        assert call.status == 503
        assert call.header("retry-after")
        assert call.json()["error"]["type"] == "server_error"


def test_another_method_on_the_chat_route_is_a_405_in_openais_shape(chat_url):
    with StreamingCall(chat_url, PATH, b"", method="GET") as call:
        assert call.status == 405
        error = call.json()["error"]
    assert error["code"] == "method_not_allowed"
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "one-completion"])
def test_a_lone_surrogate_from_the_model_reaches_the_caller_as_its_json_escape(emulator, chat_url, stream):
    body = lmi_chat_stream(["Hi", "LONE"]).replace(b"LONE", b"\\ud800")
    scenario = emulator.script(parts(body, cuts=[]))
    with complete(chat_url, scenario.key, stream=stream) as call:
        assert call.status == 200
        raw = call.response.read()
    if stream:
        contents = [json.loads(event)["choices"][0]["delta"].get("content") for event in data_events_of(raw)[:-1]]
        assert contents == ["Hi", "\ud800", None]
    else:
        assert json.loads(raw)["choices"][0]["message"]["content"] == "Hi\ud800"


def test_a_model_error_whose_message_holds_a_lone_surrogate_is_a_502_not_a_500(emulator, chat_url):
    body = vllm_error_event("bad LONE").replace(b"LONE", b"\\ud800")
    scenario = emulator.script(parts(body, cuts=[]))
    with complete(chat_url, scenario.key, stream=False) as call:
        assert call.status == 502
        error = call.json()["error"]
    assert (error["type"], error["message"]) == ("server_error", "bad \ud800")
