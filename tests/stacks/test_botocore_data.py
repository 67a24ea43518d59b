"""A botocore whose data is trimmed to the front's services signs the same requests as a full one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import botocore
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from stacks.botocore_data import ENDPOINTS, keep_only
from stacks.constructs.python_function import LAMBDA_ROOT
from stacks.constructs.streaming_front import BOTOCORE_SERVICES

from ..streaming.streaming_modules import sagemaker_stream
from .botocore_requests import CALLS

FULL_DATA = Path(botocore.__file__).parent / "data"
REQUESTS = Path(__file__).with_name("botocore_requests.py")


@pytest.fixture(scope="module")
def trimmed_package(tmp_path_factory) -> Path:
    """A copy of botocore with its data trimmed as the front's bundle trims it; its parent folder."""
    folder = tmp_path_factory.mktemp("bundle")
    shutil.copytree(FULL_DATA.parent, folder / "botocore")
    keep_only(folder / "botocore" / "data", BOTOCORE_SERVICES)
    return folder


@pytest.fixture(scope="module")
def trimmed(trimmed_package) -> Path:
    return trimmed_package / "botocore" / "data"


def signed_requests(*path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, str(REQUESTS), *map(str, path)], capture_output=True, text=True, check=True,
        env={**os.environ, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
    )
    return json.loads(result.stdout)


def test_the_front_bundle_keeps_the_data_of_every_service_its_session_creates():
    assert sorted(BOTOCORE_SERVICES) == sorted(sagemaker_stream.SERVICES)
    assert {service for service, *_ in CALLS} == set(BOTOCORE_SERVICES)


def test_the_botocore_trimmed_here_is_the_release_the_front_bundles():
    """The tests below trim the virtualenv's botocore: they speak for the bundle while both pin one release."""
    pins = [line for line in (LAMBDA_ROOT / "streaming" / "requirements.txt").read_text().splitlines() if line.startswith("botocore==")]
    assert pins == [f"botocore=={botocore.__version__}"]


def test_a_trimmed_botocore_signs_what_a_full_one_signs_in_every_partition_and_variant(trimmed_package):
    full, trimmed = signed_requests(), signed_requests(trimmed_package)
    assert trimmed["botocore"].startswith(str(trimmed_package)) and not full["botocore"].startswith(str(trimmed_package))
    assert set(full["requests"]) == set(trimmed["requests"])
    for call, request in full["requests"].items():
        assert trimmed["requests"][call] == request, call
    assert sum("url" in request for request in full["requests"].values()) >= 90


def test_the_trimmed_data_holds_the_named_services_and_every_partition(trimmed):
    assert sorted(p.name for p in trimmed.iterdir() if p.is_dir()) == sorted(BOTOCORE_SERVICES)
    full = json.loads((FULL_DATA / ENDPOINTS).read_text())
    kept = json.loads((trimmed / ENDPOINTS).read_text())
    assert [p["partition"] for p in kept["partitions"]] == [p["partition"] for p in full["partitions"]]
    for before, after in zip(full["partitions"], kept["partitions"]):
        assert after["regions"] == before["regions"] and after["defaults"] == before["defaults"]
        assert set(after["services"]) == {"runtime.sagemaker", "api.sagemaker", "monitoring"} & set(before["services"])
    assert (trimmed / ENDPOINTS).stat().st_size < (FULL_DATA / ENDPOINTS).stat().st_size / 10


def test_a_service_the_bundle_dropped_is_botocores_unknown_service(trimmed):
    session = botocore.session.get_session()
    session.register_component("data_loader", botocore.loaders.Loader(extra_search_paths=[str(trimmed)], include_default_search_paths=False))
    with pytest.raises(UnknownServiceError):
        session.create_client("dynamodb", region_name="eu-west-1")


def test_a_misspelt_service_is_named_with_the_near_miss(tmp_path):
    data = tmp_path / "data"
    (data / "sagemaker-runtime" / "2017-05-13").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no service named 'sagemaker-runtim'; did you mean 'sagemaker-runtime'\?"):
        keep_only(data, ["sagemaker-runtim"])
