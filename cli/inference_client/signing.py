"""Send requests to the API signed with the caller's AWS credentials (SigV4, service ``execute-api``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "execute-api"
TIMEOUT = urllib3.Timeout(connect=10, read=60)

# <api-id>.execute-api.<region>.amazonaws.com, also through a VPC endpoint (...vpce.amazonaws.com) and in China.
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.(?P<region>[a-z]{2}(-[a-z]+)+-\d+)\.(vpce\.)?amazonaws\.com(\.cn)?$")


class Unreachable(Exception):
    """The connection failed or broke: the API itself said nothing."""


class MissingCredentials(Exception):
    def __init__(self) -> None:
        super().__init__(
            "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or run `aws sso login`)"
        )


def region_in_url(url: str) -> str | None:
    """The region of an execute-api URL; None for a custom domain or a local URL."""
    match = _EXECUTE_API_HOST.search(urlsplit(url).hostname or "")
    return match.group("region") if match else None


def require_credentials(session) -> Credentials:
    """The caller's credentials from a boto3 session (env, profile, SSO, container or instance role)."""
    credentials = session.get_credentials()
    if credentials is None:
        raise MissingCredentials()
    return credentials


def new_http() -> urllib3.PoolManager:
    # Only connection failures are retried here: a POST that reached the API is never sent twice,
    # and answers asking to retry later are the caller's to handle (InferenceApi.status does).
    retries = urllib3.Retry(
        total=2, connect=2, read=0, other=0, redirect=False, respect_retry_after_header=False, backoff_factor=0.2
    )
    return urllib3.PoolManager(timeout=TIMEOUT, retries=retries)


def fetch(
    http: urllib3.PoolManager,
    method: str,
    url: str,
    *,
    shown_as: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    stream: bool = False,
    read_timeout: float | None = None,
) -> urllib3.BaseHTTPResponse:
    """Send one request; connection failures become ``Unreachable`` naming ``shown_as``.

    ``shown_as`` is what an error message may show of the URL ("the API at https://..."): never
    a presigned URL, whose query string is a credential.
    """
    timeout = TIMEOUT if read_timeout is None else urllib3.Timeout(connect=TIMEOUT.connect_timeout, read=read_timeout)
    try:
        return http.request(
            method, url, body=body, headers=headers, preload_content=not stream, timeout=timeout
        )
    except urllib3.exceptions.HTTPError as error:
        raise Unreachable(f"cannot reach {shown_as}: {connection_failure(error)}") from None


def connection_failure(error: urllib3.exceptions.HTTPError) -> str:
    """The root cause ("Connection refused", "Name or service not known"), not urllib3's wrapping of it."""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(error)


class SignedClient:
    """Signs each request to one API (its stage URL) and sends it."""

    def __init__(self, api_url: str, *, credentials: Credentials, region: str, http: urllib3.PoolManager) -> None:
        self.api_url = api_url if api_url.endswith("/") else f"{api_url}/"
        self.http = http
        self._credentials = credentials
        self._region = region

    def send(
        self,
        method: str,
        route: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        read_timeout: float | None = None,
    ) -> urllib3.BaseHTTPResponse:
        request = AWSRequest(method=method, url=self.api_url + route.lstrip("/"), data=body, headers=headers or {})
        # Frozen per request: refreshable credentials (SSO, assumed roles) renew themselves here.
        SigV4Auth(self._credentials.get_frozen_credentials(), SERVICE, self._region).add_auth(request)
        prepared = request.prepare()
        return fetch(
            self.http,
            method,
            prepared.url,
            shown_as=f"the API at {self.api_url}",
            body=prepared.body,
            headers=dict(prepared.headers.items()),
            stream=stream,
            read_timeout=read_timeout,
        )
