"""A Python Lambda function bundled without Docker, with its own log group, role and tracing."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from importlib.metadata import distributions
from packaging.requirements import Requirement
from aws_cdk import Acknowledgment, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import botocore_data

LAMBDA_ROOT = Path(__file__).resolve().parents[2] / "lambda"
SHARED = LAMBDA_ROOT / "shared"
RUNTIME = lambda_.Runtime.PYTHON_3_14
# The bytecode the runtime's Python loads: its cache tag (sys.implementation.cache_tag) and magic
# number (importlib.util.MAGIC_NUMBER; 3627 for every CPython 3.14 release, CPython's
# Include/internal/pycore_magic_number.h), made at synth by Pyodide's CPython 3.14
# (compile_bytecode.mjs; the release is pinned in package.json).
RUNTIME_CACHE_TAG = "cpython-314"
RUNTIME_MAGIC_NUMBER = (3627).to_bytes(2, "little") + b"\r\n"
COMPILE_BYTECODE = Path(__file__).with_name("compile_bytecode.mjs")
# Wheels are chosen for the Lambda platform, not for the machine that synthesizes.
_PIP_PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.14"]
# The environment markers of a dependency are evaluated for that platform too.
_LAMBDA_MARKERS = {
    "python_version": "3.14", "python_full_version": "3.14.0", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
    "platform_machine": "x86_64", "os_name": "posix", "extra": "",
}
# What every Python runtime provides besides the standard library: the SDK for Python and its
# dependencies ("Runtime-included SDK versions",
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html; Powertools relies on the runtime's
# jmespath the same way, aws-powertools/powertools-lambda-python#1376). A bundled copy would shadow
# the runtime's, and the runtime's versions are the ones AWS updates.
RUNTIME_PACKAGES = frozenset({"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six"})


def _tree_digest(*roots: Path) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _asset_digest(function_dir: Path, botocore_services: tuple[str, ...]) -> str:
    """What the bundle is made of: the function's folder, the shared package, the services whose
    botocore data it keeps with the code that trims it, and the bytecode compiler with its Pyodide
    release, so that a new compiler ships new bytecode."""
    digest = hashlib.sha256(_tree_digest(function_dir, SHARED).encode())
    if botocore_services:
        digest.update(json.dumps(sorted(botocore_services)).encode() + Path(botocore_data.__file__).read_bytes())
    digest.update(_compiler_digest())
    return digest.hexdigest()


@functools.cache
def _compiler_digest() -> bytes:
    package = json.loads((LAMBDA_ROOT.parent / "package.json").read_text())
    return hashlib.sha256(COMPILE_BYTECODE.read_bytes() + package["devDependencies"]["pyodide"].encode()).digest()


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def unmet_dependencies(bundle: Path) -> list[str]:
    """Each dependency of a package in ``bundle`` that neither ``bundle`` nor the runtime provides."""
    bundled = {_canonical(d.metadata["Name"]): d.version for d in distributions(path=[str(bundle)])}
    unmet = []
    for dist in sorted(distributions(path=[str(bundle)]), key=lambda d: _canonical(d.metadata["Name"])):
        for requirement in map(Requirement, dist.requires or []):
            name = _canonical(requirement.name)
            if requirement.marker is not None and not requirement.marker.evaluate(_LAMBDA_MARKERS):
                continue
            if name in bundled:
                if not requirement.specifier.contains(bundled[name], prereleases=True):
                    unmet.append(f"{dist.metadata['Name']} needs {requirement}, the pin is {bundled[name]}")
            elif name not in RUNTIME_PACKAGES:
                unmet.append(f"{dist.metadata['Name']} needs {requirement}, which is not pinned")
    return unmet


@jsii.implements(ILocalBundling)
class _PipBundler:
    """Copies the function folder and the shared package, pip-installs requirements.txt, trims a
    bundled botocore's data to ``botocore_services`` (stacks/botocore_data.py), then compiles the
    runtime's bytecode for all of it (``compile_bytecode``).

    requirements.txt pins every package the function bundles, dependencies included, and pip
    installs exactly those (``--no-deps``): a dependency the runtime provides (``RUNTIME_PACKAGES``)
    is left to the runtime unless the file pins it. Synth fails if a pin is missing.
    """

    def __init__(self, function_dir: Path, botocore_services: tuple[str, ...]) -> None:
        self._function_dir = function_dir
        self._botocore_services = botocore_services

    def try_bundle(self, output_dir: str, _options: object) -> bool:
        out = Path(output_dir)
        ignore = shutil.ignore_patterns("__pycache__", "requirements.txt")
        for source in (SHARED, self._function_dir):
            shutil.copytree(source, out, dirs_exist_ok=True, ignore=ignore)
        requirements = self._function_dir / "requirements.txt"
        if requirements.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "--no-compile",
                 "--no-deps", "--only-binary=:all:", *_PIP_PLATFORM, "--target", str(out), "-r", str(requirements)],
                check=True,
            )
            unmet = unmet_dependencies(out)
            if unmet:
                raise ValueError(
                    f"{requirements.relative_to(LAMBDA_ROOT.parent)} must pin every dependency the Lambda runtime "
                    f"does not provide ({', '.join(sorted(RUNTIME_PACKAGES))}): " + "; ".join(unmet)
                )
        if self._botocore_services:
            data = out / "botocore" / "data"
            if not data.is_dir():
                raise ValueError(
                    f"{self._function_dir.name} names botocore services to keep, but does not bundle botocore "
                    "(the runtime's copy is not trimmed): pin botocore in its requirements.txt or name none"
                )
            botocore_data.keep_only(data, self._botocore_services)
        own = {str(path.relative_to(source)) for source in (SHARED, self._function_dir) for path in source.rglob("*.py")}
        # A module of ours that does not compile is an error; one in a dependency (an example, a
        # template) is left without bytecode, as pip leaves it.
        broken = sorted(own & set(compile_bytecode(out)))
        if broken:
            raise ValueError(f"these modules of {self._function_dir.name} do not compile for {RUNTIME.name}: {', '.join(broken)}")
        return True


@functools.cache
def _bytecode_compiler() -> subprocess.Popen:
    """compile_bytecode.mjs, started once per synth: loading Pyodide takes about 2 s, compiling a
    function's folder much less. It ends when this process closes its input, at exit."""
    node = os.environ.get("JSII_NODE") or shutil.which("node")
    if node is None:
        raise RuntimeError("Node.js is needed to compile the functions' bytecode: run `make synth`, which provides it")
    return subprocess.Popen(
        [node, str(COMPILE_BYTECODE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def compile_bytecode(folder: Path) -> list[str]:
    """Writes the runtime's bytecode beside every module in ``folder`` (compile_bytecode.mjs), so
    that no cold start compiles a bundled module: Lambda's /var/task is read-only, and a module
    without valid bytecode is compiled from source at every import. Returns the modules (paths
    relative to ``folder``) that did not compile."""
    compiler = _bytecode_compiler()
    compiler.stdin.write(f"{folder}\n")
    compiler.stdin.flush()
    compiled = json.loads(compiler.stdout.readline() or '{"error": "Pyodide stopped without an answer"}')
    if "error" in compiled:
        raise RuntimeError(
            f"compiling the bytecode of {folder} with Pyodide failed ({compiled['error']}); "
            "`make synth` installs Pyodide (npm ci) and Node.js first"
        )
    if (compiled["cache_tag"], bytes.fromhex(compiled["magic"])) != (RUNTIME_CACHE_TAG, RUNTIME_MAGIC_NUMBER):
        raise RuntimeError(
            f"Pyodide compiles for {compiled['cache_tag']} (magic number {compiled['magic']}), the functions run "
            f"{RUNTIME.name} ({RUNTIME_CACHE_TAG}, {RUNTIME_MAGIC_NUMBER.hex()}): pin a Pyodide release of the "
            "runtime's Python in package.json"
        )
    return compiled["failed"]


class PythonFunction(Construct):
    """`lambda/<name>/` plus `lambda/shared/` plus its pinned requirements, as one function.

    The asset hash covers all three inputs, so a change to the shared package redeploys every
    function that bundles it. Tests skip bundling (`aws:cdk:bundling-stacks`); synth bundles with
    the virtualenv's pip and Pyodide, never Docker.
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
        botocore_services: tuple[str, ...] = (),
    ) -> None:
        """``botocore_services``: for a function that bundles botocore, the services its session
        creates clients for; the bundle keeps the data of these alone (stacks/botocore_data.py)."""
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
                asset_hash=_asset_digest(function_dir, botocore_services),
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("unused-local-bundling-only"),
                    local=_PipBundler(function_dir, botocore_services),
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
