"""A stand-in for SageMaker runtime in front of the local model containers.

boto3 reaches it through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``. It serves the two operations
the API functions call (paths and headers from botocore's ``sagemaker-runtime`` model):

* ``InvokeEndpointWithResponseStream`` (``POST /endpoints/<name>/invocations-response-stream``,
  ``X-Amzn-SageMaker-Inference-Component``): relays the container's answer as ``PayloadPart``
  event-stream frames as it arrives. A container that answers non-200 becomes SageMaker's
  ``ModelError`` (424, with ``OriginalStatusCode`` and ``OriginalMessage``).
* ``InvokeEndpointAsync`` (``POST /endpoints/<name>/async-invocations``): answers 202 at once,
  then, in the background, does what SageMaker's async endpoint does: reads the input from S3,
  invokes the container, writes the answer to ``<S3OutputPath><id>.out`` (or the error to
  ``<S3FailurePath><id>-error.out``) and publishes the notification to the success (or error)
  topic in SageMaker's documented shape (../shared/reference/AWS_FACTS.md, "Notification").
  moto publishes no such notification, which is why this exists.

An unknown endpoint or component is a ``ValidationError`` (400), as SageMaker answers.

With ``has_capacity`` (the scale-to-zero stand-in's, ``local.scale_to_zero``), a model at zero behaves as
in AWS: a streaming request to an inference component with no copy is refused with SageMaker's
"no capacity" ``ValidationError``, and an async request is queued (202 at once) and processed
when the endpoint has an instance ("Requests that are received when there are zero instances are
queued for processing once the endpoint scales up": SageMaker Developer Guide, Autoscale an
asynchronous endpoint, https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from local.event_stream import payload_part_frame

logger = logging.getLogger(__name__)

# What SageMaker answers for an inference component at zero copies (docs/scale-to-zero.md).
NO_CAPACITY_MESSAGE = (
    "Inference Component has no capacity to process this request. "
    "ApplicationAutoScaling may be in-progress (if configured) or try to increase the capacity"
)
_CAPACITY_POLL_SECONDS = 0.05

_PATH = re.compile(r"/endpoints/(?P<endpoint>[^/]+)/(?P<operation>invocations-response-stream|async-invocations)")


@dataclass(frozen=True)
class AsyncEndpointOutput:
    """Where an async endpoint writes and publishes (its ``AsyncInferenceConfig.OutputConfig``)."""

    output_bucket: str
    output_prefix: str
    failure_prefix: str
    success_topic_arn: str
    error_topic_arn: str


@dataclass(frozen=True)
class LocalEndpoint:
    name: str
    container_url: str | None
    """The container behind the endpoint; None for one that hosts only inference components."""
    inference_components: dict[str, str] | None = None
    """Component name -> container URL, for a real-time endpoint hosting inference components."""
    async_output: AsyncEndpointOutput | None = None


class SageMakerRuntime:
    """Run with ``with SageMakerRuntime(endpoints, s3=..., sns=...) as runtime:``; ``runtime.url``."""

    def __init__(self, endpoints: list[LocalEndpoint], *, s3: Any, sns: Any, region: str,
                 host: str = "127.0.0.1", port: int = 0, has_capacity: Callable[[str], bool] | None = None) -> None:
        """``has_capacity(component or async endpoint name)``: whether a copy or instance runs."""
        self._endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._has_capacity = has_capacity
        self._stopping = threading.Event()
        self._s3 = s3
        self._sns = sns
        self._region = region
        self._jobs = ThreadPoolExecutor(max_workers=4, thread_name_prefix="async-endpoint")
        self._server = _Server((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> SageMakerRuntime:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._jobs.shutdown(wait=True, cancel_futures=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _PATH.fullmatch(urlsplit(self.path).path)
                if match is None:
                    self._error(404, "UnknownOperationException", f"no operation at {self.path}")
                    return
                endpoint = runtime._endpoints.get(unquote(match["endpoint"]))
                if endpoint is None:
                    self._error(400, "ValidationError", f"Endpoint {match['endpoint']} of account local not found.")
                    return
                if match["operation"] == "async-invocations":
                    self._invoke_async(endpoint)
                else:
                    self._invoke_streaming(endpoint, body)

            def _invoke_streaming(self, endpoint: LocalEndpoint, body: bytes) -> None:
                component = self.headers.get("X-Amzn-SageMaker-Inference-Component")
                container_url = endpoint.container_url
                if component is not None:
                    container_url = (endpoint.inference_components or {}).get(component)
                    if container_url is None:
                        self._error(400, "ValidationError", f"Inference component {component} not found.")
                        return
                    if runtime._has_capacity is not None and not runtime._has_capacity(component):
                        self._error(400, "ValidationError", NO_CAPACITY_MESSAGE)
                        return
                elif container_url is None:
                    self._error(400, "ValidationError",
                                f"Endpoint {endpoint.name} hosts inference components: name one to invoke.")
                    return
                target = urlsplit(container_url)
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
                    answer = connection.getresponse()
                    if answer.status != 200:
                        message = answer.read().decode("utf-8", errors="replace")
                        self._error(424, "ModelError", f"Received client error ({answer.status}) from primary",
                                    OriginalStatusCode=answer.status, OriginalMessage=message)
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                    self.send_header("X-Amzn-SageMaker-Content-Type", answer.getheader("Content-Type", ""))
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while data := answer.read1(65536):
                        frame = payload_part_frame(data)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                except OSError as error:
                    self._error(424, "ModelError", f"the model container cannot be reached: {error}")
                finally:
                    connection.close()

            def _invoke_async(self, endpoint: LocalEndpoint) -> None:
                output = endpoint.async_output
                input_location = self.headers.get("X-Amzn-SageMaker-InputLocation")
                inference_id = self.headers.get("X-Amzn-SageMaker-Inference-Id")
                if output is None or endpoint.container_url is None or not input_location or not inference_id:
                    self._error(400, "ValidationError", "an async endpoint, InputLocation and InferenceId are required")
                    return
                received = datetime.now(UTC)
                runtime._jobs.submit(runtime._run_async, endpoint, output, inference_id, input_location, received)
                self._reply(
                    202,
                    {"InferenceId": inference_id},
                    {
                        "X-Amzn-SageMaker-OutputLocation": _s3_uri(output.output_bucket, output.output_prefix, f"{inference_id}.out"),
                        "X-Amzn-SageMaker-FailureLocation": _s3_uri(
                            output.output_bucket, output.failure_prefix, f"{inference_id}-error.out"
                        ),
                    },
                )

            def _error(self, status: int, error_type: str, message: str, **extra: Any) -> None:
                self._reply(status, {"message": message, **extra}, {"x-amzn-ErrorType": error_type})

            def _reply(self, status: int, body: dict, headers: dict[str, str]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _run_async(self, endpoint: LocalEndpoint, output: AsyncEndpointOutput, inference_id: str,
                   input_location: str, received: datetime) -> None:
        if not self._capacity_for(endpoint.name):
            return
        try:
            bucket, key = _parse_s3_uri(input_location)
            payload = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert endpoint.container_url is not None
            status, answer = _invoke(endpoint.container_url, payload)
        except Exception as error:  # every failure must reach the error topic, as SageMaker's would
            status, answer = 500, str(error).encode()
        succeeded = status == 200
        prefix = output.output_prefix if succeeded else output.failure_prefix
        key = f"{prefix}{inference_id}.out" if succeeded else f"{prefix}{inference_id}-error.out"
        notification: dict[str, Any] = {
            "awsRegion": self._region,
            "eventTime": _timestamp(datetime.now(UTC)),
            "receivedTime": _timestamp(received),
            "invocationStatus": "Completed" if succeeded else "Failed",
            "requestParameters": {
                "accept": "*/*",
                "contentType": "application/json",
                "endpointName": endpoint.name,
                "inputLocation": input_location,
            },
            "inferenceId": inference_id,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        try:
            self._s3.put_object(Bucket=output.output_bucket, Key=key, Body=answer, ContentType="application/json")
            location = f"s3://{output.output_bucket}/{key}"
            if succeeded:
                notification["responseParameters"] = {"contentType": "application/json", "outputLocation": location}
            else:
                notification["failureReason"] = (
                    f"ClientError: Received server error ({status}) from model. See {location} for details."
                )
            topic = output.success_topic_arn if succeeded else output.error_topic_arn
            self._sns.publish(TopicArn=topic, Message=json.dumps(notification))
        except Exception:
            logger.exception("the local async endpoint could not deliver inference %s", inference_id)

    def _capacity_for(self, endpoint_name: str) -> bool:
        """Wait, as the endpoint's queue does, until an instance runs; False when stopping first."""
        while self._has_capacity is not None and not self._has_capacity(endpoint_name):
            if self._stopping.wait(_CAPACITY_POLL_SECONDS):
                return False
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _invoke(container_url: str, payload: bytes) -> tuple[int, bytes]:
    target = urlsplit(container_url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
    try:
        connection.request("POST", "/invocations", body=payload, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def _parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _s3_uri(bucket: str, prefix: str, name: str) -> str:
    return f"s3://{bucket}/{prefix}{name}"


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

