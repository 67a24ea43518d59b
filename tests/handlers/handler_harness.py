"""What the handler tests drive the Lambda functions with: the AWS resources the stack would create
(in moto), API Gateway REST proxy events, SQS events carrying SNS envelopes, and a scripted
SageMaker runtime for what moto cannot do (throttle, or let a notification overtake a submit)."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from local.lambda_events import ACCOUNT, REGION, ApiResponse, LambdaContext, RestApiFunction

LAMBDA_ROOT = Path(__file__).resolve().parents[2] / "lambda"

INPUT_BUCKET = "inference-input"
OUTPUT_BUCKET = "inference-output"
REQUESTS_TABLE = "inference-requests"
IDEMPOTENCY_TABLE = "inference-idempotency"
ENDPOINT_NAME = "llm-async"
SUMMARIZER_ENDPOINT = "llm-summarizer-async"
# The environment's catalog as the stack writes it: the default model and a second async model, and
# a model served for streaming only.
MODEL_CATALOG = {
    "default": "chat",
    "models": {
        "chat": {
            "container_format": "lmi",
            "async": {"endpoint_name": ENDPOINT_NAME},
            "streaming": {"endpoint_name": "llm-stream", "inference_component_name": "llm-stream-chat"},
        },
        "summarizer": {"container_format": "lmi", "async": {"endpoint_name": SUMMARIZER_ENDPOINT}},
        "small": {
            "container_format": "lmi",
            "streaming": {"endpoint_name": "llm-stream", "inference_component_name": "llm-stream-small"},
        },
    },
}
SUCCESS_TOPIC = "inference-success"
ERROR_TOPIC = "inference-error"
NOTIFICATION_QUEUE = "inference-notifications"
MAX_INLINE_BYTES = 4096

ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/app-team-a/alice"
BOB = f"arn:aws:sts::{ACCOUNT}:assumed-role/app-team-b/bob"

FUNCTION_ENVIRONMENT = {
    "MODEL_CATALOG": json.dumps(MODEL_CATALOG),
    "INPUT_BUCKET": INPUT_BUCKET,
    "OUTPUT_BUCKET": OUTPUT_BUCKET,
    "REQUESTS_TABLE": REQUESTS_TABLE,
    "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "MAX_INLINE_BYTES": str(MAX_INLINE_BYTES),
    "PRESIGN_EXPIRY_SECONDS": "300",
    "REQUEST_RECORD_TTL_DAYS": "7",
    "POWERTOOLS_SERVICE_NAME": "inference-tests",
}


def load_handler_module(function: str, module_name: str) -> ModuleType:
    """Import `lambda/<function>/app.py` under a unique name (every function's entry module is `app`)."""
    spec = importlib.util.spec_from_file_location(module_name, LAMBDA_ROOT / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Aws:
    """Clients on moto, and the resources the stack would create (`create_resources` after each reset)."""

    endpoint_url: str
    s3: Any = field(init=False)
    dynamodb: Any = field(init=False)
    sns: Any = field(init=False)
    sqs: Any = field(init=False)
    sagemaker: Any = field(init=False)
    success_topic_arn: str = field(init=False)
    error_topic_arn: str = field(init=False)
    queue_url: str = field(init=False)
    queue_arn: str = field(init=False)

    def __post_init__(self) -> None:
        for service in ("s3", "dynamodb", "sns", "sqs", "sagemaker"):
            setattr(self, service.replace("-", "_"), boto3.client(service, region_name=REGION))

    def create_resources(self) -> None:
        for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
            self.s3.create_bucket(Bucket=bucket)
        self._create_table(REQUESTS_TABLE, key="inference_id", ttl_attribute="expires_at")
        self._create_table(IDEMPOTENCY_TABLE, key="id", ttl_attribute="expiration")

        self.success_topic_arn = self.sns.create_topic(Name=SUCCESS_TOPIC)["TopicArn"]
        self.error_topic_arn = self.sns.create_topic(Name=ERROR_TOPIC)["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for topic in (self.success_topic_arn, self.error_topic_arn):
            # Raw delivery stays off: the queue receives SNS envelopes, as in the stack.
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=self.queue_arn)

        self.sagemaker.create_model(
            ModelName="llm",
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution",
            PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tgi:latest"},
        )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName="llm-async-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "llm",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.g4dn.xlarge",
                }
            ],
            AsyncInferenceConfig={
                "OutputConfig": {
                    "S3OutputPath": f"s3://{OUTPUT_BUCKET}/outputs/",
                    "S3FailurePath": f"s3://{OUTPUT_BUCKET}/failures/",
                    "NotificationConfig": {
                        "SuccessTopic": self.success_topic_arn,
                        "ErrorTopic": self.error_topic_arn,
                    },
                }
            },
        )
        for endpoint in (ENDPOINT_NAME, SUMMARIZER_ENDPOINT):
            self.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName="llm-async-config")

    def _create_table(self, name: str, *, key: str, ttl_attribute: str) -> None:
        self.dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
        )

    def keys_under(self, bucket: str, prefix: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]

    def request_items(self) -> list[dict]:
        return self.dynamodb.scan(TableName=REQUESTS_TABLE)["Items"]

    def moto_async_result_buckets(self) -> list[str]:
        """moto writes each new async invocation's result to a fresh `sagemaker-output-*` bucket."""
        return [b["Name"] for b in self.s3.list_buckets()["Buckets"] if b["Name"].startswith("sagemaker-output-")]


