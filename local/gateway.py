"""API Gateway with IAM auth in front of the handlers, on localhost.

The stage URL is ``http://<host>:<port>/api/``. Every request must carry a SigV4 signature
(service ``execute-api``, any region) from a known key pair: the gateway recomputes it with
botocore and otherwise answers 403 with the body the stack's gateway responses give
(``stacks/gateway_errors.py``), as IAM auth does. Accepted requests
become REST proxy events (v1) for the async_api handler, with ``userArn`` naming the signing
access key, except the streamed routes (``STREAM_ROUTES``), whose bytes are relayed to the
streaming front as they arrive (the stack's response transfer mode ``STREAM``).
"""

from __future__ import annotations

import hmac
import http.client
import json
import re
import select
import socket
import sys
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.lambda_events import ACCOUNT, ApiResponse
from stacks.gateway_errors import error_body

STAGE = "api"
STREAM_ROUTES = frozenset({"/v1/generate/stream", "/v1/chat/completions"})

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<access_key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, SignedHeaders=(?P<signed_headers>[a-z0-9-]+(;[a-z0-9-]+)*), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
MAX_CLOCK_SKEW = timedelta(minutes=5)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The CLI hanging up (after an error event, or a dropped keep-alive connection) is routine;
        # socketserver would print its traceback to stderr, where the CLI's own output is checked.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Identity:
    access_key: str
    secret_key: str
    token: str | None = None

    @property
    def principal(self) -> str:
        """The caller's identity as the handlers see it: the access key id names an IAM user."""
        return f"arn:aws:iam::{ACCOUNT}:user/{self.access_key}"


class RestApi(Protocol):
    def request(
        self, method: str, path: str, *, body: str | bytes | None, headers: dict[str, str], principal: str | None,
        query: dict[str, str] | None,
    ) -> ApiResponse: ...


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""


class Rejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def verify_signature(method: str, path: str, headers: Any, body: bytes, identities: dict[str, Identity]) -> Identity:
    """The identity whose SigV4 signature this request carries, or ``Rejected``."""
    authorization = AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
    if authorization is None:
        raise Rejected("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
    identity = identities.get(authorization["access_key"])
    if identity is None:
        raise Rejected("UNRECOGNIZED_CLIENT", "The security token included in the request is invalid.")
    if authorization["service"] != "execute-api":
        raise Rejected("INVALID_SIGNATURE", "Credential should be scoped to correct service: 'execute-api'")
    amz_date = headers.get("X-Amz-Date", "")
    if not AMZ_DATE.fullmatch(amz_date) or not amz_date.startswith(authorization["date"]):
        raise Rejected("INVALID_SIGNATURE", "X-Amz-Date is missing or differs from the credential's date")
    if abs(datetime.now(UTC) - datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)) > MAX_CLOCK_SKEW:
        raise Rejected("INVALID_SIGNATURE", "Signature expired")
    signed = authorization["signed_headers"].split(";")
    if not {"host", "x-amz-date"} <= set(signed) or any(headers.get(name) is None for name in signed):
        raise Rejected("INVALID_SIGNATURE", "SignedHeaders must name host and x-amz-date, and only headers sent")
    if identity.token is not None and (
        headers.get("X-Amz-Security-Token") != identity.token or "x-amz-security-token" not in signed
    ):
        raise Rejected("UNRECOGNIZED_CLIENT", "The security token included in the request is invalid.")
    request = AWSRequest(
        method=method,
        url=f"http://{headers['Host']}{path}",
        data=body,
        headers={name: headers[name] for name in signed},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(identity.access_key, identity.secret_key, identity.token), "execute-api", authorization["region"]
    )
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, authorization["signature"]):
        raise Rejected(
            "INVALID_SIGNATURE",
            "The request signature we calculated does not match the signature you provided.",
        )
    return identity


