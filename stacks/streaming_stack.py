"""The real-time streaming endpoint and one inference component per streaming model, each with
its own copy scaling (optionally to zero) and alarms."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.catalog_rules import minimum_streaming_instances
from stacks.config import EnvironmentConfig, ModelConfig, StreamingEndpointConfig
from stacks.constructs.alarms import AlarmRecipients, notify_when
from stacks.constructs.copy_scaling import CopyScaling
from stacks.constructs.inference_component import InferenceComponentModel
from stacks.constructs.sagemaker_scaling import wake_cooldown
from stacks.constructs.secure_storage import encryption_key, log_retention, removal_policy_of
from stacks.constructs.streaming_endpoint import StreamingEndpoint


class StreamingModel(Construct):
    """One streaming model: its inference component, copy scaling and alarms."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: StreamingEndpoint,
        settings: StreamingEndpointConfig,
        model_name: str,
        model: ModelConfig,
        alarm_recipients: AlarmRecipients,
    ) -> None:
        super().__init__(scope, id)
        streaming = model.streaming
        minimum = 0 if settings.scale_to_zero else streaming.min_copies
        self.component = InferenceComponentModel(
            self,
            "Component",
            endpoint=endpoint,
            model_name=model_name,
            model=model,
            # An inference component starts with at least one copy; scaling takes it to zero.
            initial_copies=max(minimum, 1),
        )
        CfnOutput(
            self,
            "InferenceComponentName",
            value=self.component.inference_component_name,
            description=f"{model_name}: inference component",
        )
        self.scaling = CopyScaling(
            self,
            "Scaling",
            component=self.component,
            scale_to_zero=settings.scale_to_zero,
            min_copies=streaming.min_copies,
            max_copies=streaming.max_copies,
            target_invocations_per_copy=streaming.target_invocations_per_copy,
            scale_in_cooldown=Duration.seconds(streaming.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(streaming.scale_out_cooldown_seconds),
            wake_cooldown=wake_cooldown(model.container.startup_health_check_timeout_seconds),
            alarm_recipients=alarm_recipients,
            idle_minutes=streaming.idle_minutes,
        )
        thresholds = streaming.alarms
        notify_when(
            self,
            "ModelLatency",
            description=f"p90 model latency of {model_name} (streaming) is above the configured threshold",
            # SageMaker reports ModelLatency in microseconds.
            metric=self.component.metric_model_latency(),
            threshold=thresholds.model_latency_p90_ms * 1000,
            recipients=alarm_recipients,
            evaluation_periods=thresholds.evaluation_periods,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        notify_when(
            self,
            "Invocation5XXErrors",
            description=f"The {model_name} streaming container answers with 5xx errors",
            metric=self.component.metric_invocation_5xx_errors(),
            threshold=thresholds.invocation_5xx_errors,
            recipients=alarm_recipients,
        )


class StreamingStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, alarm_recipients: AlarmRecipients, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        settings, storage = config.streaming_endpoint, config.storage
        removal = removal_policy_of(storage)
        models = config.streaming_models

        self.key = encryption_key(
            self, "Key", description=f"{config.resource_prefix}: streaming endpoint logs", removal_policy=removal
        )
        self.endpoint = StreamingEndpoint(
            self,
            "StreamingEndpoint",
            name_prefix=config.resource_prefix,
            instance_type=settings.instance_type,
            min_instances=0 if settings.scale_to_zero else minimum_streaming_instances(config),
            max_instances=settings.max_instances,
            key=self.key,
            log_retention=log_retention(storage.log_retention_days),
            removal_policy=removal,
        )
        # One construct per model, with the model's name as its id: a model's logical ids depend on
        # its name only, so adding or removing another model leaves them as they are.
        self.models = {
            name: StreamingModel(
                self,
                name,
                endpoint=self.endpoint,
                settings=settings,
                model_name=name,
                model=model,
                alarm_recipients=alarm_recipients,
            )
            for name, model in models.items()
        }

        CfnOutput(self, "StreamingEndpointName", value=self.endpoint.endpoint_name)
