"""The serving container and model source, resolved for the stack's region at deploy time."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Aws, CfnMapping, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import ModelConfig
from stacks.nag import wildcard_resource
from stacks.serving_images import ServingImage, serving_image

# Where SageMaker mounts uncompressed artifacts from ModelDataSource.
_MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class ModelContainer:
    """The container definition and the IAM statements its execution role needs to start it."""

    definition: sagemaker.CfnModel.ContainerDefinitionProperty
    pull_statements: list[iam.PolicyStatement]
    network_isolation: bool
    # IAM5 acknowledgements for the model's S3 prefix, to attach to the policy that holds them.
    acknowledgements: list[Acknowledgment]


def _registry_account(scope: Construct, image: ServingImage) -> str:
    """The account that publishes `image` in the stack's region.

    An environment-agnostic stack (Dev) gets a CloudFormation mapping of AWS's table, keyed on
    AWS::Region; deploying it to a region the table lacks fails at the template's validation,
    before any resource is created. Config validation refuses such a region for concrete stacks.
    """
    stack = Stack.of(scope)
    if not Token.is_unresolved(stack.region):
        return image.registries[stack.region]
    mapping_id = f"ImageRegistry{image.framework.capitalize()}{image.version.replace('.', '')}"
    mapping = stack.node.try_find_child(mapping_id)
    if mapping is None:
        mapping = CfnMapping(
            stack, mapping_id, mapping={region: {"account": account} for region, account in image.registries.items()}
        )
    return mapping.find_in_map(Aws.REGION, "account")


def _image(scope: Construct, model: ModelConfig) -> tuple[str, str]:
    """(image URI, ECR repository ARN) for the model's container."""
    stack = Stack.of(scope)
    parts = model.container.image_parts
    if parts is not None:
        account, region, repository = parts
        return model.container.image_uri, f"arn:{stack.partition}:ecr:{region}:{account}:repository/{repository}"
    image = serving_image(model.container.framework, model.container.version)
    account = _registry_account(scope, image)
    uri = f"{account}.dkr.ecr.{stack.region}.{stack.url_suffix}/{image.repository}:{image.tag}"
    return uri, f"arn:{stack.partition}:ecr:{stack.region}:{account}:repository/{image.repository}"


def container_environment(model: ModelConfig) -> dict[str, str]:
    """The container's variables, in each framework's own names.

    LMI: HF_MODEL_ID, HF_REVISION, TENSOR_PARALLEL_DEGREE, MAX_BATCH_SIZE, and any
    `option.<name>` as OPTION_<NAME> (djl-serving, LMI deployment guide, "Container and Model
    Configurations"). AWS's vLLM image turns every SM_VLLM_<NAME> into `--<name>` of `vllm serve`
    (deep-learning-containers, vllm/build_artifacts/sagemaker_entrypoint.sh). TGI's SageMaker
    entrypoint maps HF_MODEL_ID, HF_MODEL_REVISION and SM_NUM_GPUS onto its launcher.
    """
    container = model.container
    hub = model.source.hub
    model_id = hub.id if hub else _MODEL_DIR
    revision = hub.revision if hub else None
    degree = str(model.tensor_parallel_degree)
    dtype = None if container.dtype == "auto" else container.dtype
    if container.framework == "lmi":
        environment = {
            "HF_MODEL_ID": model_id,
            "HF_REVISION": revision,
            "OPTION_ROLLING_BATCH": "vllm",
            "TENSOR_PARALLEL_DEGREE": degree,
            "OPTION_MAX_MODEL_LEN": str(container.max_model_len),
            "OPTION_DTYPE": dtype,
            "MAX_BATCH_SIZE": str(container.max_batch_size) if container.max_batch_size else None,
        }
    elif container.framework == "vllm":
        environment = {
            "SM_VLLM_MODEL": model_id,
            "SM_VLLM_REVISION": revision,
            "SM_VLLM_TENSOR_PARALLEL_SIZE": degree,
            "SM_VLLM_MAX_MODEL_LEN": str(container.max_model_len),
            "SM_VLLM_DTYPE": dtype,
            "SM_VLLM_MAX_NUM_SEQS": str(container.max_batch_size) if container.max_batch_size else None,
        }
    else:
        environment = {
            "HF_MODEL_ID": model_id,
            "HF_MODEL_REVISION": revision,
            "SM_NUM_GPUS": degree,
            "MAX_TOTAL_TOKENS": str(container.max_model_len),
            "MAX_INPUT_TOKENS": str(container.max_model_len - 1),
            "DTYPE": dtype,
            "MAX_BATCH_SIZE": str(container.max_batch_size) if container.max_batch_size else None,
        }
    return {**{k: v for k, v in environment.items() if v is not None}, **container.environment}


def serving_container(scope: Construct, model: ModelConfig) -> ModelContainer:
    stack = Stack.of(scope)
    image, repository_arn = _image(scope, model)
    statements = [
        iam.PolicyStatement(
            sid="PullImage",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[repository_arn],
        ),
        # GetAuthorizationToken has no resource-level permissions: its resource must be "*".
        iam.PolicyStatement(sid="AuthenticateToEcr", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
    ]
    acknowledgements: list[Acknowledgment] = []
    model_data_source = None
    s3 = model.source.s3
    if s3 is not None:
        model_data_source = sagemaker.CfnModel.ModelDataSourceProperty(
            s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                s3_uri=s3.uri, s3_data_type="S3Prefix", compression_type="None"
            )
        )
        objects = f"arn:{stack.partition}:s3:::{s3.bucket}/{s3.prefix}*"
        statements += [
            iam.PolicyStatement(sid="ReadModelFiles", actions=["s3:GetObject"], resources=[objects]),
            iam.PolicyStatement(
                sid="ListModelFiles",
                actions=["s3:ListBucket"],
                resources=[f"arn:{stack.partition}:s3:::{s3.bucket}"],
                conditions={"StringLike": {"s3:prefix": [f"{s3.prefix}*"]}},
            ),
        ]
        acknowledgements.append(
            wildcard_resource(
                scope, objects, f"SageMaker copies every file under the model's prefix {s3.prefix} and nothing else."
            )
        )
        if s3.kms_key_arn:
            # Only through S3 in this region, that is, only to read those objects.
            statements.append(
                iam.PolicyStatement(
                    sid="DecryptModelFiles",
                    actions=["kms:Decrypt"],
                    resources=[s3.kms_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"}},
                )
            )

    definition = sagemaker.CfnModel.ContainerDefinitionProperty(
        image=image, environment=container_environment(model), model_data_source=model_data_source
    )
    return ModelContainer(
        definition=definition,
        pull_statements=statements,
        network_isolation=model.isolated,
        acknowledgements=acknowledgements,
    )


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
    unscoped = sorted({action for s in statements if s.resources == ["*"] for action in s.actions})
    Validations.of(policy.node.default_child).acknowledge(
        Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason=(
                f"IAM has no resource-level permissions for {' or '.join(unscoped)}; PutMetricData is "
                "limited to the /aws/sagemaker/Endpoints namespace."
            ),
        )
    )
    return role, policy
