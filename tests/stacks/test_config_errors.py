"""The error formatter reads the allowed keys and values from the model, whatever its shape.

The shipped config is one shape; the model catalog (a mapping of named models, optional blocks)
is another. These models stand in for any future one: the messages must not depend on it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stacks.config_errors import describe


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Streaming(_Strict):
    max_copies: int = 1
    min_copies: int = 0


class Model(_Strict):
    container: Literal["lmi", "vllm", "tgi"] = "lmi"
    streaming: Streaming | None = None


class Catalog(_Strict):
    models: dict[str, Model]
    invokers: list[Annotated[str, Field(pattern=r"^\d{12}$", description="a 12-digit account id in quotes")]] = []


def messages(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Catalog.model_validate(data)
    return [describe(error, Catalog) for error in caught.value.errors(include_url=False)]


def test_an_unknown_key_inside_a_named_entry_of_a_mapping_gets_the_entrys_keys():
    (message,) = messages({"models": {"chat": {"containr": "lmi"}}})
    assert message == "field 'models.chat.containr': unknown key; did you mean 'container'? (allowed here: container, streaming)"


def test_an_unknown_key_inside_an_optional_block_gets_the_blocks_keys():
    (message,) = messages({"models": {"chat": {"streaming": {"max_copie": 2}}}})
    assert "field 'models.chat.streaming.max_copie': unknown key; did you mean 'max_copies'" in message
    assert "(allowed here: max_copies, min_copies)" in message


def test_a_choice_inside_a_mapping_lists_the_values_and_the_near_miss():
    (message,) = messages({"models": {"chat": {"container": "vlm"}}})
    assert message.startswith("field 'models.chat.container': must be one of 'lmi', 'vllm', 'tgi' (got 'vlm'); did you mean 'vllm'")


def test_a_pattern_on_list_items_is_described_not_shown():
    (message,) = messages({"models": {}, "invokers": ["12345"]})
    assert message == "field 'invokers[0]': must be a 12-digit account id in quotes (got '12345')"
