"""The promotion pipeline: synth and test, then the waves of config/pipeline.yaml, in order."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aws_cdk import Acknowledgment, DefaultStackSynthesizer, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.constructs.rest_api import API_STAGE
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


# CodeBuild installs the client and its dependencies before the smoke test's own budget starts.
SMOKE_TEST_SETUP_MINUTES = 15


def _generated_permission_reason(finding: str, smoke_test_api_arns: set[str]) -> str | None:
    if finding.removeprefix("AwsSolutions-IAM5[Resource::").removesuffix("]") in smoke_test_api_arns:
        return (
            "The smoke test calls an API whose id exists only in its own account: "
            "the statement names that account, region and API stage."
        )
    inner = finding.removeprefix("AwsSolutions-IAM5[").removesuffix("]")
    return next((reason for pattern, reason in _GENERATED_PERMISSIONS if pattern.fullmatch(inner)), None)


def pinned_cli_version() -> str:
    """The CDK CLI version that package.json pins, so the pipeline runs the CLI we test with."""
    return json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]


class PipelineStack(Stack):
    """Deploys the app's own Stages, wave by wave: the pipeline and `make deploy` share one definition.

    The Stages are the top-level ones `make deploy STAGE=...` deploys, not copies under this stack,
    so both paths deploy the same template files (the same logical ids) and either can update
    what the other created.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        pipeline_config: PipelineConfig,
        stages: dict[str, InferenceStage],
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        source = pipelines.CodePipelineSource.connection(
            pipeline_config.repository, pipeline_config.branch, connection_arn=pipeline_config.connection_arn
        )
        build_environment = codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0)
        # Tests first: nothing is synthesized, let alone deployed, from a red build.
        synth = pipelines.CodeBuildStep(
            "SynthAndTest",
            input=source,
            commands=["make test", "make synth"],
            primary_output_directory="cdk.out",
            build_environment=build_environment,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name="llm-hosting",
            synth=synth,
            cross_account_keys=True,
            enable_key_rotation=True,
            self_mutation=True,
            cli_version=pinned_cli_version(),
            docker_enabled_for_synth=False,
            code_build_defaults=pipelines.CodeBuildOptions(build_environment=build_environment),
        )

        self.smoke_test_api_arns: set[str] = set()
        for wave_config in pipeline_config.waves:
            pre = (
                [pipelines.ManualApprovalStep(f"PromoteTo{wave_config.name}", comment=f"Promote to {wave_config.name}?")]
                if wave_config.approval
                else []
            )
            wave = self.pipeline.add_wave(wave_config.name, pre=pre)
            for name in wave_config.environments:
                post = (
                    [self._smoke_test(stages[name], source, pipeline_config.smoke_test_timeout_minutes)]
                    if wave_config.smoke_test
                    else []
                )
                wave.add_stage(stages[name], pre=[self._preflight(stages[name], source, synth)], post=post)
        # Build now, so that the generated resources exist to be hardened and reviewed below.
        self.pipeline.build_pipeline()
        self._grant_use_connection(pipeline_config)
        self._harden_artifact_bucket()
        self._acknowledge_generated_permissions()

    def _grant_use_connection(self, pipeline_config: PipelineConfig) -> None:
        """The source action may use the connection under the IAM prefix its ARN carries.

        CDK grants `codestar-connections:UseConnection` whatever the ARN. Connections created since
        July 2024 have `codeconnections` ARNs, and "when specifying a resource in the IAM policy, the
        service prefix needs to match that of the resource" (Developer Tools console user guide,
        "Connections rename - Summary of changes", https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html).
        """
        prefix = pipeline_config.connection_service_prefix
        if prefix == "codestar-connections":
            return
        source_stage = self.pipeline.pipeline.node.find_child("Source")
        (role,) = [c for c in source_stage.node.find_all() if isinstance(c, iam.Role)]
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=[f"{prefix}:UseConnection"], resources=[pipeline_config.connection_arn])
        )

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
                # S3 user guide, "Enabling Amazon S3 server access logging": scope the logging
                # service to the source bucket and account, as the environments' buckets do.
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                },
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
                if (reason := _generated_permission_reason(finding, self.smoke_test_api_arns)) is not None
            ]
            acknowledgements.append(
                Acknowledgment(
                    id="NIST.800.53.R5-IAMNoInlinePolicy",
                    reason="CDK Pipelines attaches one policy per generated role, created and deleted with it.",
                )
            )
            Validations.of(policy).acknowledge(*acknowledgements)

    def _preflight(
        self, stage: InferenceStage, source: pipelines.CodePipelineSource, synth: pipelines.CodeBuildStep
    ) -> pipelines.CodeBuildStep:
        """The checks `make deploy` runs, before the deployment: a part the config turned off whose
        stack is still deployed stops the wave with the command that removes it (the deploy would
        leave it billing, out of the pipeline's reach); a short GPU quota stops it with the exact
        increase request, instead of CloudFormation failing 15-30 minutes into the endpoint.

        Both read the environment's account through the CDK bootstrap's lookup role, which has
        ReadOnlyAccess (CloudFormation, Service Quotas and SageMaker reads included) and trusts the
        accounts given to `cdk bootstrap --trust` (the CDK CLI's bootstrap-template.yaml, LookupRole).
        """
        config = stage.config
        lookup_role = (
            f"arn:{self.partition}:iam::{config.account}:role/"
            f"cdk-{DefaultStackSynthesizer.DEFAULT_QUALIFIER}-lookup-role-{config.account}-{config.region}"
        )
        return pipelines.CodeBuildStep(
            f"Preflight{config.stage_name}",
            input=source,
            # The synthesized stage says which stacks the environment has now.
            additional_inputs={"cdk.out": synth.primary_output},
            commands=[
                "make cli",
                f".venv/bin/python -m ops orphans --stage {config.stage_name} --role-arn {lookup_role} --assembly cdk.out",
                f".venv/bin/python -m ops preflight --stage {config.stage_name} --role-arn {lookup_role}",
            ],
            timeout=Duration.minutes(SMOKE_TEST_SETUP_MINUTES),
            role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[lookup_role])],
        )

    def _smoke_test(
        self, stage: InferenceStage, source: pipelines.CodePipelineSource, budget_minutes: int
    ) -> pipelines.CodeBuildStep:
        config = stage.config
        # The API's id exists only in the environment's account, and CDK cannot reference it across
        # accounts: the permission names the account, region and API stage instead.
        api_arn = f"arn:{self.partition}:execute-api:{config.region}:{config.account}:*/{API_STAGE}/*"
        self.smoke_test_api_arns.add(api_arn)
        return pipelines.CodeBuildStep(
            f"SmokeTest{config.stage_name}",
            input=source,
            env_from_cfn_outputs={"API_URL": stage.api.api_url_output},
            env={"SMOKE_TEST_BUDGET_SECONDS": str(budget_minutes * 60)},
            commands=["make cli", '.venv/bin/python scripts/smoke_test.py "$API_URL"'],
            # The script stops itself when its budget is spent; this limit only covers the set-up.
            timeout=Duration.minutes(budget_minutes + SMOKE_TEST_SETUP_MINUTES),
            role_policy_statements=[iam.PolicyStatement(actions=["execute-api:Invoke"], resources=[api_arn])],
        )
