"""The environment's API on this machine: the same routes and handlers as in AWS, on stand-ins.

``LocalApi`` starts, in one process:

* moto's server (S3, DynamoDB, SNS, SQS) with the resources the stacks create: input and output
  buckets, the requests and idempotency tables, the success and error topics subscribed to the
  notifications queue (raw delivery off, as in the stack);
* one CPU model container stand-in per catalog model (``local.model_container``), in the
  model's container format, behind a SageMaker runtime stand-in (``local.sagemaker_runtime``)
  that serves its async endpoint and its inference component on the streaming endpoint;
* the three Lambda handlers, unchanged: async_api (REST proxy events), notifications (fed by a
  poller acting as the SQS event source mapping) and the streaming front (its ASGI app under
  uvicorn, as run.sh runs it under the Lambda Web Adapter);
* the SigV4-verifying gateway (``local.gateway``) on the requested port;
* the scale-to-zero stand-in (``local.scale_to_zero``) for SageMaker's control plane and the wake
  alarms' step policies, on moto's CloudWatch: the models named in ``cold_start`` start at zero
  copies and instances, and the handlers wake them with the same SetAlarmState call as in AWS.

The handlers read their configuration from environment variables at import, as in Lambda, so
``LocalApi`` sets them for this process: run it in a process of its own (``python -m local``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import boto3
from moto.server import ThreadedMotoServer

from local.asgi_server import serve
from local.catalog import model_catalog
from local.gateway import Identity, LocalApiGateway
from local.lambda_events import RestApiFunction
from local.model_container import ModelContainer
from local.notification_intake import NotificationIntake
from local.sagemaker_runtime import AsyncEndpointOutput, LocalEndpoint, SageMakerRuntime
from local.scale_to_zero import ScaleToZeroStandIn
from stacks.config import EnvironmentConfig

LAMBDA_ROOT = Path(__file__).resolve().parents[1] / "lambda"
OUTPUTS_PREFIX = "outputs/"
FAILURES_PREFIX = "failures/"
# The handlers' own credentials (their execution role's, in AWS); callers sign with theirs.
_HANDLER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local-handlers", "AWS_SECRET_ACCESS_KEY": "local-handlers"}


@dataclass(frozen=True)
class Resources:
    input_bucket: str
    output_bucket: str
    requests_table: str
    idempotency_table: str
    notification_queue: str
    success_topic: str
    error_topic: str

    @classmethod
    def for_prefix(cls, prefix: str) -> Resources:
        return cls(
            input_bucket=f"{prefix}-input", output_bucket=f"{prefix}-output",
            requests_table=f"{prefix}-requests", idempotency_table=f"{prefix}-idempotency",
            notification_queue=f"{prefix}-notifications",
            success_topic=f"{prefix}-success", error_topic=f"{prefix}-error",
        )


class LocalApi:
    """``with LocalApi(config, identities, port=8080) as api:``; ``api.url`` is the stage URL."""

    def __init__(
        self, config: EnvironmentConfig, identities: list[Identity], *, host: str = "127.0.0.1", port: int = 0,
        tokens_per_second: float = 20.0, region: str = "us-east-1", cold_start: dict[str, float] | None = None,
        max_hold_seconds: float | None = None,
    ) -> None:
        """``cold_start``: model name -> seconds a woken copy or instance takes to start; those models
        start at zero, the others with one copy and instance. ``max_hold_seconds`` overrides the
        config's, for the streaming front's hold."""
        self.config = config
        self._cold_start = cold_start or {}
        self._max_hold_seconds = max_hold_seconds
        self.catalog = model_catalog(config)
        self._identities = identities
        self._host, self._port = host, port
        self._tokens_per_second = tokens_per_second
        self._region = region
        self._stack = ExitStack()
        self._gateway: LocalApiGateway | None = None
        self.resources = Resources.for_prefix(config.resource_prefix)

    @property
    def url(self) -> str:
        assert self._gateway is not None
        return self._gateway.url

    def __enter__(self) -> LocalApi:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._stack.callback(moto.stop)
        moto_host, moto_port = moto.get_host_and_port()
        moto_url = f"http://{moto_host}:{moto_port}"
        os.environ.update(
            {
                **_HANDLER_CREDENTIALS,
                "AWS_DEFAULT_REGION": self._region,
                "AWS_REGION": self._region,
                "AWS_ENDPOINT_URL": moto_url,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        aws = {
            service: boto3.client(service, endpoint_url=moto_url)
            for service in ("s3", "dynamodb", "sns", "sqs", "cloudwatch")
        }
        queue_url, queue_arn, success_arn, error_arn = self._create_resources(aws)

        stand_in = self._stack.enter_context(
            ScaleToZeroStandIn(cloudwatch_client=aws["cloudwatch"], cold_start_seconds=0.0, on_wake=_report_wake)
        )
        self._register_capacity(stand_in)
        # The handlers' SageMaker control-plane calls (the wake's look at the copy count) go to the stand-in.
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] = stand_in.url
        output = AsyncEndpointOutput(self.resources.output_bucket, OUTPUTS_PREFIX, FAILURES_PREFIX, success_arn, error_arn)
        runtime = self._stack.enter_context(
            SageMakerRuntime(self._endpoints(output), s3=aws["s3"], sns=aws["sns"], region=self._region,
                             has_capacity=stand_in.has_capacity)
        )
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = runtime.url
        async_api, notifications, streaming = (
            _load_handler(function, environment) for function, environment in self._function_environments().items()
        )
        self._stack.enter_context(
            NotificationIntake(sqs=aws["sqs"], queue_url=queue_url, queue_arn=queue_arn, region=self._region,
                               handler_module=notifications)
        )
        streaming_url = self._stack.enter_context(serve(streaming.app))
        self._gateway = self._stack.enter_context(
            LocalApiGateway(RestApiFunction(async_api), streaming_url, self._identities, host=self._host, port=self._port)
        )

    def _register_capacity(self, stand_in: ScaleToZeroStandIn) -> None:
        """Every async endpoint and inference component, with its wake alarm; cold ones at zero."""
        for name, spec in self.catalog["models"].items():
            seconds = self._cold_start.get(name)
            running = 0 if seconds is not None else 1
            if "async" in spec:
                stand_in.add_async_endpoint(spec["async"]["endpoint_name"], instances=running, cold_start_seconds=seconds)
            if "streaming" in spec:
                target = spec["streaming"]
                stand_in.add_inference_component(
                    target["inference_component_name"], endpoint_name=target["endpoint_name"], copies=running,
                    cold_start_seconds=seconds,
                )

    def _endpoints(self, output: AsyncEndpointOutput) -> list[LocalEndpoint]:
        endpoints: list[LocalEndpoint] = []
        components: dict[str, dict[str, str]] = {}
        for spec in self.catalog["models"].values():
            container = self._stack.enter_context(
                ModelContainer(spec["container_format"], tokens_per_second=self._tokens_per_second)
            )
            if "async" in spec:
                endpoints.append(LocalEndpoint(spec["async"]["endpoint_name"], container.url, async_output=output))
            if "streaming" in spec:
                target = spec["streaming"]
                components.setdefault(target["endpoint_name"], {})[target["inference_component_name"]] = container.url
        for name, by_component in components.items():
            endpoints.append(LocalEndpoint(name, None, inference_components=by_component))
        return endpoints

    def _create_resources(self, aws: dict) -> tuple[str, str, str, str]:
        names = self.resources
        for bucket in (names.input_bucket, names.output_bucket):
            aws["s3"].create_bucket(Bucket=bucket)
        for table, key, ttl in ((names.requests_table, "inference_id", "expires_at"),
                                (names.idempotency_table, "id", "expiration")):
            aws["dynamodb"].create_table(
                TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            )
            aws["dynamodb"].update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
            )
        queue_url = aws["sqs"].create_queue(QueueName=names.notification_queue)["QueueUrl"]
        queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        topics = []
        for topic in (names.success_topic, names.error_topic):
            arn = aws["sns"].create_topic(Name=topic)["TopicArn"]
            aws["sns"].subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
            topics.append(arn)
        return queue_url, queue_arn, topics[0], topics[1]

    def _function_environments(self) -> dict[str, dict[str, str]]:
        """What the stacks set on each function (stacks/api_stack.py and its constructs), for this machine."""
        names, api = self.resources, self.config.api
        common = {
            "MODEL_CATALOG": json.dumps(self.catalog),
            "REQUESTS_TABLE": names.requests_table,
            "OUTPUT_BUCKET": names.output_bucket,
            "REQUEST_RECORD_TTL_DAYS": str(api.request_record_ttl_days),
            "POWERTOOLS_SERVICE_NAME": f"{self.config.resource_prefix}-local",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        streaming = self.config.streaming_endpoint
        hold: dict[str, str] = {}
        if streaming is not None:
            hold = {
                "SCALE_TO_ZERO": "true" if streaming.scale_to_zero else "false",
                "MAX_HOLD_SECONDS": f"{self._max_hold_seconds or streaming.max_hold_seconds:g}",
                "HOLD_KEEPALIVE_SECONDS": str(streaming.hold_keepalive_seconds),
            }
        return {
            "async_api": {
                **common,
                "INPUT_BUCKET": names.input_bucket,
                "IDEMPOTENCY_TABLE": names.idempotency_table,
                "MAX_INLINE_BYTES": str(api.max_inline_bytes),
                "PRESIGN_EXPIRY_SECONDS": str(api.presign_expiry_seconds),
            },
            "notifications": common,
            "streaming": {
                **common,
                **({"UPSTREAM_READ_TIMEOUT_SECONDS": str(streaming.upstream_read_timeout_seconds)} if streaming else {}),
                **hold,
            },
        }


def _report_wake(name: str, added: bool, cold_start_seconds: float) -> None:
    if added:
        print(f"scale to zero: woke {name} (its wake alarm in ALARM); capacity in {cold_start_seconds:g} s", flush=True)
    else:
        print(f"scale to zero: {name}'s wake alarm in ALARM again; capacity already starting", flush=True)


def _load_handler(function: str, environment: dict[str, str]) -> ModuleType:
    """Import lambda/<function>/app.py as its asset lays it out (its folder and the shared package on
    the path), with its environment: each handler reads its settings once, at import, as in Lambda."""
    os.environ.update(environment)
    for folder in (LAMBDA_ROOT / "shared", LAMBDA_ROOT / function):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    name = f"{function}_app"
    spec = importlib.util.spec_from_file_location(name, LAMBDA_ROOT / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
