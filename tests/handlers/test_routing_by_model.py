"""The async API routes each request to the model it names, and lists the catalog's models."""

from __future__ import annotations

import time

from handler_harness import ENDPOINT_NAME, SUMMARIZER_ENDPOINT


def test_submit_without_a_model_goes_to_the_catalogs_default(api_on_scripted_runtime, scripted_runtime):
    answer = api_on_scripted_runtime.submit({"inputs": "Hello"})

    assert answer.body["model"] == "chat"
    [invoke] = scripted_runtime.invocations
    assert invoke.path == f"/endpoints/{ENDPOINT_NAME}/async-invocations"


def test_submit_naming_a_model_invokes_that_models_endpoint(api_on_scripted_runtime, scripted_runtime):
    answer = api_on_scripted_runtime.submit({"inputs": "Summarise this", "model": "summarizer"})

    assert (answer.status, answer.body["model"]) == (202, "summarizer")
    [invoke] = scripted_runtime.invocations
    assert invoke.path == f"/endpoints/{SUMMARIZER_ENDPOINT}/async-invocations"


def test_unknown_model_is_404_model_not_found_listing_the_known_ones(api, aws):
    answer = api.submit({"inputs": "Hello", "model": "gpt-7"})

    assert answer.status == 404
    assert answer.body["error"]["code"] == "ModelNotFound"
    assert "known models: chat, summarizer, small" in answer.body["error"]["message"]
    assert aws.request_items() == [] and aws.keys_under("inference-input", "") == []


def test_streaming_only_model_is_refused_for_async_naming_the_async_ones(api):
    answer = api.submit({"inputs": "Hello", "model": "small"})

    assert answer.status == 400
    assert answer.body["error"]["code"] == "ModelNotServedAsync"
    assert "asynchronously: chat, summarizer" in answer.body["error"]["message"]


def test_model_must_be_a_name(api):
    answer = api.submit({"inputs": "Hello", "model": 7})

    assert (answer.status, answer.body["error"]["code"]) == (400, "InvalidRequest")


def test_uploaded_payload_may_name_its_model(api_on_scripted_runtime, scripted_runtime, aws):
    upload = api_on_scripted_runtime.request("POST", "/v1/uploads").body
    key = upload["input_location"].split("/", 3)[3]
    aws.s3.put_object(Bucket="inference-input", Key=key, Body=b'{"inputs": "Hi"}')

    answer = api_on_scripted_runtime.submit({"input_location": upload["input_location"], "model": "summarizer"})

    assert answer.status == 202
    [invoke] = scripted_runtime.invocations
    assert invoke.path == f"/endpoints/{SUMMARIZER_ENDPOINT}/async-invocations"


def test_status_reports_the_model_the_request_went_to(api):
    submitted = api.submit({"inputs": "Summarise this", "model": "summarizer"}).body

    status = api.request("GET", submitted["status_url"])

    assert (status.status, status.body["model"]) == (200, "summarizer")


def test_status_naming_the_requests_model_answers(api):
    submitted = api.submit({"inputs": "Hello", "model": "summarizer"}).body

    assert api.request("GET", submitted["status_url"], query={"model": "summarizer"}).status == 200


def test_status_naming_another_model_is_not_found(api):
    submitted = api.submit({"inputs": "Hello", "model": "summarizer"}).body

    answer = api.request("GET", submitted["status_url"], query={"model": "chat"})

    assert (answer.status, answer.body["error"]["code"]) == (404, "InferenceNotFound")


def test_status_naming_an_unknown_model_is_model_not_found(api):
    submitted = api.submit({"inputs": "Hello"}).body

    answer = api.request("GET", submitted["status_url"], query={"model": "gpt-7"})

    assert (answer.status, answer.body["error"]["code"]) == (404, "ModelNotFound")


def test_models_are_listed_in_openais_list_shape_with_their_modes(api):
    answer = api.request("GET", "/v1/models")

    assert answer.status == 200
    created = answer.body["data"][0]["created"]
    assert isinstance(created, int) and 0 <= time.time() - created < 3600
    assert answer.body == {
        "object": "list",
        "data": [
            {"id": "chat", "object": "model", "created": created, "owned_by": "llm-hosting",
             "modes": ["async", "streaming"], "default": True},
            {"id": "summarizer", "object": "model", "created": created, "owned_by": "llm-hosting",
             "modes": ["async"], "default": False},
            {"id": "small", "object": "model", "created": created, "owned_by": "llm-hosting",
             "modes": ["streaming"], "default": False},
        ],
    }


def test_models_answer_only_get(api):
    answer = api.request("POST", "/v1/models", body="{}")

    assert (answer.status, answer.headers.get("Allow")) == (405, "GET")
