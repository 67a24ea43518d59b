"""The promotion pipeline: synth and test, Dev, PreProd with a smoke test, approval, Prod."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct

from stacks.constructs.rest_api import API_STAGE
from stacks.config import EnvironmentConfig, PipelineConfig
from stacks.constructs.secure_storage import access_log_bucket, acknowledge_no_replica
from stacks.nag import wildcard_findings
from stacks.stage import InferenceStage

ROOT = Path(__file__).resolve().parent.parent


_GENERATED_PERMISSIONS = [
    (re.compile(r"Action::(s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*)"),
     "CDK Pipelines' own grant on its artifact bucket (object keys differ per execution)."),
    (re.compile(r"Resource::<PipelineArtifactsBucket[0-9A-F]+\.Arn>/\*"),
     "Objects of the pipeline's own artifact bucket, keyed per execution."),
    (re.compile(r"Action::kms:(GenerateDataKey|ReEncrypt)\*"),
     "CDK Pipelines' grant on the artifact bucket's own KMS key, which encrypts every artifact."),
    (re.compile(r"Resource::arn:[^:]+:logs:[^:]+:\d{12}:log-group:/aws/codebuild/.*\*"),
     "CodeBuild writes one log stream per build into its project's log group."),
    (re.compile(r"Resource::arn:[^:]+:codebuild:[^:]+:\d{12}:report-group/.*\*"),
     "CodeBuild test report groups, named after the project, created per build."),
    (re.compile(r"Resource::arn:\*:iam::\d{12}:role/\*"),
     "Self-mutation assumes only the CDK bootstrap roles (condition on the aws-cdk:bootstrap-role tag)."),
    (re.compile(r"Resource::\*"),
     "CloudFormation DescribeStacks, S3 ListBucket and CodeBuild build actions of CDK Pipelines' own steps; "
     "the asset and self-mutation steps find their targets at run time."),
]


def _generated_permission_reason(finding: str, smoke_test_api_arn: str) -> str | None:
    if finding == f"AwsSolutions-IAM5[Resource::{smoke_test_api_arn}]":
        return "The smoke test calls the PreProd API, whose id exists only in that account: the statement names its account, region and stage."
    inner = finding.removeprefix("AwsSolutions-IAM5[").removesuffix("]")
    return next((reason for pattern, reason in _GENERATED_PERMISSIONS if pattern.fullmatch(inner)), None)


def pinned_cli_version() -> str:
    """The CDK CLI version that package.json pins, so the pipeline runs the CLI we test with."""
    return json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]


class PipelineStack(Stack):
    """Deploys the same Stage class the laptop deploys, one Stage per environment config.

    Dev's config is environment-agnostic (for laptop deploys); here it gets the pipeline's Dev
    target from config/pipeline.yaml. PreProd and Prod deploy to the accounts in their configs.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        pipeline_config: PipelineConfig,
        environments: list[EnvironmentConfig],
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        dev, preprod, prod = environments
        dev = dev.model_copy(update={"account": pipeline_config.dev.account, "region": pipeline_config.dev.region})

        source = pipelines.CodePipelineSource.connection(
            pipeline_config.repository, pipeline_config.branch, connection_arn=pipeline_config.connection_arn
        )
        build_environment = codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0)
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name="llm-hosting",
            # Tests first: nothing is synthesized, let alone deployed, from a red build.
            synth=pipelines.CodeBuildStep(
                "SynthAndTest",
                input=source,
                commands=["make test", "make synth"],
                primary_output_directory="cdk.out",
                build_environment=build_environment,
            ),
            cross_account_keys=True,
            enable_key_rotation=True,
            self_mutation=True,
            cli_version=pinned_cli_version(),
            docker_enabled_for_synth=False,
            code_build_defaults=pipelines.CodeBuildOptions(build_environment=build_environment),
        )

        # The API's id exists only in the PreProd account, and CDK cannot reference it across
        # accounts: the smoke test's permission names the account, region and API stage instead.
        self.smoke_test_api_arn = f"arn:{self.partition}:execute-api:{preprod.region}:{preprod.account}:*/{API_STAGE}/*"
        self.stages = [InferenceStage(self, config=config) for config in (dev, preprod, prod)]
        dev_stage, preprod_stage, prod_stage = self.stages
        self.pipeline.add_stage(dev_stage)
        self.pipeline.add_stage(
            preprod_stage,
            post=[self._smoke_test(preprod_stage, source, pipeline_config.smoke_test_timeout_minutes)],
        )
        self.pipeline.add_stage(
            prod_stage,
            pre=[pipelines.ManualApprovalStep("PromoteToProd", comment="PreProd passed its smoke test. Promote to Prod?")],
        )
        # Build now, so that the generated resources exist to be hardened and reviewed below.
        self.pipeline.build_pipeline()
        self._harden_artifact_bucket()
        self._acknowledge_generated_permissions()

    def _harden_artifact_bucket(self) -> None:
        """Versioning and access logs on the bucket CDK Pipelines creates (set on its L1, where nag looks)."""
        bucket = self.pipeline.pipeline.artifact_bucket
        cfn_bucket = bucket.node.default_child
        logs_bucket = access_log_bucket(self, "ArtifactAccessLogs", expiry_days=90, removal_policy=RemovalPolicy.RETAIN)
        logs_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[logs_bucket.arn_for_objects("artifacts/*")],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=logs_bucket.bucket_name, log_file_prefix="artifacts/"
        )
        cfn_bucket.versioning_configuration = s3.CfnBucket.VersioningConfigurationProperty(status="Enabled")
        acknowledge_no_replica(bucket)

    def _acknowledge_generated_permissions(self) -> None:
        """Acknowledge the wildcards in the policies CDK Pipelines generates, one category at a time.

        Each finding must match a known category; an unknown one is left for nag to fail synth on.
        """
        for policy in self.node.find_all():
            # Only this stack's own resources: the Stages below it are reviewed on their own.
            if not isinstance(policy, iam.CfnPolicy) or Stack.of(policy) is not self:
                continue
            acknowledgements = [
                Acknowledgment(id=finding, reason=reason)
                for finding in wildcard_findings(policy)
                if (reason := _generated_permission_reason(finding, self.smoke_test_api_arn)) is not None
            ]
            acknowledgements.append(
                Acknowledgment(
                    id="NIST.800.53.R5-IAMNoInlinePolicy",
                    reason="CDK Pipelines attaches one policy per generated role, created and deleted with it.",
                )
            )
            Validations.of(policy).acknowledge(*acknowledgements)

    def _smoke_test(
        self, stage: InferenceStage, source: pipelines.CodePipelineSource, timeout_minutes: int
    ) -> pipelines.CodeBuildStep:
        api = stage.api
        return pipelines.CodeBuildStep(
            "SmokeTest",
            input=source,
            env_from_cfn_outputs={"API_URL": api.api_url_output},
            env={"SMOKE_TEST_TIMEOUT_SECONDS": str(timeout_minutes * 60)},
            commands=["make cli", 'scripts/smoke-test.sh "$API_URL"'],
            timeout=Duration.minutes(timeout_minutes + 15),
            role_policy_statements=[
                iam.PolicyStatement(actions=["execute-api:Invoke"], resources=[self.smoke_test_api_arn])
            ],
        )
