"""The environment's HTTP API: route requests to the catalog's models, record async results."""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.async_inference_stack import AsyncInferenceStack
from stacks.config import ConfigError, EnvironmentConfig
from stacks.constructs.async_api_function import AsyncApiFunction
from stacks.constructs.request_store import RequestStore
from stacks.constructs.rest_api import InferenceRestApi
from stacks.constructs.secure_storage import encryption_key, log_retention, payload_bucket_name, removal_policy_of
from stacks.constructs.streaming_front import StreamingFront, metrics_namespace_for
from stacks.streaming_stack import StreamingStack

# Lambda allows 4 KB for all of a function's environment variables together (Lambda quotas); the
# catalog may take most of it, the functions' other variables need the rest.
CATALOG_BUDGET_BYTES = 3072


def model_catalog(config: EnvironmentConfig, async_inference: AsyncInferenceStack, streaming: StreamingStack | None) -> str:
    """MODEL_CATALOG, the document every API function routes by (lambda/shared/inference_common/catalog.py)."""
    models = {}
    for name, model in config.models.items():
        entry: dict = {"container_format": model.container.framework}
        if name in async_inference.models:
            entry["async"] = {"endpoint_name": async_inference.models[name].endpoint.endpoint_name}
        if streaming is not None and name in streaming.models:
            component = streaming.models[name].component
            entry["streaming"] = {
                "endpoint_name": component.endpoint_name,
                "inference_component_name": component.inference_component_name,
            }
        models[name] = entry
    text = json.dumps({"default": config.default_model, "models": models}, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > CATALOG_BUDGET_BYTES:
        raise ConfigError(
            f"{config.stage_name}: the catalog's {len(models)} models make MODEL_CATALOG {len(text.encode())} bytes, "
            f"above the {CATALOG_BUDGET_BYTES} it may take of a Lambda function's 4 KB of environment variables: "
            "serve fewer models in this environment, or give them shorter names"
        )
    return text


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        async_inference: AsyncInferenceStack,
        streaming: StreamingStack | None,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        settings, storage = config.api, config.storage
        removal = removal_policy_of(storage)
        retention = log_retention(storage.log_retention_days)
        catalog = model_catalog(config, async_inference, streaming)
        # Imported by name (see payload_bucket_name): no export ties this stack to the other.
        input_bucket = s3.Bucket.from_bucket_name(self, "InputBucket", payload_bucket_name(self, config.resource_prefix, "input"))
        output_bucket = s3.Bucket.from_bucket_name(
            self, "OutputBucket", payload_bucket_name(self, config.resource_prefix, "output")
        )

        self.key = encryption_key(
            self,
            "Key",
            description=f"{config.resource_prefix}: request records, notification queues, API logs",
            removal_policy=removal,
        )
        self.store = RequestStore(
            self,
            "Default",
            key=self.key,
            output_bucket=output_bucket,
            result_topics=[async_inference.success_topic, async_inference.error_topic],
            alarm_recipients=async_inference.alarm_recipients,
            record_ttl_days=settings.request_record_ttl_days,
            point_in_time_recovery=settings.point_in_time_recovery,
            reserved_concurrency=settings.reserved_concurrency,
            log_retention=retention,
            removal_policy=removal,
        )
        self.async_api = AsyncApiFunction(
            self,
            "AsyncApiHandler",
            settings=settings,
            catalog=catalog,
            endpoints=[model.endpoint for model in async_inference.models.values()],
            store=self.store,
            input_bucket=input_bucket,
            output_bucket=output_bucket,
            payload_key=async_inference.key,
            key=self.key,
            log_retention=retention,
            removal_policy=removal,
        )
        # Each async endpoint is woken at the first request that finds it without an instance.
        for model in async_inference.models.values():
            model.scaling.grant_wake(self.async_api.handler.role)
        self.streaming_front = None
        if streaming is not None:
            self.streaming_front = StreamingFront(
                self,
                "StreamingHandler",
                settings=config.streaming_endpoint,
                catalog=catalog,
                metrics_namespace=metrics_namespace_for(config.resource_prefix),
                components=[model.component for model in streaming.models.values()],
                reserved_concurrency=settings.reserved_concurrency,
                key=self.key,
                log_retention=retention,
                removal_policy=removal,
            )
            if config.streaming_endpoint.scale_to_zero:
                # Each inference component is woken, and its caller held, when a request finds no copy.
                for model in streaming.models.values():
                    model.scaling.grant_wake(self.streaming_front.handler.role)
        self.api = InferenceRestApi(
            self,
            "Api",
            settings=settings,
            name=f"{config.resource_prefix}-inference",
            description=f"{config.stage_name}: inference API (IAM auth)",
            async_function=self.async_api.function,
            streaming_function=self.streaming_front.function if self.streaming_front else None,
            stream_integration_timeout=(
                Duration.seconds(config.streaming_endpoint.budget.integration_timeout_seconds)
                if self.streaming_front
                else None
            ),
            key=self.key,
            log_retention=retention,
            removal_policy=removal,
        )

        self.api_url_output = CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "RequestsTableName", value=self.store.requests_table.table_name)
        CfnOutput(self, "NotificationQueueUrl", value=self.store.notification_queue.queue_url)
