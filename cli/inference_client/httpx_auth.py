"""``SigV4Auth``: sign httpx requests to the API with the caller's AWS credentials.

Made for clients built on httpx, the OpenAI SDK and LangChain's ``ChatOpenAI`` among them:

    openai.OpenAI(base_url="https://<api>/api/v1", api_key="unused",
                  http_client=httpx.Client(auth=SigV4Auth(region="eu-west-1")))

Credentials come from botocore's chain (environment, profile, SSO, container or instance role)
and are frozen per request, so refreshable ones renew themselves. Only ``host``,
``content-type`` and ``x-amz-*`` are signed: the SDKs add headers of their own (``user-agent``,
``x-stainless-*``, ``connection``) that proxies may rewrite, and a signed header that changes
in transit fails the signature ("Signature Version 4 signing process", IAM user guide: the
signed headers must include ``host`` and any ``x-amz-*`` header sent).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import botocore.session
import httpx
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest

from inference_client.signing import SERVICE, MissingCredentials, region_in_url

_SIGNED = ("content-type",)


class SigV4Auth(httpx.Auth):
    """An ``httpx.Auth`` that signs every request (service ``execute-api``) with botocore."""

    requires_request_body = True

    def __init__(self, region: str | None = None, *, credentials: Any = None, service: str = SERVICE) -> None:
        """``region``: the API's; by default the one in an execute-api URL, else AWS_REGION, else your
        configured region (AWS_DEFAULT_REGION or the profile's).
        ``credentials``: botocore credentials; by default botocore's credential chain."""
        self._region = region
        self._credentials = credentials
        self._service = service
        self._session: botocore.session.Session | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        credentials = self._resolve_credentials().get_frozen_credentials()
        headers = {name: request.headers[name] for name in _SIGNED if name in request.headers}
        signed = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        BotocoreSigV4Auth(credentials, self._service, self._resolve_region(str(request.url))).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request

    def _botocore(self) -> botocore.session.Session:
        if self._session is None:
            self._session = botocore.session.get_session()
        return self._session

    def _resolve_credentials(self) -> Any:
        if self._credentials is None:
            self._credentials = self._botocore().get_credentials()
            if self._credentials is None:
                raise MissingCredentials()
        return self._credentials

    def _resolve_region(self, url: str) -> str:
        region = (
            self._region
            or region_in_url(url)
            # Lambda and most SDKs set AWS_REGION; botocore's own setting is AWS_DEFAULT_REGION or the profile's.
            or os.environ.get("AWS_REGION")
            or self._botocore().get_config_variable("region")
        )
        if not region:
            raise ValueError("SigV4Auth needs a region: pass region=..., or set AWS_REGION")
        return region
