"""The streaming front's configuration, read once from the environment the stack sets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from inference_common.catalog import CatalogError, CatalogModel, ModelCatalog, StreamingTarget

# The container formats whose streams this front decodes (lambda/streaming/token_stream.py).
STREAMABLE_FORMATS = ("tgi", "lmi")


class ConfigurationError(Exception):
    """An environment variable is missing or has a value the front cannot use."""


@dataclass(frozen=True)
class Settings:
    catalog: ModelCatalog
    upstream_read_timeout_seconds: float = 60.0
    upstream_max_attempts: int = 2

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read ``MODEL_CATALOG`` (required, see inference_common.catalog),
        ``UPSTREAM_READ_TIMEOUT_SECONDS`` (default 60) and ``UPSTREAM_MAX_ATTEMPTS`` (default 2)."""
        try:
            catalog = ModelCatalog.from_environ(environ)
        except CatalogError as error:
            raise ConfigurationError(str(error)) from None
        return cls(
            catalog=catalog,
            upstream_read_timeout_seconds=_positive_seconds(environ, "UPSTREAM_READ_TIMEOUT_SECONDS", 60.0),
            upstream_max_attempts=_attempts(environ, "UPSTREAM_MAX_ATTEMPTS", 2),
        )

    @classmethod
    def one_model(
        cls,
        endpoint_name: str,
        *,
        container_format: str = "tgi",
        inference_component_name: str | None = None,
        **options: float,
    ) -> Settings:
        """A catalog of one streaming model, named "default" (local runs, tests, benchmarks)."""
        catalog = ModelCatalog(
            default="default",
            models={
                "default": CatalogModel(
                    name="default",
                    container_format=container_format,  # type: ignore[arg-type]
                    async_target=None,
                    streaming_target=StreamingTarget(endpoint_name, inference_component_name or ""),
                )
            },
        )
        return cls(catalog=catalog, **options)  # type: ignore[arg-type]


def _positive_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} is {raw!r}; it must be a positive number of seconds")
    return value


def _attempts(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 10:
        raise ConfigurationError(f"{name} is {raw!r}; it must be an integer from 1 to 10")
    return int(raw)