class LocalApiGateway:
    def __init__(
        self, async_api: RestApi, streaming_url: str, identities: Iterable[Identity], *, host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        # The latest requests, for tests to inspect; bounded, since the local mode runs for days.
        self.requests: deque[ReceivedRequest] = deque(maxlen=100)
        self._async_api = async_api
        self._streaming = urlsplit(streaming_url)
        self._identities = {identity.access_key: identity for identity in identities}
        # One event at a time, as in one Lambda execution environment: the resolver keeps the
        # current event in module state.
        self._handler_lock = threading.Lock()
        self._throttled: list[str] = []
        self._server = _QuietServer((host, port), self._request_handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{STAGE}/"

    def throttle(self, times: int, *, retry_after: str) -> None:
        """Answer the next ``times`` signed requests 429 with this ``Retry-After``."""
        self._throttled = [retry_after] * times

    def reset(self) -> None:
        self.requests.clear()
        self._throttled = []

    def __enter__(self) -> LocalApiGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._handle()

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gateway.requests.append(
                    ReceivedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                route = self.path.split("?")[0].removeprefix(f"/{STAGE}")
                try:
                    if not self.path.startswith(f"/{STAGE}/"):
                        raise Rejected("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
                    identity = verify_signature(self.command, self.path, self.headers, body, gateway._identities)
                except Rejected as rejected:
                    self._reply(403, error_body(rejected.code, rejected.message, "DEFAULT_4XX"))
                    return
                if gateway._throttled:
                    retry_after = gateway._throttled.pop(0)
                    self._reply(429, error_body("THROTTLED", "Too Many Requests", "THROTTLED"), {"Retry-After": retry_after})
                elif self.command == "POST" and route in STREAM_ROUTES:
                    self._relay_stream(route, body)
                else:
                    self._call_handler(route, body, identity)

            def _call_handler(self, route: str, body: bytes, identity: Identity) -> None:
                try:
                    event_body: str | bytes | None = body.decode("utf-8") if body else None
                except UnicodeDecodeError:
                    event_body = body
                query = dict(parse_qsl(urlsplit(self.path).query)) or None
                with gateway._handler_lock:
                    answer = gateway._async_api.request(
                        self.command,
                        route,
                        body=event_body,
                        headers=dict(self.headers.items()),
                        principal=identity.principal,
                        query=query,
                    )
                self._reply(answer.status, answer.body, answer.headers)

            def _relay_stream(self, route: str, body: bytes) -> None:
                # API Gateway's streaming integrations allow up to 15 minutes; a generation rarely needs one.
                upstream_connection = http.client.HTTPConnection(
                    gateway._streaming.hostname, gateway._streaming.port, timeout=300
                )
                try:
                    upstream_connection.request(
                        "POST",
                        route,
                        body=body,
                        headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                    )
                    upstream = upstream_connection.getresponse()
                    self.send_response(upstream.status)
                    for name in ("Content-Type", "Cache-Control", "Retry-After"):
                        if upstream.getheader(name):
                            self.send_header(name, upstream.getheader(name))
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    relayed = threading.Event()
                    threading.Thread(
                        target=_hang_up_when_caller_leaves, args=(self.connection, upstream_connection, relayed),
                        daemon=True,
                    ).start()
                    try:
                        while data := upstream.read1(65536):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                            self.wfile.flush()
                    finally:
                        relayed.set()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    # The caller left (BrokenPipe, reset) or hung up while the front was silent.
                    self.close_connection = True
                finally:
                    upstream_connection.close()

            def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    if name.lower() not in ("content-length", "content-type"):
                        self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _hang_up_when_caller_leaves(caller: socket.socket, upstream: http.client.HTTPConnection, relayed: threading.Event) -> None:
    """Close the front's connection as soon as the caller closes its own, as a proxy does: the
    front then learns of the disconnect at once (a held caller's wait stops), not at its next write."""
    while not relayed.is_set():
        readable, _, _ = select.select([caller], [], [], 0.1)
        if not readable:
            continue
        try:
            gone = caller.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            gone = True
        if gone:
            front = upstream.sock
            try:
                if front is not None:
                    front.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the relay ended and closed it meanwhile
            return
        relayed.wait(0.1)
