"""botocore clients for the functions, from a session that knows which services its function calls.

Clients come from botocore itself: boto3 would add only its resource layer and S3 transfer manager
to every cold start, and no function uses either.

The first client of a plain botocore session lists every service folder botocore ships (some 400
folders, one ``listdir`` and one ``stat`` each, done twice: for the service model and for its
endpoint rules) only to check that the service exists. That walk is about 16 ms of every cold
start here (``make bench``), which the first request waits for. The session of ``session_for``
looks in its function's services' folders only, and refuses any other service with botocore's own
``UnknownServiceError``; the models themselves load as botocore always loads them.
"""

from __future__ import annotations

from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError


class _NamedServicesLoader(botocore.loaders.Loader):
    """botocore's data loader, which lists only the services it was given."""

    def __init__(self, services: tuple[str, ...], search_paths: list[str]) -> None:
        super().__init__(extra_search_paths=search_paths, include_default_search_paths=False)
        self._services = sorted(services)

    @botocore.loaders.instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        # As botocore's own answer: the services with a file of this type (a service without
        # endpoint rules, say, is absent from the "endpoint-rule-set-1" list, and botocore falls back).
        return [service for service in self._services if self._has(service, type_name)]

    def _has(self, service: str, type_name: str) -> bool:
        try:
            return bool(self.list_api_versions(service, type_name))
        except DataNotFoundError:
            return False


def session_for(*services: str) -> botocore.session.Session:
    """A botocore session that creates clients for ``services`` (botocore's names, e.g. ``dynamodb``)."""
    session = botocore.session.get_session()
    # The folders botocore's own loader would search (AWS_DATA_PATH's, then its defaults).
    search_paths = botocore.loaders.create_loader(session.get_config_variable("data_path")).search_paths
    session.register_component("data_loader", _NamedServicesLoader(services, search_paths))
    return session


class ClientOnFirstUse:
    """A client created by its first use: creating one loads its service model, which a cold start
    should pay only when a request needs the service."""

    def __init__(self, session: botocore.session.Session, service: str, config: Config) -> None:
        self._session = session
        self._service = service
        self._config = config
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._session.create_client(self._service, config=self._config)
        return getattr(self._client, name)
