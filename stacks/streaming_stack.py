"""The real-time streaming endpoint: inference component, copy scaling (optionally to zero), alarms."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.alarms import AlarmRecipients, notify_when
from stacks.constructs.copy_scaling import CopyScaling
from stacks.constructs.secure_storage import encryption_key, log_retention, removal_policy_of
from stacks.constructs.streaming_endpoint import StreamingEndpoint


class StreamingStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, alarm_recipients: AlarmRecipients, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        settings, storage = config.streaming, config.storage
        removal = removal_policy_of(storage)
        minimum = 0 if settings.scale_to_zero else settings.min_copies

        self.key = encryption_key(
            self, "Key", description=f"{config.resource_prefix}: streaming endpoint logs", removal_policy=removal
        )

        self.endpoint = StreamingEndpoint(
            self,
            "StreamingEndpoint",
            name_prefix=config.resource_prefix,
            model=config.model,
            instance_type=settings.instance_type,
            min_instances=minimum,
            max_instances=settings.max_instances,
            # An inference component starts with at least one copy; scaling takes it to zero.
            initial_copies=max(minimum, 1),
            memory_per_copy_mb=settings.memory_per_copy_mb,
            key=self.key,
            log_retention=log_retention(storage.log_retention_days),
            removal_policy=removal,
        )
        self.scaling = CopyScaling(
            self,
            "Scaling",
            endpoint=self.endpoint,
            scale_to_zero=settings.scale_to_zero,
            min_copies=settings.min_copies,
            max_copies=settings.max_copies,
            target_invocations_per_copy=settings.target_invocations_per_copy,
            scale_in_cooldown=Duration.seconds(settings.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(settings.scale_out_cooldown_seconds),
            alarm_recipients=alarm_recipients,
        )

        thresholds = settings.alarms
        notify_when(
            self,
            "ModelLatency",
            description="p90 model latency of the streaming endpoint is above the configured threshold",
            # SageMaker reports ModelLatency in microseconds.
            metric=self.endpoint.metric_model_latency(),
            threshold=thresholds.model_latency_p90_ms * 1000,
            recipients=alarm_recipients,
            evaluation_periods=thresholds.evaluation_periods,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        notify_when(
            self,
            "Invocation5XXErrors",
            description="The streaming model container answers with 5xx errors",
            metric=self.endpoint.metric_invocation_5xx_errors(),
            threshold=thresholds.invocation_5xx_errors,
            recipients=alarm_recipients,
        )

        CfnOutput(self, "StreamingEndpointName", value=self.endpoint.endpoint_name)
        CfnOutput(self, "InferenceComponentName", value=self.endpoint.inference_component_name)
