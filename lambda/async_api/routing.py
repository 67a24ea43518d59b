"""Routing of API Gateway REST proxy events: the part of Powertools' event handler this API uses.

Powertools' `APIGatewayRestResolver` costs more than half of `import boto3` at every cold start, even
from bytecode (about 70 vs 112 ms in `make bench`'s setting: its package imports every resolver and
every event class). This module keeps the same shape, `@routes.post("/v1/inferences")` over a function, in a few lines:

- a path with a `<name>` segment passes that segment to the function by name;
- a known path with another method is `405 MethodNotAllowed` with an `Allow` header;
- any other path is `404 RouteNotFound`;
- an `ApiError` becomes its JSON error; anything else is logged and becomes `500 InternalError`.

Pure: no AWS SDK.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from api_errors import ApiError

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"<(\w+)>")


@dataclass(frozen=True)
class ApiRequest:
    """What the routes read from a REST proxy event, each part read leniently."""

    event: Mapping[str, Any]
    context: Any

    @property
    def method(self) -> str:
        return str(self.event.get("httpMethod") or "")

    @property
    def path(self) -> str:
        return str(self.event.get("path") or "")

    def query(self, name: str) -> str | None:
        parameters = self.event.get("queryStringParameters")
        value = parameters.get(name) if isinstance(parameters, Mapping) else None
        return value if isinstance(value, str) else None

    def header(self, name: str) -> str | None:
        headers = self.event.get("headers")
        if not isinstance(headers, Mapping):
            return None
        name = name.lower()
        value = next((value for key, value in headers.items() if str(key).lower() == name), None)
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict
    headers: Mapping[str, str] | None = None

    def to_proxy_result(self) -> dict:
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": "application/json", **(self.headers or {})},
            # ASCII escapes: an error message can quote a header that holds a lone surrogate.
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


Route = Callable[..., ApiResponse]


class Routes:
    def __init__(self) -> None:
        self._paths: list[tuple[re.Pattern[str], dict[str, Route]]] = []

    def get(self, path: str) -> Callable[[Route], Route]:
        return self._add("GET", path)

    def post(self, path: str) -> Callable[[Route], Route]:
        return self._add("POST", path)

    def _add(self, method: str, path: str) -> Callable[[Route], Route]:
        pattern = re.compile(_SEGMENT.sub(r"(?P<\1>[^/]+)", re.escape(path)))

        def register(route: Route) -> Route:
            for known, methods in self._paths:
                if known.pattern == pattern.pattern:
                    methods[method] = route
                    return route
            self._paths.append((pattern, {method: route}))
            return route

        return register

    def resolve(self, request: ApiRequest) -> dict:
        try:
            return self._dispatch(request).to_proxy_result()
        except ApiError as error:
            return error_response(error).to_proxy_result()
        except Exception:
            logger.exception("unhandled error")
            return error_response(ApiError(500, "InternalError", "internal error; retry later")).to_proxy_result()

    def _dispatch(self, request: ApiRequest) -> ApiResponse:
        for pattern, methods in self._paths:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            route = methods.get(request.method)
            if route is None:
                allowed = ", ".join(sorted(methods))
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    f"{request.method} is not allowed here; use {allowed}",
                    headers={"Allow": allowed},
                )
            return route(request, **match.groupdict())
        raise ApiError(404, "RouteNotFound", f"no route {request.path}")


def error_response(error: ApiError) -> ApiResponse:
    return ApiResponse(error.status, error.body(), error.headers)