class ApiGateway(RestApiFunction):
    """Calls the async_api handler the way an API Gateway REST proxy integration with IAM auth does."""

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        principal: str | None = ALICE,
        query: dict[str, str] | None = None,
    ) -> ApiResponse:
        return super().request(method, path, body=body, headers=headers, principal=principal, query=query)

    def submit(self, body: dict, *, idempotency_key: str | None = None, principal: str = ALICE) -> ApiResponse:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", "/v1/inferences", body=json.dumps(body), headers=headers, principal=principal)

    def get(self, inference_id: str, *, principal: str = ALICE) -> ApiResponse:
        return self.request("GET", f"/v1/inferences/{inference_id}", principal=principal)


def sagemaker_notification(
    inference_id: str,
    status: str,
    *,
    event_time: str,
    output_location: str | None = None,
    failure_reason: str | None = None,
) -> dict:
    """The JSON SageMaker publishes to the success or error topic (see shared/reference/AWS_FACTS.md)."""
    notification = {
        "awsRegion": REGION,
        "eventTime": event_time,
        "receivedTime": "2026-01-01T00:00:00.000Z",
        "invocationStatus": status,
        "requestParameters": {
            "accept": "application/json",
            "contentType": "application/json",
            "endpointName": ENDPOINT_NAME,
            "inputLocation": f"s3://{INPUT_BUCKET}/requests/{inference_id}.json",
        },
        "inferenceId": inference_id,
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }
    if output_location is not None:
        notification["responseParameters"] = {"contentType": "application/json", "outputLocation": output_location}
    if failure_reason is not None:
        notification["failureReason"] = failure_reason
    return notification


class NotificationPipeline:
    """SageMaker's SNS topics -> the SQS queue (both in moto) -> the notifications handler."""

    def __init__(self, aws: Aws, handler_module: ModuleType) -> None:
        self._aws = aws
        self._module = handler_module

    def publish(self, notification: dict) -> None:
        succeeded = notification["invocationStatus"] == "Completed"
        topic = self._aws.success_topic_arn if succeeded else self._aws.error_topic_arn
        self._aws.sns.publish(TopicArn=topic, Message=json.dumps(notification))

    def receive_event(self) -> dict:
        """The Lambda SQS event for everything waiting in the queue, as the event source mapping builds it."""
        records = []
        while True:
            messages = self._aws.sqs.receive_message(
                QueueUrl=self._aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return {"Records": records}
            for message in messages:
                records.append(
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "attributes": message.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": message["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self._aws.queue_arn,
                        "awsRegion": REGION,
                    }
                )

    def handle(self, event: dict) -> dict:
        return self._module.handler(event, LambdaContext())

    def deliver(self, *notifications: dict) -> dict:
        """Publish, receive what SNS delivered to the queue, and run the handler on it."""
        for notification in notifications:
            self.publish(notification)
        event = self.receive_event()
        assert len(event["Records"]) == len(notifications), "SNS did not deliver every notification to SQS"
        return self.handle(event)


@dataclass
class RecordedInvoke:
    path: str
    headers: dict[str, str]


class ScriptedRuntime:
    """A local stand-in for the SageMaker runtime endpoint, reached through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.

    It answers InvokeEndpointAsync with whatever a test scripts: an AWS error (status + error type),
    or a 202 after running `on_invoke` (a test acting as SageMaker while the submit waits).
    """

    def __init__(self) -> None:
        self.invocations: list[RecordedInvoke] = []
        self.error: tuple[int, str] | None = None
        self.on_invoke: Callable[[RecordedInvoke], None] | None = None
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                invoke = RecordedInvoke(path=self.path, headers={k.lower(): v for k, v in self.headers.items()})
                runtime.invocations.append(invoke)
                if runtime.error is not None:
                    status, error_type = runtime.error
                    self._reply(status, {"x-amzn-ErrorType": error_type}, {"message": f"scripted {error_type}"})
                    return
                if runtime.on_invoke is not None:
                    runtime.on_invoke(invoke)
                inference_id = invoke.headers["x-amzn-sagemaker-inference-id"]
                self._reply(
                    202,
                    {
                        "X-Amzn-SageMaker-OutputLocation": f"s3://{OUTPUT_BUCKET}/outputs/{inference_id}.out",
                        "X-Amzn-SageMaker-FailureLocation": f"s3://{OUTPUT_BUCKET}/failures/{inference_id}-error.out",
                    },
                    {"InferenceId": inference_id},
                )

            def _reply(self, status: int, headers: dict[str, str], body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.invocations.clear()
        self.error = None
        self.on_invoke = None
