"""A stand-in for the Service Quotas API (JSON 1.1 over HTTP), for the quota preflight's tests.

moto implements Service Quotas only for VPC and not `ListServiceQuotas`. This speaks the same
wire protocol as AWS (`X-Amz-Target: ServiceQuotasV20190624.<Operation>`, JSON bodies, NextToken
pagination), so the preflight runs its real boto3 paginators against it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGET_PREFIX = "ServiceQuotasV20190624."
PAGE_SIZE = 2  # small, so that every test crosses page boundaries


class ServiceQuotasStandIn:
    """`defaults` and `applied` map a quota name to (code, value), as the two list operations see them."""

    def __init__(self) -> None:
        self.defaults: dict[str, tuple[str, float]] = {}
        self.applied: dict[str, tuple[str, float]] = {}
        self.calls: list[str] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                operation = self.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
                standin.calls.append(operation)
                source = {"ListAWSDefaultServiceQuotas": standin.defaults, "ListServiceQuotas": standin.applied}.get(
                    operation
                )
                if source is None or body.get("ServiceCode") != "sagemaker":
                    self._answer(400, {"__type": "NoSuchResourceException", "Message": f"{operation} not served"})
                    return
                quotas = [
                    {"ServiceCode": "sagemaker", "QuotaName": name, "QuotaCode": code, "Value": value}
                    for name, (code, value) in sorted(source.items())
                ]
                start = int(body.get("NextToken") or 0)
                page = {"Quotas": quotas[start : start + PAGE_SIZE]}
                if start + PAGE_SIZE < len(quotas):
                    page["NextToken"] = str(start + PAGE_SIZE)
                self._answer(200, page)

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

    def __enter__(self) -> ServiceQuotasStandIn:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
