"""OpenAI Chat Completions, the domain part: the request a caller may send, and how every container's
stream becomes the same chat.completion.chunk events, whatever its PayloadPart boundaries."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .streaming_modules import catalog, chat_request, openai_chat, sse_relay, token_stream
from .streams import (
    lmi_chat_stream,
    lmi_error_line,
    lmi_stream,
    tgi_chat_stream,
    tgi_stream,
    vllm_chat_stream,
    vllm_error_event,
)

ChatError = chat_request.ChatError
# No deadline: the suite shares two cores with synth; the property, not the speed, is under test.
unhurried = settings(deadline=None)
CATALOG = catalog.ModelCatalog.from_dict(
    {
        "default": "chat",
        "models": {
            "chat": {"container_format": "lmi", "streaming": {"endpoint_name": "e", "inference_component_name": "ic"}},
            "fast": {"container_format": "vllm", "streaming": {"endpoint_name": "e", "inference_component_name": "ic2"}},
            "batch": {"container_format": "tgi", "async": {"endpoint_name": "batch-async"}},
        },
    }
)
TEXTS = ["Hel", "lo, ", "wörld", " 🌍", "!"]
ANSWER = "".join(TEXTS)

STREAMS = {
    "lmi chat JSON lines": lmi_chat_stream(TEXTS),
    "vllm chat SSE": vllm_chat_stream(TEXTS),
    "tgi chat SSE": tgi_chat_stream(TEXTS),
    "lmi token JSON lines": lmi_stream(TEXTS),
    "tgi token SSE": tgi_stream(TEXTS),
}


def chat(**fields) -> chat_request.ChatRequest:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **fields}
    return chat_request.parse_chat_request(body, CATALOG)


def refusal(**fields) -> ChatError:
    with pytest.raises(ChatError) as raised:
        chat(**fields)
    return raised.value


def normalise(parts: list[bytes], request: chat_request.ChatRequest) -> list[object]:
    """What a caller reads: each SSE data payload, JSON-decoded except the [DONE] sentinel."""
    decoder, chunks = token_stream.TokenStream(), openai_chat.ChatChunks(request)
    wire = b"".join(chunks(decoder.feed(part)) for part in parts) + chunks(decoder.finish())
    events = [line.removeprefix(b"data: ") for line in wire.split(b"\n\n") if line]
    return [event.decode() if event == b"[DONE]" else json.loads(event) for event in events]


def content_of(events: list[object]) -> str:
    return "".join(
        choice["delta"].get("content", "")
        for event in events
        if isinstance(event, dict) and "choices" in event
        for choice in event["choices"]
    )


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


# --- the request ---


def test_a_field_outside_the_supported_set_is_refused_naming_it():
    error = refusal(logprobs=True)
    assert (error.status, error.param, error.code) == (400, "logprobs", "unsupported_parameter")
    assert "logprobs" in error.message


def test_a_misspelt_field_is_refused_suggesting_the_near_miss():
    error = refusal(max_token=5)
    assert error.param == "max_token"
    assert "did you mean 'max_tokens'?" in error.message


def test_an_unknown_model_is_404_model_not_found_listing_the_known_ones():
    error = refusal(model="gpt-4o")
    assert (error.status, error.param, error.code) == (404, "model", "model_not_found")
    assert "chat, fast, batch" in error.message


def test_a_model_served_only_asynchronously_is_refused_pointing_to_the_async_route():
    error = refusal(model="batch")
    assert error.status == 400 and "/v1/inferences" in error.message


def test_a_missing_model_is_a_400_naming_model():
    with pytest.raises(ChatError) as raised:
        chat_request.parse_chat_request({"messages": [{"role": "user", "content": "hi"}]}, CATALOG)
    assert (raised.value.status, raised.value.param) == (400, "model")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "messages[0].content"),
    ],
)
def test_an_invalid_value_is_a_400_naming_its_field(fields, param):
    error = refusal(**fields)
    assert (error.status, error.param) == (400, param)


def test_the_error_body_has_openais_shape():
    assert set(refusal(n=3).body()["error"]) == {"message", "type", "param", "code"}


def test_null_fields_are_treated_as_absent():
    assert chat(temperature=None, logprobs=None).options == {}


def test_max_completion_tokens_reaches_the_container_as_max_tokens():
    assert chat(max_completion_tokens=64).options == {"max_tokens": 64}


def test_top_p_of_one_is_not_forwarded_because_tgi_refuses_it():
    assert "top_p" not in chat(top_p=1).options
    assert chat(top_p=0.9).options["top_p"] == 0.9


def test_the_developer_role_becomes_system_and_text_parts_are_joined():
    request = chat(messages=[{"role": "developer", "content": "be brief"},
                             {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert request.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ab"}]


def test_the_container_body_streams_and_asks_vllm_and_tgi_for_usage_but_not_lmi():
    lmi = json.loads(chat(temperature=0.5, stop="END", seed=7).container_body())
    vllm = json.loads(chat(model="fast").container_body())
    assert lmi == {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "stop": ["END"], "seed": 7,
                   "stream": True}
    assert vllm["stream_options"] == {"include_usage": True}
    assert "model" not in lmi and "model" not in vllm


# --- the stream, whatever the container ---


@pytest.mark.parametrize("name", STREAMS)
def test_every_container_format_becomes_the_same_openai_chunks(name):
    events = normalise([STREAMS[name]], chat(stream=True))
    assert content_of(events) == ANSWER
    assert events[0]["object"] == "chat.completion.chunk" and events[0]["model"] == "chat"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1] == "[DONE]"


@pytest.mark.parametrize("name", STREAMS)
def test_every_split_point_of_every_format_gives_the_same_chunks(name):
    data = STREAMS[name]
    whole = normalise([data], chat(stream=True))
    for cut in range(1, len(data)):
        events = normalise([data[:cut], data[cut:]], chat(stream=True))
        assert content_of(events) == ANSWER and events[-1] == "[DONE]", f"split at byte {cut}"
        assert [e if isinstance(e, str) else e["choices"] for e in events] == [
            e if isinstance(e, str) else e["choices"] for e in whole
        ]


@unhurried
@given(name=st.sampled_from(sorted(STREAMS)), cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=40))
def test_any_number_of_splits_gives_the_same_content(name, cuts):
    data = STREAMS[name]
    events = normalise(split(data, [c % (len(data) + 1) for c in cuts]), chat(stream=True))
    assert content_of(events) == ANSWER
    assert events[-1] == "[DONE]"


@unhurried
@given(
    texts=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20),
    fmt=st.sampled_from([lmi_chat_stream, vllm_chat_stream, tgi_chat_stream]),
)
def test_any_generated_text_survives_any_split_in_every_chat_format(texts, cuts, fmt):
    data = fmt(texts)
    events = normalise(split(data, [c % (len(data) + 1) for c in cuts]), chat(stream=True))
    assert content_of(events) == "".join(texts)


@pytest.mark.parametrize(
    ("failing_stream", "message"),
    [
        (lmi_chat_stream(["a", "b"])[:-1].rsplit(b"\n", 1)[0] + b"\n" + lmi_error_line("CUDA out of memory"),
         "CUDA out of memory"),
        (vllm_chat_stream(["a", "b"]).split(b"data: [DONE]")[0].rsplit(b"data: ", 1)[0] + vllm_error_event("engine died"),
         "engine died"),
        (b"data:" + json.dumps({"error": "Request failed during generation", "error_type": "generation"}).encode()
         + b"\n\n", "Request failed during generation"),
    ],
    ids=["lmi", "vllm", "tgi"],
)
def test_a_failure_after_the_first_byte_ends_with_an_error_event_then_done(failing_stream, message):
    events = normalise([failing_stream], chat(stream=True))
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["message"] == message
    assert set(events[-2]["error"]) == {"message", "type", "param", "code"}


def test_a_chat_stream_cut_before_its_finish_reason_is_an_error_not_a_short_answer():
    truncated = lmi_chat_stream(["a", "b", "c"]).rsplit(b"\n", 2)[0] + b"\n"
    events = normalise([truncated], chat(stream=True))
    assert events[-2]["error"]["code"] == "incomplete_stream"


def test_include_usage_adds_a_last_chunk_with_the_containers_usage():
    usage = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    events = normalise([vllm_chat_stream(TEXTS, usage=usage)], chat(stream=True, stream_options={"include_usage": True}))
    assert events[-2]["choices"] == [] and events[-2]["usage"] == usage


def test_without_container_usage_the_usage_chunk_counts_tokens_and_says_it_is_estimated():
    events = normalise([lmi_chat_stream(TEXTS)], chat(stream=True, stream_options={"include_usage": True}))
    assert events[-2]["usage"] == {"prompt_tokens": 0, "completion_tokens": 5, "total_tokens": 5, "estimated": True}


def test_without_include_usage_no_usage_chunk_is_sent():
    events = normalise([vllm_chat_stream(TEXTS, usage={"prompt_tokens": 1, "completion_tokens": 5})], chat(stream=True))
    assert not any(isinstance(e, dict) and "usage" in e for e in events)


def test_lmi_finish_reasons_become_openais():
    assert openai_chat.finish_reason("eos_token") == "stop"
    assert openai_chat.finish_reason("stop_sequence") == "stop"
    assert openai_chat.finish_reason("length") == "length"


def test_a_non_streaming_answer_is_one_chat_completion():
    decoder, builder = token_stream.TokenStream(), openai_chat.ChatCompletionBuilder(chat())
    builder.add(decoder.feed(lmi_chat_stream(TEXTS, finish_reason="length")))
    builder.add(decoder.finish())
    completion = builder.completion()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    assert completion["choices"][0]["finish_reason"] == "length"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from([*chat_request.SUPPORTED_FIELDS, "tools", "logprobs"])


@unhurried
@given(
    body=st.dictionaries(FIELDS, JSON, max_size=6)
    | st.builds(lambda extra: {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **extra},
                st.dictionaries(FIELDS, JSON, max_size=3))
    | JSON
)
def test_any_json_body_is_a_chat_request_or_a_documented_4xx(body):
    try:
        request = chat_request.parse_chat_request(body, CATALOG)
    except ChatError as error:
        assert error.status in (400, 404)
        assert set(error.body()["error"]) == {"message", "type", "param", "code"}
    else:
        assert json.loads(request.container_body())["messages"]


def test_a_chunk_line_over_the_decoders_cap_ends_with_an_error_event_not_unbounded_memory():
    decoder, chunks = token_stream.TokenStream(max_line_bytes=256), openai_chat.ChatChunks(chat(stream=True))
    wire = chunks(sse_relay.next_events(decoder.events(iter([lmi_chat_stream(["x" * 1000])]))))
    events = [line.removeprefix(b"data: ") for line in wire.split(b"\n\n") if line]
    assert json.loads(events[-2])["error"]["code"] == "line_too_long"
    assert events[-1] == b"[DONE]"
    assert decoder.pending_bytes == 0
