"""Handler test fixtures: one moto server per session, fresh AWS resources per test.

Handler modules create their boto3 clients at import, so they are imported (by path, each
function's entry module is `app`) only after the environment points at moto.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handler_harness import (  # noqa: E402
    ENDPOINT_NAME,
    FUNCTION_ENVIRONMENT,
    LAMBDA_ROOT,
    REGION,
    ApiGateway,
    Aws,
    NotificationPipeline,
    ScriptedRuntime,
    load_handler_module,
)

# The deployed asset puts each function's folder and the shared folder side by side at its root.
for folder in ("shared", "async_api", "notifications"):
    sys.path.insert(0, str(LAMBDA_ROOT / folder))


@pytest.fixture(scope="session")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws_environment(moto_url):
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "POWERTOOLS_IDEMPOTENCY_DISABLED"):
            env.delenv(name, raising=False)
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_SESSION_TOKEN", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        env.setenv("AWS_REGION", REGION)
        env.setenv("AWS_ENDPOINT_URL", moto_url)
        for name, value in FUNCTION_ENVIRONMENT.items():
            env.setenv(name, value)
        yield env


@pytest.fixture(scope="session")
def async_api_module(aws_environment):
    return load_handler_module("async_api", "async_api_app")


@pytest.fixture(scope="session")
def notifications_module(aws_environment):
    return load_handler_module("notifications", "notifications_app")


@pytest.fixture(scope="session")
def scripted_runtime_session(aws_environment):
    runtime = ScriptedRuntime()
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture(scope="session")
def scripted_async_api_module(aws_environment, scripted_runtime_session):
    """A second copy of the async_api handler whose sagemaker-runtime client talks to the scripted runtime."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", scripted_runtime_session.url)
        return load_handler_module("async_api", "async_api_app_scripted_runtime")


@pytest.fixture(scope="session")
def aws_clients(moto_url, aws_environment):
    return Aws(endpoint_url=moto_url)


@pytest.fixture
def aws(moto_url, aws_clients):
    """Every test starts from an empty moto with exactly the resources the stack creates."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    aws_clients.create_resources()
    return aws_clients


@pytest.fixture
def api(aws, async_api_module):
    return ApiGateway(async_api_module)


@pytest.fixture
def scripted_runtime(aws, scripted_runtime_session):
    scripted_runtime_session.reset()
    yield scripted_runtime_session
    scripted_runtime_session.reset()


@pytest.fixture
def api_on_scripted_runtime(scripted_runtime, scripted_async_api_module, monkeypatch):
    # The function creates its SageMaker client at first use, which may be in this test.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", scripted_runtime.url)
    return ApiGateway(scripted_async_api_module)


@pytest.fixture
def notifications(aws, notifications_module):
    return NotificationPipeline(aws, notifications_module)


@pytest.fixture
def moto_async_results(moto_url):
    """Queue the results moto's InvokeEndpointAsync writes, in invocation order."""

    def configure(*results: dict) -> None:
        requests.post(
            f"{moto_url}/moto-api/static/sagemaker/async-endpoint-results",
            json={"region": REGION, "results": list(results)},
            timeout=10,
        ).raise_for_status()

    return configure


@pytest.fixture
def cloudwatch(aws):
    """CloudWatch with the endpoint's wake alarm as BacklogScaling creates it (in AWS its action is
    the step policy that adds an instance)."""
    from inference_common.capacity import wake_alarm_name_for  # the shared folder is on sys.path only now

    client = boto3.client("cloudwatch", region_name=REGION)
    client.put_metric_alarm(
        AlarmName=wake_alarm_name_for(ENDPOINT_NAME),
        Namespace="AWS/SageMaker",
        MetricName="HasBacklogWithoutCapacity",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT_NAME}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    return client
