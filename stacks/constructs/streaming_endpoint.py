"""A real-time SageMaker endpoint that streams tokens, hosted as an inference component."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import ModelConfig
from stacks.constructs.async_endpoint import VARIANT_NAME, endpoint_name_for, instance_type_digest, volume_key_arn
from stacks.constructs.sagemaker_metrics import INFERENCE_COMPONENT_METRICS, sagemaker_metric
from stacks.constructs.model_container import endpoint_log_group, execution_role, runtime_statements, tgi_container


def inference_component_name_for(endpoint_name: str) -> str:
    return f"{endpoint_name}-ic"


class StreamingEndpoint(Construct):
    """Endpoint with managed instance scaling and one inference component serving the model.

    Inference components are what let a real-time endpoint reach zero: the endpoint's instances
    follow the copies (managed instance scaling down to `min_instances`), and the copies are
    scaled by `CopyScaling`. Names are derived from config, so other stacks and the streaming
    function refer to them without CloudFormation exports.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name_prefix: str,
        model: ModelConfig,
        instance_type: str,
        min_instances: int,
        max_instances: int,
        initial_copies: int,
        memory_per_copy_mb: int,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.endpoint_name = endpoint_name_for(name_prefix, "stream", instance_type)
        self.inference_component_name = inference_component_name_for(self.endpoint_name)
        self.instance_type = instance_type
        self.endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=self.endpoint_name)
        self.inference_component_arn = stack.format_arn(
            service="sagemaker", resource="inference-component", resource_name=self.inference_component_name
        )

        self.log_group = endpoint_log_group(
            self, self.endpoint_name, key=key, retention=log_retention, removal_policy=removal_policy
        )
        container = tgi_container(self, model)
        self.role, self.policy = execution_role(
            self,
            endpoint_name=self.endpoint_name,
            kind="streaming",
            statements=[
                *container.pull_statements,
                *runtime_statements(self.log_group),
                iam.PolicyStatement(sid="UseLogKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]),
            ],
        )

        cfn_model = sagemaker.CfnModel(
            self, "Model", execution_role_arn=self.role.role_arn, primary_container=container.definition
        )
        cfn_model.node.add_dependency(self.policy)

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # With inference components the endpoint config names the role, not the model.
            execution_role_arn=self.role.role_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    instance_type=instance_type,
                    initial_instance_count=max(min_instances, 1),
                    managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                        status="ENABLED", min_instance_count=min_instances, max_instance_count=max_instances
                    ),
                    routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                        routing_strategy="LEAST_OUTSTANDING_REQUESTS"
                    ),
                    container_startup_health_check_timeout_in_seconds=model.startup_health_check_timeout_seconds,
                    model_data_download_timeout_in_seconds=model.startup_health_check_timeout_seconds,
                )
            ],
        )
        self.endpoint_config.kms_key_id = volume_key_arn(self.endpoint_config, instance_type, key)
        self.endpoint_config.node.add_dependency(self.policy)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        self.endpoint.node.add_dependency(self.log_group)

        # The component's logical id follows its endpoint, like its name. AWS::SageMaker::
        # InferenceComponent declares no property that forces replacement, not even EndpointName
        # (its CloudFormation schema), and UpdateInferenceComponent cannot move a component to
        # another endpoint: so a new endpoint (an instance-type change) must come with a new
        # component resource, created beside the new endpoint, the old one deleted in clean-up.
        self.inference_component = sagemaker.CfnInferenceComponent(
            self,
            f"InferenceComponent{instance_type_digest(instance_type)}",
            inference_component_name=self.inference_component_name,
            endpoint_name=self.endpoint.attr_endpoint_name,
            variant_name=VARIANT_NAME,
            specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
                model_name=cfn_model.attr_model_name,
                compute_resource_requirements=sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
                    number_of_accelerator_devices_required=model.num_gpus,
                    min_memory_required_in_mb=memory_per_copy_mb,
                ),
                startup_parameters=sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty(
                    container_startup_health_check_timeout_in_seconds=model.startup_health_check_timeout_seconds,
                    model_data_download_timeout_in_seconds=model.startup_health_check_timeout_seconds,
                ),
            ),
            # Only the count to create with. It derives from the scaling floor alone, so it renders
            # the same on every deploy, and a deploy that leaves the model alone leaves this
            # resource (and the copies scaling chose) untouched: CloudFormation updates only
            # resources whose template changed. No DeploymentConfig: a rolling batch must be 5-50%
            # of the copy count, which one or two copies cannot meet, so a model update runs
            # blue/green (README, "Model updates on the streaming endpoint").
            runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(
                copy_count=initial_copies
            ),
        )

    def grant_invoke_with_response_stream(self, grantee: iam.IGrantable) -> iam.Grant:
        """Permit InvokeEndpointWithResponseStream on this endpoint (and its inference component) only.

        The operation is authorized as the `sagemaker:InvokeEndpoint` action (API reference,
        InvokeEndpointWithResponseStream): there is no separate IAM action for streaming.
        """
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:InvokeEndpoint"],
            resource_arns=[self.endpoint_arn, self.inference_component_arn],
        )

    def metric(self, metric_name: str, *, statistic: str, period: Duration = Duration.minutes(1)) -> cloudwatch.Metric:
        """A metric SageMaker publishes for the inference component, with its published dimensions."""
        return sagemaker_metric(
            INFERENCE_COMPONENT_METRICS,
            metric_name,
            identity={"InferenceComponentName": self.inference_component_name},
            statistic=statistic,
            period=period,
        )

    def metric_no_capacity_invocation_failures(self) -> cloudwatch.Metric:
        return self.metric("NoCapacityInvocationFailures", statistic="Sum")

    def metric_model_latency(self) -> cloudwatch.Metric:
        return self.metric("ModelLatency", statistic="p90", period=Duration.minutes(5))

    def metric_invocation_5xx_errors(self) -> cloudwatch.Metric:
        return self.metric("Invocation5XXErrors", statistic="Sum", period=Duration.minutes(5))
