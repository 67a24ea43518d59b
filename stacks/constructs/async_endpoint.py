"""An asynchronous SageMaker endpoint on GPU instances, as an L2-style construct."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import ModelConfig
from stacks.nag import wildcard_resource
from stacks.constructs.sagemaker_metrics import (
    ASYNC_ENDPOINT_METRICS,
    ENDPOINT_INSTANCE_METRICS,
    ENDPOINT_INSTANCE_NAMESPACE,
    sagemaker_metric,
)
from stacks.constructs.model_container import endpoint_log_group, execution_role, runtime_statements, serving_container
from stacks.stack_names import async_endpoint_name

# Inline payloads are written under requests/, large ones are uploaded under uploads/.
INPUT_PREFIXES = ("requests/", "uploads/")
OUTPUT_PREFIX = "outputs/"
FAILURE_PREFIX = "failures/"
VARIANT_NAME = "AllTraffic"


# Families whose instance storage is local NVMe: SageMaker rejects a volume KmsKeyId for them, and
# the storage is encrypted in hardware.
NVME_INSTANCE_FAMILIES = frozenset({"g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en"})


def instance_family(instance_type: str) -> str:
    return instance_type.split(".")[1]


def has_nvme_storage(instance_type: str) -> bool:
    return instance_family(instance_type) in NVME_INSTANCE_FAMILIES


def volume_key_arn(endpoint_config: sagemaker.CfnEndpointConfig, instance_type: str, key: kms.IKey) -> str | None:
    """The key for the instances' storage volume, or None (acknowledged) for local NVMe storage."""
    if not has_nvme_storage(instance_type):
        return key.key_arn
    reason = (
        f"ml.{instance_family(instance_type)} instances have local NVMe storage, which is encrypted in "
        "hardware; SageMaker rejects a volume KmsKeyId for them."
    )
    Validations.of(endpoint_config).acknowledge(
        Acknowledgment(id="AwsSolutions-SM2", reason=reason),
        Acknowledgment(id="NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured", reason=reason),
    )
    return None


