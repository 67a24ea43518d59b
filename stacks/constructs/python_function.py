"""A Python Lambda function bundled without Docker, with its own log group, role and tracing."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import Acknowledgment, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

LAMBDA_ROOT = Path(__file__).resolve().parents[2] / "lambda"
SHARED = LAMBDA_ROOT / "shared"
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Wheels are chosen for the Lambda platform, not for the machine that synthesizes.
_PIP_PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.14"]


def _tree_digest(*roots: Path) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _PipBundler:
    """Copies the function folder and the shared package, then pip-installs requirements.txt."""

    def __init__(self, function_dir: Path) -> None:
        self._function_dir = function_dir

    def try_bundle(self, output_dir: str, _options: object) -> bool:
        out = Path(output_dir)
        ignore = shutil.ignore_patterns("__pycache__", "requirements.txt")
        for source in (SHARED, self._function_dir):
            shutil.copytree(source, out, dirs_exist_ok=True, ignore=ignore)
        requirements = self._function_dir / "requirements.txt"
        if requirements.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "--no-compile",
                 "--only-binary=:all:", *_PIP_PLATFORM, "--target", str(out), "-r", str(requirements)],
                check=True,
            )
        return True


class PythonFunction(Construct):
    """`lambda/<name>/` plus `lambda/shared/` plus its pinned requirements, as one function.

    The asset hash covers all three inputs, so a change to the shared package redeploys every
    function that bundles it. Tests skip bundling (`aws:cdk:bundling-stacks`); synth bundles with
    the virtualenv's pip, never Docker.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        description: str,
        environment: dict[str, str],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        reserved_concurrency: int,
        failure_handling: str,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 512,
        handler: str = "app.handler",
        layers: list[lambda_.ILayerVersion] | None = None,
    ) -> None:
        super().__init__(scope, id)
        function_dir = LAMBDA_ROOT / name
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=key, removal_policy=removal_policy
        )
        # An explicit role instead of the default one, which would carry the AWS managed
        # AWSLambdaBasicExecutionRole policy (logs on every group in the account).
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=lambda_.Code.from_asset(
                str(function_dir),
                asset_hash=_tree_digest(function_dir, SHARED),
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("unused-local-bundling-only"),
                    local=_PipBundler(function_dir),
                ),
            ),
            role=self.role,
            environment={"POWERTOOLS_SERVICE_NAME": name, **environment},
            environment_encryption=key,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrency,
            layers=layers,
        )
        Validations.of(self.function.node.default_child).acknowledge(
            Acknowledgment(id="NIST.800.53.R5-LambdaDLQ", reason=failure_handling),
            Acknowledgment(
                id="NIST.800.53.R5-LambdaInsideVPC",
                reason="It calls only AWS APIs over TLS with IAM auth and reaches no private network; a VPC adds NAT cost and cold-start time.",
            ),
        )
        Validations.of(self.role.node.find_child("DefaultPolicy").node.default_child).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.",
            ),
            Acknowledgment(
                id="NIST.800.53.R5-IAMNoInlinePolicy",
                reason="The role's one policy belongs to this function alone and is created and deleted with it; statements name their resources.",
            ),
        )
