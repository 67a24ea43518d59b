"""An OpenAI Chat Completions request body, validated, and the body its model's container takes.

Shared by ``POST /v1/chat/completions`` (the streaming front) and ``POST /v1/inferences`` with
``messages`` (the async API). No AWS import. What each container accepts is in
docs/container-formats.md.

Decisions:

* Fields every container documents are validated and forwarded; the others are refused with a
  400 naming the field (``param``), because they either change the shape of the answer this API
  normalises (``logprobs``, ``tools``, ``n`` > 1) or are not supported by every container.
  A field sent as ``null`` is treated as absent, as OpenAI does.
* ``max_completion_tokens`` (OpenAI's current name) is forwarded as ``max_tokens``, the name all
  three containers take. ``top_p: 1`` means "no nucleus filtering" and is not forwarded, since TGI
  refuses 1.0. The ``developer`` role (OpenAI's newer name for ``system``) becomes ``system``:
  the models' chat templates know ``system``.
* ``model`` names a catalog model; the container does not get it (vLLM would refuse a name it does
  not serve, and SageMaker already picks the model by endpoint or inference component).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from inference_common.catalog import CatalogModel, ModelCatalog, ModelNotFound

Mode = Literal["streaming", "async"]

MAX_STOP_SEQUENCES = 4
"""OpenAI's limit, and TGI's default ``max_stop_sequences``."""
MAX_MESSAGES = 2048
"""A conversation longer than this is a client bug long before it is a context limit."""
MAX_TOKENS = 131_072
"""128k tokens: the longest context of the open models these containers serve; the model's own
limit, when lower, is the container's to enforce (a 4xx from the container, passed on)."""
ROLES = ("system", "developer", "user", "assistant")

SUPPORTED_FIELDS = (
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
    "seed", "n", "stream", "stream_options", "frequency_penalty", "presence_penalty",
)


class ChatError(Exception):
    """An answer in OpenAI's error shape; ``status`` picks the exception the ``openai`` SDK raises."""

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
        code: str | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    model: CatalogModel
    messages: list[dict]
    stream: bool
    include_usage: bool
    options: dict[str, Any] = field(default_factory=dict)
    """Generation fields for the container, already validated and renamed."""

    def container_body(self, *, stream: bool = True) -> bytes:
        """The ``/invocations`` body for this model's container: streamed to the streaming front
        (whatever the caller asked), whole (one ``chat.completion``) for an async job."""
        body: dict[str, Any] = {"messages": self.messages, **self.options, "stream": stream}
        if stream and self.model.container_format in ("vllm", "tgi"):
            # LMI does not document stream_options; vLLM and TGI 3.x add usage to their last chunk.
            body["stream_options"] = {"include_usage": True}
        return json.dumps(body, ensure_ascii=False).encode("utf-8")


