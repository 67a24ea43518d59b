"""The async inference stack: storage and notifications, and per async model its own GPU endpoint,
scaling and alarms."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig, ModelConfig
from stacks.constructs.async_endpoint import AsyncInferenceEndpoint
from stacks.constructs.backlog_scaling import BacklogScaling
from stacks.constructs.sagemaker_scaling import wake_cooldown
from stacks.constructs.alarms import AlarmRecipients, notify_when
from stacks.constructs.secure_topic import SecureTopic, TopicPublisher
from stacks.constructs.secure_storage import (
    access_log_bucket,
    data_bucket,
    encryption_key,
    log_retention,
    model_bucket,
    payload_bucket_name,
    removal_policy_of,
)


class AsyncModel(Construct):
    """One async model: its own endpoint (async endpoints cannot host inference components), the
    scaling that takes it to zero and back, and its alarms."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name_prefix: str,
        model_name: str,
        model: ModelConfig,
        input_bucket: s3.IBucket,
        output_bucket: s3.IBucket,
        key: kms.IKey,
        success_topic: sns.ITopic,
        error_topic: sns.ITopic,
        alarm_recipients: AlarmRecipients,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.endpoint = AsyncInferenceEndpoint(
            self,
            "Endpoint",
            name_prefix=name_prefix,
            model_name=model_name,
            model=model,
            input_bucket=input_bucket,
            output_bucket=output_bucket,
            key=key,
            success_topic=success_topic,
            error_topic=error_topic,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        CfnOutput(self, "EndpointName", value=self.endpoint.endpoint_name, description=f"{model_name}: async endpoint")
        scaling = model.async_.scaling
        self.scaling = BacklogScaling(
            self,
            "Scaling",
            endpoint=self.endpoint,
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
            target_backlog_per_instance=scaling.target_backlog_per_instance,
            scale_in_cooldown=Duration.seconds(scaling.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(scaling.scale_out_cooldown_seconds),
            wake_cooldown=wake_cooldown(model.container.startup_health_check_timeout_seconds),
            idle_minutes=scaling.idle_minutes,
        )
        thresholds = model.async_.alarms
        notify_when(
            self,
            "InvocationFailures",
            description=f"Async invocations of {model_name} are failing inside the model container",
            metric=self.endpoint.metric_invocation_failures(),
            threshold=thresholds.invocation_failures,
            recipients=alarm_recipients,
        )
        notify_when(
            self,
            "NotificationFailures",
            description=f"SageMaker could not publish a result notification for {model_name}: callers will not hear of it",
            metric=self.endpoint.metric_notification_failures(),
            threshold=thresholds.notification_failures,
            recipients=alarm_recipients,
        )
        notify_when(
            self,
            "OldestRequestAge",
            description=f"Requests to {model_name} wait in the async queue longer than the configured threshold",
            metric=self.endpoint.metric_age_of_oldest_request(),
            threshold=thresholds.oldest_request_age_seconds,
            recipients=alarm_recipients,
            evaluation_periods=thresholds.evaluation_periods,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )


class AsyncInferenceStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        storage = config.storage
        removal = removal_policy_of(storage)

        self.key = encryption_key(
            self,
            "Key",
            description=f"{config.resource_prefix}: async inference payloads, results and notifications",
            removal_policy=removal,
        )

        logs_bucket = access_log_bucket(
            self, "AccessLogs", expiry_days=storage.access_log_expiry_days, removal_policy=removal
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
        self.model_bucket = model_bucket(
            self,
            "Models",
            bucket_name=payload_bucket_name(self, config.resource_prefix, "models"),
            key=self.key,
            access_logs=logs_bucket,
            removal_policy=removal,
        )
        # SageMaker publishes results with the endpoint's execution role, whose policy names the topics.
        sagemaker = TopicPublisher.iam_principals_of_this_account()
        self.success_topic = SecureTopic(
            self, "SuccessTopic", key=self.key, display_name="Inference succeeded", publishers=[sagemaker]
        )
        self.error_topic = SecureTopic(
            self, "ErrorTopic", key=self.key, display_name="Inference failed", publishers=[sagemaker]
        )
        self.alarm_topic = SecureTopic(
            self,
            "AlarmTopic",
            key=self.key,
            display_name="Inference alarms",
            publishers=[TopicPublisher.cloudwatch_alarms(self)],
        )
        for address in config.alarms.email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(address))
        self.alarm_recipients = AlarmRecipients(
            self, "AlarmRecipients", alarm_topic=self.alarm_topic, topic_arns=config.alarms.topic_arns
        )

        # One construct per model, with the model's name as its id: a model's logical ids depend on
        # its name only, so adding or removing another model leaves them as they are.
        self.models = {
            name: AsyncModel(
                self,
                name,
                name_prefix=config.resource_prefix,
                model_name=name,
                model=model,
                input_bucket=self.input_bucket,
                output_bucket=self.output_bucket,
                key=self.key,
                success_topic=self.success_topic,
                error_topic=self.error_topic,
                alarm_recipients=self.alarm_recipients,
                log_retention=log_retention(storage.log_retention_days),
                removal_policy=removal,
            )
            for name, model in config.async_models.items()
        }

        CfnOutput(self, "InputBucketName", value=self.input_bucket.bucket_name)
        CfnOutput(self, "OutputBucketName", value=self.output_bucket.bucket_name)
        CfnOutput(self, "ModelBucketName", value=self.model_bucket.bucket_name)
        CfnOutput(self, "ModelKeyArn", value=self.key.key_arn)
        CfnOutput(self, "SuccessTopicArn", value=self.success_topic.topic_arn)
        CfnOutput(self, "ErrorTopicArn", value=self.error_topic.topic_arn)
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
