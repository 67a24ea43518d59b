"""The environment's model catalog as the API functions see it.

The stacks derive it from the environment's config and hand it to every API function as one
environment variable, ``MODEL_CATALOG`` (JSON). This module is its only reader, so the shape below
is the contract between the CDK code that writes it and the handlers that route by model:

    {"default": "chat",
     "models": {
       "chat": {"container_format": "lmi",
                "async": {"endpoint_name": "llm-dev-chat-async-1a2b3c4d"},
                "streaming": {"endpoint_name": "llm-dev-streaming",
                              "inference_component_name": "llm-dev-chat"}},
       "summarizer": {"container_format": "vllm",
                      "async": {"endpoint_name": "llm-dev-summarizer-async-5e6f7a8b"}}}}

A model has at least one of ``async`` and ``streaming``. No AWS import: the handlers' cold start
pays only for ``json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ContainerFormat = Literal["lmi", "vllm", "tgi"]
CONTAINER_FORMATS: tuple[ContainerFormat, ...] = ("lmi", "vllm", "tgi")
ENVIRONMENT_VARIABLE = "MODEL_CATALOG"


class CatalogError(Exception):
    """MODEL_CATALOG is missing or malformed: a deployment mistake, never a caller's."""


class ModelNotFound(LookupError):
    """A caller named a model this environment does not serve."""

    def __init__(self, requested: str, known: tuple[str, ...]) -> None:
        self.requested = requested
        self.known = known
        super().__init__(f"model {requested!r} is not served here; known models: {', '.join(known)}")


@dataclass(frozen=True)
class AsyncTarget:
    endpoint_name: str


@dataclass(frozen=True)
class StreamingTarget:
    endpoint_name: str
    inference_component_name: str


@dataclass(frozen=True)
class CatalogModel:
    name: str
    container_format: ContainerFormat
    async_target: AsyncTarget | None
    streaming_target: StreamingTarget | None

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(mode for mode, target in (("async", self.async_target), ("streaming", self.streaming_target)) if target)


@dataclass(frozen=True)
class ModelCatalog:
    default: str
    models: Mapping[str, CatalogModel]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def resolve(self, requested: str | None) -> CatalogModel:
        """The model a request names, or the default when it names none."""
        name = self.default if requested is None else requested
        try:
            return self.models[name]
        except (KeyError, TypeError):
            raise ModelNotFound(str(name), self.names) from None

    @classmethod
    def from_json(cls, text: str) -> ModelCatalog:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as err:
            raise CatalogError(f"{ENVIRONMENT_VARIABLE} is not JSON: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ModelCatalog:
        raw = environ.get(ENVIRONMENT_VARIABLE)
        if not raw:
            raise CatalogError(f"{ENVIRONMENT_VARIABLE} must be set to the environment's model catalog (JSON)")
        return cls.from_json(raw)

    @classmethod
    def from_dict(cls, data: object) -> ModelCatalog:
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict) or not data["models"]:
            raise CatalogError(f"{ENVIRONMENT_VARIABLE} must hold a non-empty 'models' mapping")
        models = {name: _model(name, spec) for name, spec in data["models"].items()}
        default = data.get("default")
        if default not in models:
            raise CatalogError(f"{ENVIRONMENT_VARIABLE}: 'default' must name one of {', '.join(models)}")
        return cls(default=default, models=models)


def _model(name: str, spec: object) -> CatalogModel:
    if not isinstance(spec, dict):
        raise CatalogError(f"{ENVIRONMENT_VARIABLE}: model {name!r} must be a mapping")
    container_format = spec.get("container_format")
    if container_format not in CONTAINER_FORMATS:
        raise CatalogError(
            f"{ENVIRONMENT_VARIABLE}: model {name!r} has container_format {container_format!r}; "
            f"allowed: {', '.join(CONTAINER_FORMATS)}"
        )
    async_spec, streaming_spec = spec.get("async"), spec.get("streaming")
    if async_spec is None and streaming_spec is None:
        raise CatalogError(f"{ENVIRONMENT_VARIABLE}: model {name!r} has neither 'async' nor 'streaming'")
    try:
        async_target = AsyncTarget(endpoint_name=_name(async_spec, "endpoint_name")) if async_spec else None
        streaming_target = (
            StreamingTarget(
                endpoint_name=_name(streaming_spec, "endpoint_name"),
                inference_component_name=_name(streaming_spec, "inference_component_name"),
            )
            if streaming_spec
            else None
        )
    except (KeyError, TypeError, ValueError):
        raise CatalogError(f"{ENVIRONMENT_VARIABLE}: model {name!r} has an incomplete target") from None
    return CatalogModel(name, container_format, async_target, streaming_target)


def _name(spec: object, key: str) -> str:
    value = spec[key]  # type: ignore[index]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value
