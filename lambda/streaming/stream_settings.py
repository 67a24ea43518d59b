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
    # Scale to zero: hold a request for a model at zero copies (see hold.py) instead of refusing it.
    scale_to_zero: bool = False
    max_hold_seconds: float = 600.0
    hold_keepalive_seconds: float = 15.0
    # How often a held request tries the endpoint: the delay between a copy starting and its first token.
    hold_poll_seconds: float = 0.5
    # CloudWatch namespace of the front's time-to-first-token metric (stream_metrics.py); none: not published.
    metrics_namespace: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read ``MODEL_CATALOG`` (required, see inference_common.catalog),
        ``UPSTREAM_READ_TIMEOUT_SECONDS`` (default 60), ``UPSTREAM_MAX_ATTEMPTS`` (default 2),
        ``SCALE_TO_ZERO`` (true | false, default false), ``MAX_HOLD_SECONDS`` (default 600),
        ``HOLD_KEEPALIVE_SECONDS`` (default 15), ``HOLD_POLL_SECONDS`` (default 0.5) and
        ``METRICS_NAMESPACE`` (optional)."""
        try:
            catalog = ModelCatalog.from_environ(environ)
        except CatalogError as error:
            raise ConfigurationError(str(error)) from None
        scale_to_zero = environ.get("SCALE_TO_ZERO", "false").strip().lower()
        if scale_to_zero not in ("true", "false"):
            raise ConfigurationError(f"SCALE_TO_ZERO is {scale_to_zero!r}; allowed: true, false")
        return cls(
            catalog=catalog,
            upstream_read_timeout_seconds=_positive_seconds(environ, "UPSTREAM_READ_TIMEOUT_SECONDS", 60.0),
            upstream_max_attempts=_attempts(environ, "UPSTREAM_MAX_ATTEMPTS", 2),
            scale_to_zero=scale_to_zero == "true",
            max_hold_seconds=_positive_seconds(environ, "MAX_HOLD_SECONDS", 600.0),
            hold_keepalive_seconds=_positive_seconds(environ, "HOLD_KEEPALIVE_SECONDS", 15.0),
            hold_poll_seconds=_positive_seconds(environ, "HOLD_POLL_SECONDS", 0.5),
            metrics_namespace=environ.get("METRICS_NAMESPACE") or None,
        )

    @classmethod
    def one_model(
        cls,
        endpoint_name: str,
        *,
        container_format: str = "tgi",
        inference_component_name: str | None = None,
        **options: float | bool,
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
