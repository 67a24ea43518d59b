"""The body of every error API Gateway answers itself (unsigned request, throttling, body
validation): the API's `{"error": {"code", "message"}}` shape, plus OpenAI's `type` and `param`, so
that OpenAI clients of the chat routes find the fields of OpenAI's error object there too. Without
CDK: the stack writes it as gateway response templates (stacks/constructs/rest_api.py), and the
local gateway (local/gateway.py) answers with the same bodies.
"""

from __future__ import annotations

import json

# Gateway response type -> OpenAI's error type, as the chat routes' own errors use them.
OPENAI_TYPES = {
    "DEFAULT_4XX": "invalid_request_error",
    "THROTTLED": "rate_limit_error",
    "DEFAULT_5XX": "server_error",
}


def error_body(code: str, message: str, response_type: str) -> dict:
    return {"error": {"code": code, "message": message, "type": OPENAI_TYPES[response_type], "param": None}}


def response_template(response_type: str) -> str:
    """The mapping template of a gateway response: `$context.error.messageString` is already a
    quoted JSON string, so it replaces the quoted placeholder whole."""
    body = error_body("$context.error.responseType", "$MESSAGE", response_type)
    return json.dumps(body).replace('"$MESSAGE"', "$context.error.messageString")
