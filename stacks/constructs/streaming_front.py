"""The token-streaming front: an ASGI app run by the Lambda Web Adapter in response-stream mode."""

from __future__ import annotations

import ast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import StreamingEndpointConfig
from stacks.constructs.inference_component import InferenceComponentModel
from stacks.constructs.python_function import LAMBDA_ROOT, PythonFunction

# The AWS account that publishes the Lambda Web Adapter layer in every commercial region.
WEB_ADAPTER_ACCOUNT = "753240598075"
# What lambda/streaming/stream_metrics.py publishes, in embedded metric format.
TIME_TO_FIRST_TOKEN = "TimeToFirstToken"
MODEL_DIMENSION = "Model"


def _session_services() -> tuple[str, ...]:
    """``SERVICES`` of lambda/streaming/sagemaker_stream.py, the services the front's botocore session
    calls, read from its source: the CDK app does not import the function's modules."""
    module = ast.parse((LAMBDA_ROOT / "streaming" / "sagemaker_stream.py").read_text())
    (value,) = [
        node.value for node in module.body
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["SERVICES"]
    ]
    return tuple(ast.literal_eval(value))


# The front's bundle keeps botocore's data of these alone (stacks/botocore_data.py).
BOTOCORE_SERVICES = _session_services()


def metrics_namespace_for(resource_prefix: str) -> str:
    """The environment's own CloudWatch namespace for the front's metrics (not AWS/: that prefix is AWS's)."""
    return f"LLMHosting/{resource_prefix}"


class StreamingFront(Construct):
    """Relays generated tokens as server-sent events from the inference component a request names.

    The function may invoke exactly the inference components in `components` (and their endpoint).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: StreamingEndpointConfig,
        catalog: str,
        metrics_namespace: str,
        components: list[InferenceComponentModel],
        reserved_concurrency: int,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.metrics_namespace = metrics_namespace
        stack = Stack.of(self)
        adapter = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "WebAdapterLayer",
            f"arn:{stack.partition}:lambda:{stack.region}:{WEB_ADAPTER_ACCOUNT}:layer:LambdaAdapterLayerX86:"
            f"{settings.web_adapter_layer_version}",
        )
        # "Default": CDK leaves it out of logical ids, so the function keeps the ids it had before
        # this construct existed (give this construct the id "StreamingHandler").
        self.handler = PythonFunction(
            self,
            "Default",
            name="streaming",
            description="Relays generated tokens from the streaming endpoint as server-sent events",
            handler="run.sh",
            layers=[adapter],
            botocore_services=BOTOCORE_SERVICES,
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "AWS_LWA_PORT": "8080",
                "AWS_LWA_READINESS_CHECK_PATH": "/healthz",
                "MODEL_CATALOG": catalog,
                "UPSTREAM_READ_TIMEOUT_SECONDS": str(settings.upstream_read_timeout_seconds),
                "SCALE_TO_ZERO": "true" if settings.scale_to_zero else "false",
                "MAX_HOLD_SECONDS": str(settings.max_hold_seconds),
                "HOLD_KEEPALIVE_SECONDS": str(settings.hold_keepalive_seconds),
                "METRICS_NAMESPACE": metrics_namespace,
            },
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
            reserved_concurrency=reserved_concurrency,
            # Ends before the route's integration timeout, even after a cold start (stream budget).
            timeout=Duration.seconds(settings.budget.function_timeout_seconds),
            memory_size=1024,
            failure_handling=(
                "Invoked synchronously by API Gateway with a response stream: a failure reaches the caller "
                "as an error status or an 'error' event at once."
            ),
        )
        self.function = self.handler.function
        for component in components:
            component.grant_invoke_with_response_stream(self.handler.role)

    def metric_time_to_first_token(self, model: str, *, statistic: str = "p90") -> cloudwatch.Metric:
        """From a request's arrival to its first token's send, per model; a wake from zero included."""
        return cloudwatch.Metric(
            namespace=self.metrics_namespace,
            metric_name=TIME_TO_FIRST_TOKEN,
            dimensions_map={MODEL_DIMENSION: model},
            statistic=statistic,
            period=Duration.minutes(5),
        )
