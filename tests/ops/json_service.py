"""A stand-in for an AWS JSON 1.1 service (`X-Amz-Target: <prefix>.<Operation>`, JSON bodies).

For services moto does not cover where the operator tools need them: Service Quotas for SageMaker
quotas, and Application Auto Scaling's inference-component dimension. The tools' real boto3
clients talk to it over HTTP, so their requests are serialized and their answers parsed exactly
as with AWS.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Operation = Callable[[dict], dict]


class ServiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JsonServiceStandIn:
    def __init__(self, target_prefix: str, operations: dict[str, Operation]) -> None:
        self.requests: list[tuple[str, dict]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                name = self.headers.get("X-Amz-Target", "").removeprefix(f"{target_prefix}.")
                standin.requests.append((name, body))
                try:
                    operation = operations[name]
                except KeyError:
                    self._answer(400, {"__type": "UnknownOperationException", "message": name})
                    return
                try:
                    self._answer(200, operation(body))
                except ServiceError as err:
                    self._answer(400, {"__type": err.code, "message": str(err)})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def calls(self, operation: str) -> list[dict]:
        return [body for name, body in self.requests if name == operation]

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def paginated(items: list[dict], body: dict, key: str, page_size: int = 2) -> dict:
    """NextToken pagination with small pages, so that every test crosses a page boundary."""
    start = int(body.get("NextToken") or 0)
    page = {key: items[start : start + page_size]}
    if start + page_size < len(items):
        page["NextToken"] = str(start + page_size)
    return page
