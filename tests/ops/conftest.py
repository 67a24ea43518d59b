"""The operator tools' tests share one moto server."""

from __future__ import annotations

import pytest

from tests.moto_aws import moto_server


@pytest.fixture(scope="session")
def moto_url():
    with moto_server() as url:
        yield url
