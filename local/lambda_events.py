"""What Lambda hands a function: the API Gateway REST proxy event (v1) and the context object.

The local gateway and the handler tests call the real handler modules with these, as API
Gateway's Lambda proxy integration with IAM auth does ("Set up a Lambda proxy integration",
API Gateway developer guide: ``requestContext.identity.userArn`` is the signing principal).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from types import ModuleType

REGION = "us-east-1"
ACCOUNT = "123456789012"
"""moto's default account, so ARNs the handlers build match the resources moto holds."""


class LambdaContext:
    function_name = "inference-handler"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:inference-handler"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: dict


def rest_proxy_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None,
    headers: dict[str, str],
    principal: str | None,
    query: dict[str, str] | None = None,
    stage: str = "api",
) -> dict:
    is_binary = isinstance(body, bytes)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "identity": {"userArn": principal, "caller": principal, "accountId": ACCOUNT},
        },
        "body": base64.b64encode(body).decode() if is_binary else body,
        "isBase64Encoded": is_binary,
    }


class RestApiFunction:
    """A handler module (``handler(event, context)``) called the way the REST proxy integration calls it."""

    def __init__(self, handler_module: ModuleType) -> None:
        self._module = handler_module

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        principal: str | None = None,
        query: dict[str, str] | None = None,
    ) -> ApiResponse:
        event_headers = {"Host": "api.example.com", "Content-Type": "application/json", **(headers or {})}
        event = rest_proxy_event(method, path, body=body, headers=event_headers, principal=principal, query=query)
        answer = self._module.handler(event, LambdaContext())
        # Powertools answers REST proxy events with multiValueHeaders.
        response_headers = {name: values[-1] for name, values in (answer.get("multiValueHeaders") or {}).items()}
        response_headers.update(answer.get("headers") or {})
        return ApiResponse(
            status=answer["statusCode"],
            headers=response_headers,
            body=json.loads(answer["body"]) if answer.get("body") else {},
        )
