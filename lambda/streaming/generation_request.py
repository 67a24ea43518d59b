"""Validate a streaming generation request and build the container's request body.

The public API is one shape for both containers:
``{"inputs": "<prompt>", "parameters": {<generation parameters>}}``.

Decisions:

* Unknown keys, at the top level or in ``parameters``, are rejected rather than passed
  through: a misspelt parameter would otherwise be silently ignored by the container, and a
  pass-through would let callers reach container options (``details``,
  ``return_full_text``, ``stream``) that change the shape of the stream this relay decodes.
* Bounds are those both TGI and LMI accept, so a request that passes here is not rejected
  by the container for its parameters (``top_p`` is exclusive of 1.0 because TGI requires it).
* Booleans are not numbers here and integers must be JSON integers. The body itself is parsed
  by ``inference_common.strict_json``, which refuses what is not strict JSON (NaN, nesting
  too deep, unencodable strings) with its own codes.
* ``stop`` is the public name for stop sequences; LMI calls them ``stop_sequences``.
* ``"stream": true`` is added for both containers: TGI needs it to stream, and LMI's
  rolling-batch schema documents ``stream`` with default ``false`` (without it LMI answers
  with one JSON document at the end).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from inference_common import strict_json

ContainerFormat = Literal["tgi", "lmi"]
FIELDS = ("model", "inputs", "parameters")

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted. SageMaker takes up to 6 MB; a prompt for a 128k-token
context is well under 1 MiB, and the cap keeps a Lambda's memory predictable."""

MAX_STOP_SEQUENCES = 4
"""TGI's default ``max_stop_sequences``."""

MAX_STOP_SEQUENCE_CHARS = 256


@dataclass(frozen=True)
class _Bound:
    kind: type
    low: float
    high: float
    low_inclusive: bool = True
    high_inclusive: bool = True

    def describe(self) -> str:
        low = "[" if self.low_inclusive else "("
        high = "]" if self.high_inclusive else ")"
        kind = "an integer" if self.kind is int else "a number"
        return f"{kind} in {low}{_number(self.low)}, {_number(self.high)}{high}"

    def admits(self, value: float) -> bool:
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below


NUMERIC_PARAMETERS: dict[str, _Bound] = {
    "max_new_tokens": _Bound(int, 1, 4096),
    "temperature": _Bound(float, 0.0, 100.0, low_inclusive=False),
    "top_p": _Bound(float, 0.0, 1.0, low_inclusive=False, high_inclusive=False),
    "top_k": _Bound(int, 1, 100_000),
    "repetition_penalty": _Bound(float, 0.0, 10.0, low_inclusive=False),
    "seed": _Bound(int, 0, 2**64 - 1),
}
BOOLEAN_PARAMETERS = frozenset({"do_sample"})
KNOWN_PARAMETERS = frozenset(NUMERIC_PARAMETERS) | BOOLEAN_PARAMETERS | {"stop"}


class InvalidRequest(Exception):
    """The request cannot be served as sent; ``code`` and ``message`` go to the caller."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class GenerationRequest:
    inputs: str
    parameters: dict[str, Any]
    # A model of the environment's catalog; None means the catalog's default.
    model: str | None = None

    def container_body(self, container_format: ContainerFormat) -> bytes:
        """The JSON body for the container behind the endpoint, asking it to stream."""
        parameters = dict(self.parameters)
        if container_format == "lmi" and "stop" in parameters:
            parameters["stop_sequences"] = parameters.pop("stop")
        body: dict[str, Any] = {"inputs": self.inputs, "stream": True}
        if parameters:
            body["parameters"] = parameters
        return json.dumps(body, ensure_ascii=False).encode("utf-8")


def parse_generation_request(body: bytes) -> GenerationRequest:
    """Parse and validate a request body; raise ``InvalidRequest`` naming what is wrong."""
    document = _parse_json(body)
    if not isinstance(document, dict):
        raise InvalidRequest("invalid_request", "the body must be a JSON object")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise InvalidRequest(
            "invalid_request",
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}",
        )
    model = document.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidRequest("invalid_request", "model must be the name of a model, as GET /v1/models lists them")
    inputs = document.get("inputs")
    if not isinstance(inputs, str):
        raise InvalidRequest("invalid_request", "inputs is required and must be a string")
    if not inputs.strip():
        raise InvalidRequest("invalid_request", "inputs must not be empty")
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidRequest("invalid_request", "parameters must be a JSON object")
    return GenerationRequest(inputs=inputs, parameters=_validate_parameters(parameters), model=model)


def _parse_json(body: bytes) -> Any:
    try:
        return strict_json.parse_body(body)
    except strict_json.JsonRejected as error:
        raise InvalidRequest(error.code, error.message) from None


def _validate_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(parameters) - KNOWN_PARAMETERS)
    if unknown:
        raise InvalidRequest(
            "invalid_request",
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KNOWN_PARAMETERS))}",
        )
    validated: dict[str, Any] = {}
    for name, value in parameters.items():
        if name in NUMERIC_PARAMETERS:
            validated[name] = _validate_number(name, value, NUMERIC_PARAMETERS[name])
        elif name in BOOLEAN_PARAMETERS:
            if not isinstance(value, bool):
                raise InvalidRequest("invalid_request", f"parameters.{name} must be true or false")
            validated[name] = value
        else:
            validated[name] = _validate_stop(value)
    return validated


def _validate_number(name: str, value: Any, bound: _Bound) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest("invalid_request", f"parameters.{name} must be {bound.describe()}")
    if bound.kind is int and not isinstance(value, int):
        raise InvalidRequest("invalid_request", f"parameters.{name} must be {bound.describe()}")
    if not bound.admits(value):
        raise InvalidRequest("invalid_request", f"parameters.{name} must be {bound.describe()}")
    return value


def _validate_stop(value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_SEQUENCE_CHARS for s in value)
    ):
        raise InvalidRequest(
            "invalid_request",
            f"parameters.stop must be a list of at most {MAX_STOP_SEQUENCES} non-empty strings "
            f"of at most {MAX_STOP_SEQUENCE_CHARS} characters",
        )
    return list(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
