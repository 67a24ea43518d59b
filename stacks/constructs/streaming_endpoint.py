"""The environment's real-time SageMaker endpoint, whose instances the streaming models share."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.constructs.async_endpoint import VARIANT_NAME, volume_key_arn
from stacks.constructs.model_container import endpoint_log_group, execution_role, runtime_statements
from stacks.stack_names import streaming_endpoint_name


class StreamingEndpoint(Construct):
    """Endpoint with managed instance scaling, hosting one inference component per streaming model.

    Inference components are what let a real-time endpoint reach zero: the endpoint's instances
    follow the components' copies (managed instance scaling down to `min_instances`). The endpoint
    config names no model, only the instance pool; each model arrives as an `InferenceComponent`
    (stacks/constructs/inference_component.py), so adding or changing one model never touches
    the endpoint or another model's component. Names are derived from config, so other stacks
    and the streaming function refer to them without CloudFormation exports.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name_prefix: str,
        instance_type: str,
        min_instances: int,
        max_instances: int,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.endpoint_name = streaming_endpoint_name(name_prefix, instance_type)
        self.instance_type = instance_type
        self.endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=self.endpoint_name)
        self.key = key
        self.log_retention = log_retention
        self.removal_policy = removal_policy

        self.log_group = endpoint_log_group(
            self, self.endpoint_name, key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.role, self.policy = execution_role(
            self,
            endpoint_name=self.endpoint_name,
            kind="streaming",
            statements=[
                *runtime_statements(self.log_group),
                iam.PolicyStatement(sid="UseLogKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]),
            ],
        )

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # With inference components the endpoint config names the role, not a model.
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
