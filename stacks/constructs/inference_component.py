"""One streaming model: its SageMaker model and its inference component on the shared endpoint."""

from __future__ import annotations

from aws_cdk import Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import ModelConfig
from stacks.constructs.async_endpoint import VARIANT_NAME
from stacks.constructs.model_container import execution_role, runtime_statements, serving_container
from stacks.constructs.sagemaker_metrics import (
    INFERENCE_COMPONENT_COPY_METRICS,
    INFERENCE_COMPONENT_COPY_NAMESPACE,
    INFERENCE_COMPONENT_METRICS,
    sagemaker_metric,
)
from stacks.constructs.streaming_endpoint import StreamingEndpoint
from stacks.stack_names import instance_type_digest


def inference_component_name_for(endpoint_name: str, model_name: str) -> str:
    """The endpoint's name is in it: a new endpoint (instance type change) gets new components
    before the old ones, with their names, are deleted."""
    return f"{endpoint_name}-{model_name}"


class InferenceComponentModel(Construct):
    """The model's container with its own least-privilege role, as an inference component.

    The component reserves `resources.gpus` accelerators and `resources.memory_mb` of host memory
    per copy; SageMaker places copies on the endpoint's instances and starts instances for them.
    The model's own role pulls its image and reads its files: CreateModel's ExecutionRoleArn is
    "the role SageMaker can assume to access model artifacts and docker image for deployment"
    (SageMaker API reference, CreateModel), so no other model's role can read them. SageMaker
    writes the component's container logs to /aws/sagemaker/InferenceComponents/<name>.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: StreamingEndpoint,
        model_name: str,
        model: ModelConfig,
        initial_copies: int,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.model_name = model_name
        self.endpoint_name = endpoint.endpoint_name
        self.inference_component_name = inference_component_name_for(endpoint.endpoint_name, model_name)
        self.inference_component_arn = stack.format_arn(
            service="sagemaker", resource="inference-component", resource_name=self.inference_component_name
        )
        self.endpoint_arn = endpoint.endpoint_arn

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/sagemaker/InferenceComponents/{self.inference_component_name}",
            retention=endpoint.log_retention,
            encryption_key=endpoint.key,
            removal_policy=endpoint.removal_policy,
        )
        endpoint.policy.add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.log_group.log_group_arn],
            )
        )
        container = serving_container(self, model)
        self.role, self.policy = execution_role(
            self,
            endpoint_name=self.inference_component_name,
            kind="inference component",
            statements=[
                *container.pull_statements,
                *runtime_statements(self.log_group),
                iam.PolicyStatement(
                    sid="UseLogKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[endpoint.key.key_arn]
                ),
            ],
        )
        if container.acknowledgements:
            Validations.of(self.policy.node.default_child).acknowledge(*container.acknowledgements)

        cfn_model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=container.definition,
            enable_network_isolation=container.network_isolation,
        )
        cfn_model.node.add_dependency(self.policy)

        startup = model.container.startup_health_check_timeout_seconds
        # The component's logical id follows its endpoint, like its name. AWS::SageMaker::
        # InferenceComponent declares no property that forces replacement, not even EndpointName
        # (its CloudFormation schema), and UpdateInferenceComponent cannot move a component to
        # another endpoint: so a new endpoint (an instance-type change) must come with a new
        # component resource, created beside the new endpoint, the old one deleted in clean-up.
        self.inference_component = sagemaker.CfnInferenceComponent(
            self,
            f"InferenceComponent{instance_type_digest(endpoint.instance_type)}",
            inference_component_name=self.inference_component_name,
            endpoint_name=endpoint.endpoint.attr_endpoint_name,
            variant_name=VARIANT_NAME,
            specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
                model_name=cfn_model.attr_model_name,
                compute_resource_requirements=sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
                    number_of_accelerator_devices_required=model.resources.gpus,
                    min_memory_required_in_mb=model.resources.memory_mb,
                ),
                startup_parameters=sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty(
                    container_startup_health_check_timeout_in_seconds=startup,
                    model_data_download_timeout_in_seconds=startup,
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
        self.inference_component.node.add_dependency(self.log_group)

    def grant_invoke_with_response_stream(self, grantee: iam.IGrantable) -> iam.Grant:
        """Permit InvokeEndpointWithResponseStream on this model's component (and its endpoint) only.

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

    def metric_invocations(self) -> cloudwatch.Metric:
        return self.metric("Invocations", statistic="Sum")

    def metric_concurrent_requests_per_copy(self) -> cloudwatch.Metric:
        """Requests in progress per copy, open streams included (high resolution; Maximum over a minute)."""
        return self.metric("ConcurrentRequestsPerCopy", statistic="Maximum")

    def metric_running_copies(self) -> cloudwatch.Metric:
        """Copies in service: each reports CPUUtilizationNormalized, so its SampleCount is non-zero while any runs."""
        return sagemaker_metric(
            INFERENCE_COMPONENT_COPY_METRICS,
            "CPUUtilizationNormalized",
            identity={"InferenceComponentName": self.inference_component_name},
            statistic="SampleCount",
            period=Duration.minutes(1),
            namespace=INFERENCE_COMPONENT_COPY_NAMESPACE,
        )
