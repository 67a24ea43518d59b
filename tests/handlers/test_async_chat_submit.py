"""POST /v1/inferences with an OpenAI chat body, against moto and the scripted runtime."""

import json

from handler_harness import ENDPOINT_NAME, INPUT_BUCKET, SUMMARIZER_ENDPOINT

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "Summarise: ..."}], "max_tokens": 64}


def error_of(answer) -> tuple[int, str]:
    return answer.status, answer.body["error"]["code"]


def test_a_chat_body_is_accepted_as_a_background_job(api):
    answer = api.submit(CHAT)

    assert answer.status == 202
    assert answer.body["status"] == "InProgress"


def test_the_container_gets_the_chat_body_asking_for_one_whole_answer(api, aws):
    answer = api.submit({**CHAT, "max_completion_tokens": None, "temperature": 0.2})

    stored = aws.s3.get_object(Bucket=INPUT_BUCKET, Key=f"requests/{answer.body['inference_id']}.json")["Body"].read()
    assert json.loads(stored) == {
        "messages": [{"role": "user", "content": "Summarise: ..."}], "max_tokens": 64, "temperature": 0.2,
        "stream": False,
    }


def test_the_named_models_async_endpoint_is_invoked(api_on_scripted_runtime, scripted_runtime):
    api_on_scripted_runtime.submit({**CHAT, "model": "summarizer"})
    api_on_scripted_runtime.submit(CHAT)

    assert [invoke.path for invoke in scripted_runtime.invocations] == [
        f"/endpoints/{SUMMARIZER_ENDPOINT}/async-invocations",
        f"/endpoints/{ENDPOINT_NAME}/async-invocations",
    ]


def test_a_chat_body_without_model_goes_to_the_default_model(api_on_scripted_runtime, scripted_runtime):
    body = {name: value for name, value in CHAT.items() if name != "model"}
    assert api_on_scripted_runtime.submit(body).status == 202

    [invoke] = scripted_runtime.invocations
    assert invoke.path == f"/endpoints/{ENDPOINT_NAME}/async-invocations"


def test_invocation_options_ride_along_with_a_chat_body(api_on_scripted_runtime, scripted_runtime):
    api_on_scripted_runtime.submit({**CHAT, "request_ttl_seconds": 600})

    [invoke] = scripted_runtime.invocations
    assert invoke.headers["x-amzn-sagemaker-requestttlseconds"] == "600"


def test_an_unknown_model_is_404_model_not_found_naming_the_known_ones(api, aws):
    answer = api.submit({**CHAT, "model": "gpt-4o"})

    assert error_of(answer) == (404, "ModelNotFound")
    assert "chat, summarizer, small" in answer.body["error"]["message"]
    assert aws.request_items() == []


def test_a_streaming_only_model_is_refused_pointing_to_chat_completions(api):
    answer = api.submit({**CHAT, "model": "small"})

    assert error_of(answer) == (400, "ModelNotServedAsync")
    assert "/v1/chat/completions" in answer.body["error"]["message"]


def test_stream_true_is_refused_on_the_async_path(api):
    assert error_of(api.submit({**CHAT, "stream": True})) == (400, "InvalidRequest")


def test_an_unsupported_chat_field_is_refused_naming_it(api):
    answer = api.submit({**CHAT, "tools": [{"type": "function"}]})

    assert error_of(answer) == (400, "InvalidRequest")
    assert "'tools'" in answer.body["error"]["message"]
