"""MODEL_CATALOG: the contract between the stacks that write it and the handlers that route by model."""

from __future__ import annotations

import json

import pytest
from inference_common.catalog import CatalogError, ModelCatalog, ModelNotFound

TWO_MODELS = {
    "default": "chat",
    "models": {
        "chat": {
            "container_format": "lmi",
            "async": {"endpoint_name": "llm-dev-chat-async-1a2b3c4d"},
            "streaming": {"endpoint_name": "llm-dev-streaming", "inference_component_name": "llm-dev-chat"},
        },
        "summarizer": {"container_format": "vllm", "async": {"endpoint_name": "llm-dev-summarizer-async"}},
    },
}


def test_a_request_without_a_model_gets_the_default():
    catalog = ModelCatalog.from_json(json.dumps(TWO_MODELS))
    assert catalog.resolve(None).name == "chat"


def test_a_named_model_resolves_to_its_own_targets():
    model = ModelCatalog.from_json(json.dumps(TWO_MODELS)).resolve("summarizer")
    assert model.async_target.endpoint_name == "llm-dev-summarizer-async"
    assert model.streaming_target is None
    assert model.modes == ("async",)


def test_an_unknown_model_names_the_known_ones():
    with pytest.raises(ModelNotFound) as raised:
        ModelCatalog.from_json(json.dumps(TWO_MODELS)).resolve("gpt-4")
    assert raised.value.known == ("chat", "summarizer")


def test_a_model_name_that_is_not_a_string_is_not_found_rather_than_a_crash():
    with pytest.raises(ModelNotFound):
        ModelCatalog.from_json(json.dumps(TWO_MODELS)).resolve(["chat"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"default": "chat", "models": {}},
        {"default": "other", "models": TWO_MODELS["models"]},
        {"default": "chat", "models": {"chat": {"container_format": "tgi"}}},
        {"default": "chat", "models": {"chat": {"container_format": "x", "async": {"endpoint_name": "e"}}}},
        {"default": "chat", "models": {"chat": {"container_format": "lmi", "streaming": {"endpoint_name": "e"}}}},
    ],
)
def test_a_malformed_catalog_is_a_deployment_error(broken):
    with pytest.raises(CatalogError):
        ModelCatalog.from_dict(broken)


def test_a_missing_variable_is_a_deployment_error():
    with pytest.raises(CatalogError, match="MODEL_CATALOG"):
        ModelCatalog.from_environ({})
