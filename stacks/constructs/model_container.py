"""The serving container and model source, resolved for the stack's region at deploy time."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.region_info import FactName
from constructs import Construct

from stacks.config import ModelConfig

# Where SageMaker mounts uncompressed artifacts from ModelDataSource.
_MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class ModelContainer:
    """The container definition and the IAM statements its execution role needs to start it."""

    definition: sagemaker.CfnModel.ContainerDefinitionProperty
    pull_statements: list[iam.PolicyStatement]


def tgi_container(scope: Construct, model: ModelConfig) -> ModelContainer:
    stack = Stack.of(scope)
    # The Deep Learning Containers account differs by region; for an environment-agnostic stack
    # regional_fact emits a CloudFormation mapping keyed on AWS::Region instead of a literal.
    dlc_account = stack.regional_fact(FactName.DLC_REPOSITORY_ACCOUNT)
    repository = model.container.repository
    image = f"{dlc_account}.dkr.ecr.{stack.region}.{stack.url_suffix}/{repository}:{model.container.tag}"

    environment = {
        "SM_NUM_GPUS": str(model.num_gpus),
        "MAX_INPUT_TOKENS": str(model.max_input_tokens),
        "MAX_TOTAL_TOKENS": str(model.max_total_tokens),
        "HF_MODEL_ID": model.hub_id or _MODEL_DIR,
    }
    statements = [
        iam.PolicyStatement(
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[f"arn:{stack.partition}:ecr:{stack.region}:{dlc_account}:repository/{repository}"],
        ),
        # GetAuthorizationToken has no resource-level permissions: its resource must be "*".
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
    ]

    model_data_source = None
    located = model.s3_bucket_and_prefix
    if located is not None:
        bucket, prefix = located
        model_data_source = sagemaker.CfnModel.ModelDataSourceProperty(
            s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                s3_uri=model.s3_uri, s3_data_type="S3Prefix", compression_type="None"
            )
        )
        statements += [
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[f"arn:{stack.partition}:s3:::{bucket}/{prefix}*"]
            ),
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[f"arn:{stack.partition}:s3:::{bucket}"],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            ),
        ]

    definition = sagemaker.CfnModel.ContainerDefinitionProperty(
        image=image, environment=environment, model_data_source=model_data_source
    )
    return ModelContainer(definition=definition, pull_statements=statements)


def endpoint_log_group(
    scope: Construct, endpoint_name: str, *, key: kms.IKey, retention: logs.RetentionDays, removal_policy: RemovalPolicy
) -> logs.LogGroup:
    """SageMaker writes an endpoint's container logs here; creating it ourselves sets retention and
    key, and lets the execution role write to this one group only."""
    return logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"/aws/sagemaker/Endpoints/{endpoint_name}",
        retention=retention,
        encryption_key=key,
        removal_policy=removal_policy,
    )


def runtime_statements(log_group: logs.ILogGroup) -> list[iam.PolicyStatement]:
    """What a running endpoint needs besides its image and data: its own logs and metrics."""
    return [
        iam.PolicyStatement(
            sid="WriteLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[log_group.log_group_arn],
        ),
        # PutMetricData has no resource-level permissions; the condition pins the namespace.
        iam.PolicyStatement(
            sid="PublishMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
        ),
    ]


def execution_role(
    scope: Construct, *, endpoint_name: str, kind: str, statements: list[iam.PolicyStatement]
) -> tuple[iam.Role, iam.ManagedPolicy]:
    """The role SageMaker runs an endpoint's container with, and its one customer-managed policy.

    Explicit statements rather than the broad grant_* helpers: every action and resource is one
    the container or SageMaker needs. `statements` come on top of the endpoint's logs and metrics.
    """
    role = iam.Role(
        scope,
        "ExecutionRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"Runs the {endpoint_name} {kind} endpoint's model container",
    )
    policy = iam.ManagedPolicy(
        scope,
        "ExecutionPolicy",
        description=f"Least privilege for the {endpoint_name} {kind} endpoint",
        roles=[role],
        statements=statements,
    )
    Validations.of(policy.node.default_child).acknowledge(
        Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason=(
                "ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level "
                "permissions; PutMetricData is limited to the /aws/sagemaker/Endpoints namespace."
            ),
        )
    )
    return role, policy
