"""The real-time streaming endpoint: inference component, copy scaling (optionally to zero), alarms."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.async_inference_stack import log_retention
from stacks.config import EnvironmentConfig
from stacks.constructs.async_endpoint import has_nvme_storage, instance_family
from stacks.constructs.copy_scaling import CopyScaling
from stacks.constructs.streaming_endpoint import StreamingEndpoint


class StreamingStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, alarm_topic: sns.ITopic, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        settings, storage = config.streaming, config.storage
        removal = RemovalPolicy.DESTROY if storage.removal_policy == "destroy" else RemovalPolicy.RETAIN
        minimum = 0 if settings.scale_to_zero else settings.min_copies

        self.key = kms.Key(
            self,
            "Key",
            description=f"{config.resource_prefix}: streaming endpoint logs",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com"))

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
        if has_nvme_storage(settings.instance_type):
            reason = (
                f"ml.{instance_family(settings.instance_type)} instances have local NVMe storage, which is "
                "encrypted in hardware; SageMaker rejects a volume KmsKeyId for them."
            )
            Validations.of(self.endpoint.endpoint_config).acknowledge(
                Acknowledgment(id="AwsSolutions-SM2", reason=reason),
                Acknowledgment(id="NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured", reason=reason),
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
            alarm_topic=alarm_topic,
        )

        thresholds = settings.alarms
        for alarm in (
            cloudwatch.Alarm(
                self,
                "ModelLatency",
                alarm_description="p90 model latency of the streaming endpoint is above the configured threshold",
                # SageMaker reports ModelLatency in microseconds.
                metric=self.endpoint.metric_model_latency(),
                threshold=thresholds.model_latency_p90_ms * 1000,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=thresholds.evaluation_periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "Invocation5XXErrors",
                alarm_description="The streaming model container answers with 5xx errors",
                metric=self.endpoint.metric_invocation_5xx_errors(),
                threshold=thresholds.invocation_5xx_errors,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ):
            alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))

        CfnOutput(self, "StreamingEndpointName", value=self.endpoint.endpoint_name)
        CfnOutput(self, "InferenceComponentName", value=self.endpoint.inference_component_name)
