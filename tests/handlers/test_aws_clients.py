"""The functions' botocore session: the services it is told, and no other."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import UnknownServiceError

from inference_common.aws_clients import ClientOnFirstUse, session_for

REGION = "eu-west-1"


def test_a_session_creates_clients_of_the_services_it_names():
    session = session_for("dynamodb", "sagemaker-runtime")
    client = session.create_client("sagemaker-runtime", region_name=REGION)
    assert client.meta.service_model.service_name == "sagemaker-runtime"
    assert session.get_available_services() == ["dynamodb", "sagemaker-runtime"]


def test_a_client_of_a_service_the_session_does_not_name_is_refused_by_name():
    with pytest.raises(UnknownServiceError, match="sqs"):
        session_for("dynamodb").create_client("sqs", region_name=REGION)


def test_a_misspelt_service_is_refused_as_unknown_not_as_missing_data():
    with pytest.raises(UnknownServiceError, match="cloud-watch"):
        session_for("cloud-watch").create_client("cloud-watch", region_name=REGION)


def test_a_client_on_first_use_is_created_once_by_its_first_attribute():
    session = session_for("dynamodb")
    created = []
    session.register("creating-client-class.dynamodb", lambda **kwargs: created.append(kwargs))
    client = ClientOnFirstUse(session, "dynamodb", Config(region_name=REGION))
    assert created == []
    assert client.meta.region_name == REGION and client.meta is client.meta
    assert len(created) == 1
