"""The async inference stack: storage, notifications, the GPU endpoint, its scaling and alarms."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.async_endpoint import AsyncInferenceEndpoint, has_nvme_storage, instance_family
from stacks.constructs.backlog_scaling import BacklogScaling
from stacks.constructs.secure_storage import access_log_bucket, data_bucket, encrypted_topic, payload_bucket_name


class AsyncInferenceStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        storage = config.storage
        removal = RemovalPolicy.DESTROY if storage.removal_policy == "destroy" else RemovalPolicy.RETAIN

        self.key = kms.Key(
            self,
            "Key",
            description=f"{config.resource_prefix}: async inference payloads, results and notifications",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # CloudWatch alarms publish to the encrypted alarm topic, and CloudWatch Logs encrypts the
        # endpoint's log group: both services act as themselves, not as a role.
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com"))

        logs_bucket = access_log_bucket(
            self, "AccessLogs", expiry_days=storage.access_log_expiry_days, removal_policy=removal
        )
        Validations.of(logs_bucket.node.default_child).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This is the server access log target; logging it to itself would loop.",
            ),
            Acknowledgment(
                id="NIST.800.53.R5-S3BucketLoggingEnabled",
                reason="This is the server access log target; logging it to itself would loop.",
            ),
            Acknowledgment(
                id="NIST.800.53.R5-S3DefaultEncryptionKMS",
                reason="S3 server access logging cannot deliver to buckets encrypted with a customer-managed key.",
            ),
        )
        self.input_bucket = data_bucket(
            self,
            "Input",
            bucket_name=payload_bucket_name(self, config.resource_prefix, "input"),
            key=self.key,
            access_logs=logs_bucket,
            expiry_days=storage.input_expiry_days,
            removal_policy=removal,
        )
        self.output_bucket = data_bucket(
            self,
            "Output",
            bucket_name=payload_bucket_name(self, config.resource_prefix, "output"),
            key=self.key,
            access_logs=logs_bucket,
            expiry_days=storage.output_expiry_days,
            removal_policy=removal,
        )
        for bucket in (logs_bucket, self.input_bucket, self.output_bucket):
            Validations.of(bucket.node.default_child).acknowledge(
                Acknowledgment(
                    id="NIST.800.53.R5-S3BucketReplicationEnabled",
                    reason=(
                        "Objects are transient (they expire within days) and can be recreated by resubmitting; "
                        "a replica would double the places that hold prompts and outputs."
                    ),
                )
            )
        self.success_topic = encrypted_topic(self, "SuccessTopic", key=self.key, display_name="Inference succeeded")
        self.error_topic = encrypted_topic(self, "ErrorTopic", key=self.key, display_name="Inference failed")
        self.alarm_topic = encrypted_topic(self, "AlarmTopic", key=self.key, display_name="Inference alarms")

        settings = config.async_endpoint
        self.endpoint = AsyncInferenceEndpoint(
            self,
            "AsyncEndpoint",
            name_prefix=config.resource_prefix,
            model=config.model,
            instance_type=settings.instance_type,
            max_concurrent_invocations_per_instance=settings.max_concurrent_invocations_per_instance,
            input_bucket=self.input_bucket,
            output_bucket=self.output_bucket,
            key=self.key,
            success_topic=self.success_topic,
            error_topic=self.error_topic,
            log_retention=log_retention(storage.log_retention_days),
            removal_policy=removal,
        )
        self._acknowledge_endpoint_findings()

        scaling = settings.scaling
        self.scaling = BacklogScaling(
            self,
            "Scaling",
            endpoint=self.endpoint,
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
            target_backlog_per_instance=scaling.target_backlog_per_instance,
            scale_in_cooldown=Duration.seconds(scaling.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(scaling.scale_out_cooldown_seconds),
        )
        self._add_alarms(config)

        CfnOutput(self, "EndpointName", value=self.endpoint.endpoint_name)
        CfnOutput(self, "InputBucketName", value=self.input_bucket.bucket_name)
        CfnOutput(self, "OutputBucketName", value=self.output_bucket.bucket_name)
        CfnOutput(self, "SuccessTopicArn", value=self.success_topic.topic_arn)
        CfnOutput(self, "ErrorTopicArn", value=self.error_topic.topic_arn)
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)

    def _add_alarms(self, config: EnvironmentConfig) -> None:
        thresholds = config.async_endpoint.alarms
        action = cw_actions.SnsAction(self.alarm_topic)
        alarms = [
            cloudwatch.Alarm(
                self,
                "InvocationFailures",
                alarm_description="Async invocations are failing inside the model container",
                metric=self.endpoint.metric_invocation_failures(),
                threshold=thresholds.invocation_failures,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "NotificationFailures",
                alarm_description="SageMaker could not publish a result notification: callers will not hear of it",
                metric=self.endpoint.metric_notification_failures(),
                threshold=thresholds.notification_failures,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "OldestRequestAge",
                alarm_description="Requests wait in the async queue longer than the configured threshold",
                metric=self.endpoint.metric_age_of_oldest_request(),
                threshold=thresholds.oldest_request_age_seconds,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=thresholds.evaluation_periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for alarm in alarms:
            alarm.add_alarm_action(action)
        if thresholds.email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(thresholds.email))

    def _acknowledge_endpoint_findings(self) -> None:
        endpoint = self.endpoint
        if has_nvme_storage(endpoint.instance_type):
            reason = (
                f"ml.{instance_family(endpoint.instance_type)} instances have local NVMe storage, which is "
                "encrypted in hardware; SageMaker rejects a volume KmsKeyId for them."
            )
            Validations.of(endpoint.node.find_child("Config")).acknowledge(
                Acknowledgment(id="AwsSolutions-SM2", reason=reason),
                Acknowledgment(id="NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured", reason=reason),
            )


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs accepts only these retention periods; config validates against the same list."""
    return _RETENTION[days]