class AsyncInferenceEndpoint(Construct):
    """Model, EndpointConfig with AsyncInferenceConfig, Endpoint, and its least-privilege role.

    Results go to `output_bucket` under `outputs/` and failures under `failures/`, encrypted with
    `key`; SageMaker publishes to `success_topic` and `error_topic` with the execution role.
    """

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
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        settings = model.async_
        instance_type = settings.instance_type
        self.model_name = model_name
        self.endpoint_name = async_endpoint_name(name_prefix, model_name, instance_type)
        self.variant_name = VARIANT_NAME
        self.instance_type = instance_type
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name
        )

        self.log_group = endpoint_log_group(
            self, self.endpoint_name, key=key, retention=log_retention, removal_policy=removal_policy
        )

        container = serving_container(self, model)
        self.role, self.policy = execution_role(
            self,
            endpoint_name=self.endpoint_name,
            kind="async",
            statements=[
                *container.pull_statements,
                *runtime_statements(self.log_group),
                iam.PolicyStatement(
                    sid="ReadInputs",
                    actions=["s3:GetObject"],
                    resources=[input_bucket.arn_for_objects(f"{prefix}*") for prefix in INPUT_PREFIXES],
                ),
                iam.PolicyStatement(
                    sid="WriteResults",
                    actions=["s3:PutObject"],
                    resources=[
                        output_bucket.arn_for_objects(f"{OUTPUT_PREFIX}*"),
                        output_bucket.arn_for_objects(f"{FAILURE_PREFIX}*"),
                    ],
                ),
                iam.PolicyStatement(
                    sid="Notify",
                    actions=["sns:Publish"],
                    resources=[success_topic.topic_arn, error_topic.topic_arn],
                ),
                iam.PolicyStatement(
                    sid="UseDataKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                ),
            ],
        )
        Validations.of(self.policy.node.default_child).acknowledge(
            *(
                wildcard_resource(
                    self, input_bucket.arn_for_objects(f"{prefix}*"),
                    f"SageMaker reads the object each request names under {prefix}; keys are per request.",
                )
                for prefix in INPUT_PREFIXES
            ),
            wildcard_resource(
                self, output_bucket.arn_for_objects(f"{OUTPUT_PREFIX}*"),
                "SageMaker names each result object after its inference id.",
            ),
            wildcard_resource(
                self, output_bucket.arn_for_objects(f"{FAILURE_PREFIX}*"),
                "SageMaker names each failure object after its inference id.",
            ),
            *container.acknowledgements,
        )

        cfn_model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=container.definition,
            enable_network_isolation=container.network_isolation,
        )
        # The model must not start before its role can pull the image and read the artifacts.
        cfn_model.node.add_dependency(self.policy)

        endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    model_name=cfn_model.attr_model_name,
                    instance_type=instance_type,
                    # Async endpoints are created with at least one instance; scaling takes the
                    # variant down to the configured minimum once the scale-in cooldown passes.
                    initial_instance_count=1,
                    container_startup_health_check_timeout_in_seconds=model.container.startup_health_check_timeout_seconds,
                    model_data_download_timeout_in_seconds=model.container.startup_health_check_timeout_seconds,
                )
            ],
            async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=settings.max_concurrent_invocations_per_instance
                ),
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=output_bucket.s3_url_for_object(OUTPUT_PREFIX.rstrip("/")),
                    s3_failure_path=output_bucket.s3_url_for_object(FAILURE_PREFIX.rstrip("/")),
                    kms_key_id=key.key_arn,
                    notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                        success_topic=success_topic.topic_arn,
                        error_topic=error_topic.topic_arn,
                    ),
                ),
            ),
        )
        endpoint_config.kms_key_id = volume_key_arn(endpoint_config, instance_type, key)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=endpoint_config.attr_endpoint_config_name,
            # A model change updates the endpoint in place; keep the instance count that scaling
            # chose instead of resetting it to the config's initial count.
            retain_all_variant_properties=True,
        )
        self.endpoint.node.add_dependency(self.log_group)

    def grant_invoke_async(self, grantee: iam.IGrantable) -> iam.Grant:
        """Permit InvokeEndpointAsync on this endpoint only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpointAsync"], resource_arns=[self.endpoint_arn]
        )

    def metric(self, metric_name: str, *, statistic: str, period: Duration = Duration.minutes(1)) -> cloudwatch.Metric:
        """A metric SageMaker publishes for async endpoints, with the dimensions it publishes it with."""
        return sagemaker_metric(
            ASYNC_ENDPOINT_METRICS,
            metric_name,
            identity={"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            statistic=statistic,
            period=period,
        )

    def metric_backlog_size(self) -> cloudwatch.Metric:
        return self.metric("ApproximateBacklogSize", statistic="Average")

    def metric_backlog_size_per_instance(self) -> cloudwatch.Metric:
        return self.metric("ApproximateBacklogSizePerInstance", statistic="Average")

    def metric_has_backlog_without_capacity(self) -> cloudwatch.Metric:
        return self.metric("HasBacklogWithoutCapacity", statistic="Average")

    def metric_age_of_oldest_request(self) -> cloudwatch.Metric:
        return self.metric("ApproximateAgeOfOldestRequest", statistic="Maximum", period=Duration.minutes(5))

    def metric_invocation_failures(self) -> cloudwatch.Metric:
        return self.metric("InvocationFailures", statistic="Sum", period=Duration.minutes(5))

    def metric_notification_failures(self) -> cloudwatch.Metric:
        return self.metric("NotificationFailures", statistic="Sum", period=Duration.minutes(5))

    def metric_instances(self) -> cloudwatch.Metric:
        """Instances in service: each reports CPUUtilization once a minute, so its SampleCount counts them.

        The way AWS documents to count an async endpoint's instances from metrics (async inference
        troubleshooting); absent while the endpoint has none.
        """
        return sagemaker_metric(
            ENDPOINT_INSTANCE_METRICS,
            "CPUUtilization",
            identity={"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            statistic="SampleCount",
            period=Duration.minutes(1),
            namespace=ENDPOINT_INSTANCE_NAMESPACE,
        )
