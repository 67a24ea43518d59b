"""The streaming front's configuration, read once from the environment the stack sets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from generation_request import ContainerFormat

CONTAINER_FORMATS: tuple[ContainerFormat, ...] = ("tgi", "lmi")


class ConfigurationError(Exception):
    """An environment variable is missing or has a value the front cannot use."""


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    container_format: ContainerFormat = "tgi"
    inference_component_name: str | None = None
    upstream_read_timeout_seconds: float = 60.0
    upstream_max_attempts: int = 2

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read ``ENDPOINT_NAME`` (required), ``CONTAINER_FORMAT`` (tgi | lmi, default tgi),
        ``INFERENCE_COMPONENT_NAME`` (optional), ``UPSTREAM_READ_TIMEOUT_SECONDS`` (default 60)
        and ``UPSTREAM_MAX_ATTEMPTS`` (default 2)."""
        endpoint_name = environ.get("ENDPOINT_NAME", "").strip()
        if not endpoint_name:
            raise ConfigurationError("ENDPOINT_NAME must be set to the SageMaker endpoint's name")
        container_format = environ.get("CONTAINER_FORMAT", "tgi").strip().lower()
        if container_format not in CONTAINER_FORMATS:
            raise ConfigurationError(
                f"CONTAINER_FORMAT is {container_format!r}; allowed: {', '.join(CONTAINER_FORMATS)}"
            )
        return cls(
            endpoint_name=endpoint_name,
            container_format=container_format,  # type: ignore[arg-type]
            inference_component_name=environ.get("INFERENCE_COMPONENT_NAME", "").strip() or None,
            upstream_read_timeout_seconds=_positive_seconds(environ, "UPSTREAM_READ_TIMEOUT_SECONDS", 60.0),
            upstream_max_attempts=_attempts(environ, "UPSTREAM_MAX_ATTEMPTS", 2),
        )


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