def parse_chat_request(document: Any, catalog: ModelCatalog | None, *, mode: Mode = "streaming") -> ChatRequest:
    """Validate a parsed JSON body for a model serving ``mode``; raise ``ChatError`` naming the first thing wrong."""
    if not isinstance(document, dict):
        raise ChatError(400, "the body must be a JSON object")
    fields = {name: value for name, value in document.items() if value is not None}
    for name in fields:
        if name not in SUPPORTED_FIELDS:
            # Only a refusal needs it: the async API's cold start does not pay for difflib.
            import difflib

            near = difflib.get_close_matches(name, SUPPORTED_FIELDS, n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            raise ChatError(
                400,
                f"'{name}' is not supported by this API; {hint}supported: {', '.join(SUPPORTED_FIELDS)}",
                param=name,
                code="unsupported_parameter",
            )
    model = _model(fields.get("model"), catalog, mode)
    stream = fields.get("stream", False)
    if not isinstance(stream, bool):
        raise ChatError(400, "'stream' must be true or false", param="stream")
    return ChatRequest(
        model=model,
        messages=_messages(fields.get("messages")),
        stream=stream,
        include_usage=_include_usage(fields.get("stream_options"), stream),
        options=_options(fields),
    )


def _model(name: Any, catalog: ModelCatalog | None, mode: Mode) -> CatalogModel:
    if not isinstance(name, str) or not name:
        raise ChatError(400, "'model' is required: the name of one of this API's models (GET /v1/models)", param="model")
    try:
        if catalog is None:
            raise ModelNotFound(name, ())
        model = catalog.resolve(name)
    except ModelNotFound as error:
        raise ChatError(
            404,
            f"the model '{name}' does not exist; available: {', '.join(error.known) or 'none'}",
            param="model",
            code="model_not_found",
        ) from None
    if mode == "streaming" and model.streaming_target is None:
        raise ChatError(
            400,
            f"the model '{name}' is served asynchronously only: submit the same body to POST /v1/inferences",
            param="model",
            code="model_not_streaming",
        )
    if mode == "async" and model.async_target is None:
        raise ChatError(
            400,
            f"the model '{name}' is served for streaming only: send the same body to POST /v1/chat/completions",
            param="model",
            code="model_not_async",
        )
    return model


def _messages(value: Any) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise ChatError(400, "'messages' must be a non-empty array of messages", param="messages")
    if len(value) > MAX_MESSAGES:
        raise ChatError(400, f"'messages' may hold at most {MAX_MESSAGES} messages", param="messages")
    return [_message(index, message) for index, message in enumerate(value)]


def _message(index: int, message: Any) -> dict:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise ChatError(400, f"{param} must be an object with 'role' and 'content'", param=param)
    unknown = sorted(set(message) - {"role", "content", "name"})
    if unknown:
        raise ChatError(
            400, f"{param}.{unknown[0]} is not supported; a message has role, content and name",
            param=f"{param}.{unknown[0]}", code="unsupported_parameter",
        )
    role = message.get("role")
    if role not in ROLES:
        raise ChatError(400, f"{param}.role must be one of {', '.join(ROLES)}", param=f"{param}.role")
    content = message.get("content")
    if isinstance(content, list):
        content = _text_parts(content, f"{param}.content")
    if not isinstance(content, str):
        raise ChatError(400, f"{param}.content must be a string or an array of text parts", param=f"{param}.content")
    mapped = {"role": "system" if role == "developer" else role, "content": content}
    if isinstance(message.get("name"), str):
        mapped["name"] = message["name"]
    return mapped


def _text_parts(parts: list, param: str) -> str:
    texts = []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ChatError(400, f"{param} may hold only text parts ({{\"type\": \"text\", \"text\": ...}})", param=param)
        texts.append(part["text"])
    return "".join(texts)


def _include_usage(options: Any, stream: bool) -> bool:
    if options is None:
        return False
    if not stream:
        raise ChatError(400, "'stream_options' is only allowed with 'stream': true", param="stream_options")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise ChatError(400, "'stream_options' may hold only include_usage", param="stream_options")
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise ChatError(400, "'stream_options.include_usage' must be true or false", param="stream_options.include_usage")
    return include


def _options(fields: dict) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "max_tokens" in fields and "max_completion_tokens" in fields:
        raise ChatError(400, "send one of 'max_tokens' and 'max_completion_tokens'", param="max_tokens")
    for name in ("max_tokens", "max_completion_tokens"):
        if name in fields:
            options["max_tokens"] = _integer(fields, name, 1, MAX_TOKENS)
    if "temperature" in fields:
        options["temperature"] = _number(fields, "temperature", 0.0, 2.0)
    if "top_p" in fields and _number(fields, "top_p", 0.0, 1.0, low_open=True) < 1.0:
        options["top_p"] = fields["top_p"]
    for name in ("frequency_penalty", "presence_penalty"):
        if name in fields:
            options[name] = _number(fields, name, -2.0, 2.0)
    if "seed" in fields:
        options["seed"] = _integer(fields, "seed", 0, 2**63 - 1)
    if "n" in fields and _integer(fields, "n", 1, 1_000_000) != 1:
        raise ChatError(400, "'n' must be 1: this API generates one choice per request", param="n")
    if "stop" in fields:
        options["stop"] = _stop(fields["stop"])
    return options


def _integer(fields: dict, name: str, low: int, high: int) -> int:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ChatError(400, f"'{name}' must be an integer from {low} to {high}", param=name)
    return value


def _number(fields: dict, name: str, low: float, high: float, *, low_open: bool = False) -> float:
    value = fields[name]
    valid = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (value > low if low_open else value >= low)
        and value <= high
    )
    if not valid:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ChatError(400, f"'{name}' must be a number in {interval}", param=name)
    return value


def _stop(value: Any) -> list[str]:
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or not 1 <= len(stops) <= MAX_STOP_SEQUENCES
        or not all(isinstance(stop, str) and stop for stop in stops)
    ):
        raise ChatError(
            400, f"'stop' must be a non-empty string or an array of 1 to {MAX_STOP_SEQUENCES} of them", param="stop"
        )
    return list(stops)
