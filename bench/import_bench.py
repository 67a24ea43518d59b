"""Cold import of each deployed Python handler, as a ratio to a bare `import boto3` in the same run.

What is timed is what Lambda loads: each function's bundled asset in cdk.out (written by
`make synth`, which `make bench` runs first), found through the Dev stage's templates (the
function's `aws:asset:path` metadata), with the environment variables its template sets
(a value CloudFormation resolves at deploy time, such as a table name, becomes a placeholder
of the same kind). Each start runs in a fresh interpreter, so nothing is cached in sys.modules,
and the figure includes what the module does at import (its botocore clients). For a handler
module that is its import; for `run.sh` (the Lambda Web Adapter's entry point, `python -m uvicorn
app:app --http httptools`) it is uvicorn's import and its config's load: the app and uvicorn's
protocol classes. What uvicorn does after that is not timed: parsing its command line, building
the event loop, the app's lifespan startup and binding the port.

The interpreter sees what Lambda's does, and nothing more (`python -S`, no `site` hooks): the
asset, then a folder with the runtime's own packages (RUNTIME_PACKAGES: boto3 and its
dependencies, the virtualenv's copies), then the standard library. A package the asset does not
bundle is as absent as in Lambda. (Before, the virtualenv's site-packages were visible, and
uvicorn, which loads `websockets` when it can, loaded the virtualenv's.)

RUNS samples each, alternated between the handlers and the baseline so that drift on a shared
machine hits all alike; the fastest sample of each is kept, since load from other processes only
ever adds time (on the 2-core development machines medians moved by 2x between runs). The
interpreter is the virtualenv's, not Lambda's 3.14: the ratio, not the milliseconds, is what
carries over.

Bytecode and compiled extensions: each asset ships checked-hash bytecode for Lambda's Python 3.14
(compiled at synth, stacks/constructs/compile_bytecode.mjs) and the front ships httptools built for
it, neither of which this interpreter can load. So each handler is timed on a copy of its asset
with the same kind of bytecode compiled by this interpreter and the virtualenv's build of the same
httptools release, which is what Lambda's interpreter finds for itself. One more row times the
streaming front's asset without any bytecode it can load, as every cold start paid before the
assets shipped bytecode (the asset is otherwise today's: trimmed botocore data, httptools).
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from importlib.metadata import Distribution, PackageNotFoundError, distribution, distributions
from pathlib import Path

from stacks.constructs.python_function import RUNTIME_PACKAGES

ROOT = Path(__file__).resolve().parents[1]
ASSEMBLY = ROOT / "cdk.out" / "assembly-Dev"
RUNS = 15
TARGET_RATIO = 1.5
# What `run.sh` runs before the Lambda Web Adapter's readiness check can pass.
_ENTRY_STATEMENTS = {"run.sh": "import uvicorn; uvicorn.Config('app:app', http='httptools', access_log=False).load()"}

_TIMED_START = (
    "import sys, time; sys.path[:0] = {paths!r}; t = time.perf_counter(); {start}; "
    "print(time.perf_counter() - t)"
)
# The environment Lambda itself gives every function; credentials only need to be well-formed.
_LAMBDA_ENVIRONMENT = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    # /var/task is read-only: Lambda compiles a bundled module without valid bytecode at every cold
    # start and writes nothing, and so does this bench, which also leaves cdk.out as synth wrote it.
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class DeployedHandler:
    name: str
    asset: Path
    start: str
    environment: dict[str, str]


def deployed_handlers(assembly: Path = ASSEMBLY) -> list[DeployedHandler]:
    """Every Python Lambda function in the assembly's templates, with its bundled asset."""
    handlers = []
    for template_path in sorted(assembly.glob("*.template.json")):
        resources = json.loads(template_path.read_text())["Resources"]
        for logical_id, resource in resources.items():
            properties = resource.get("Properties", {})
            if resource["Type"] != "AWS::Lambda::Function" or not str(properties.get("Runtime", "")).startswith(
                "python"
            ):
                continue
            handler = properties["Handler"]
            variables = (properties.get("Environment") or {}).get("Variables", {})
            handlers.append(
                DeployedHandler(
                    name=variables.get("POWERTOOLS_SERVICE_NAME", logical_id),
                    asset=(assembly / resource["Metadata"]["aws:asset:path"]).resolve(),
                    start=_ENTRY_STATEMENTS.get(handler, f"import {handler.rpartition('.')[0]}"),
                    environment={name: _resolved(name, value) for name, value in variables.items()},
                )
            )
    return handlers


def _resolved(name: str, value: object) -> str:
    # Only well-formedness matters at import: table and bucket names, an ARN, a number.
    return value if isinstance(value, str) else f"bench-{name.lower().replace('_', '-')}"


def _top_level_names(dist: Distribution) -> set[str]:
    """The names a distribution installs at the top of its folder: packages, modules, its metadata."""
    return {f.parts[0] for f in dist.files or [] if f.parts[0] != ".." and not f.parts[0].endswith(".pth")}


def runtime_folder(workdir: Path) -> Path:
    """A folder holding the packages Lambda's Python runtime provides, as ``/var/runtime`` does."""
    folder = workdir / "runtime"
    folder.mkdir()
    for package in sorted(RUNTIME_PACKAGES):
        dist = distribution(package)
        for top in _top_level_names(dist):
            if not (folder / top).exists():
                (folder / top).symlink_to(Path(dist.locate_file(top)))
    return folder


def _start_seconds(start: str, paths: list[str], environment: dict[str, str]) -> float:
    # -S: no site-packages and no site hooks; the paths are all the interpreter finds besides the stdlib.
    result = subprocess.run(
        [sys.executable, "-S", "-c", _TIMED_START.format(paths=paths, start=start)],
        env={"PATH": os.environ.get("PATH", ""), **_LAMBDA_ENVIRONMENT, **environment},
        capture_output=True,
        text=True,
        check=True,
        cwd=paths[0] if paths else ROOT,
    )
    return float(result.stdout.strip().splitlines()[-1])


def measure(handlers: list[DeployedHandler], runtime: Path, runs: int = RUNS) -> tuple[float, dict[str, float]]:
    """Fastest seconds of `import boto3`, and of each handler's start."""
    baseline: list[float] = []
    samples: dict[str, list[float]] = {h.name: [] for h in handlers}
    for _ in range(runs):
        baseline.append(_start_seconds("import boto3", [str(runtime)], {}))
        for handler in handlers:
            samples[handler.name].append(
                _start_seconds(handler.start, [str(handler.asset), str(runtime)], handler.environment)
            )
    return min(baseline), {name: min(values) for name, values in samples.items()}


def local_copy(handler: DeployedHandler, workdir: Path, *, bytecode: bool = True) -> DeployedHandler:
    """A copy of the handler's asset that this interpreter loads as Lambda's loads the asset: each
    package with compiled extensions (built for the runtime's Python) replaced by the virtualenv's
    build of the same release, and, with ``bytecode``, checked-hash bytecode compiled by this
    interpreter (without it, this interpreter finds no bytecode it can load)."""
    copy = workdir / f"{handler.asset.name}{'' if bytecode else '-source'}"
    shutil.copytree(handler.asset, copy)
    for bundled in distributions(path=[str(copy)]):
        if any(f.suffix == ".so" for f in bundled.files or []):
            _replace_with_local_build(bundled, copy)
    if bytecode:
        compileall.compile_dir(copy, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    return replace(handler, asset=copy)


def _replace_with_local_build(bundled: Distribution, folder: Path) -> None:
    name, version = bundled.metadata["Name"], bundled.version
    try:
        local = distribution(name)
    except PackageNotFoundError:
        local = None
    if local is None or local.version != version:
        raise RuntimeError(
            f"the bench needs {name} {version}, as the asset bundles it, in the virtualenv "
            f"({'absent' if local is None else f'it has {local.version}'}): pin the same release in requirements-dev.txt"
        )
    for top in _top_level_names(bundled):
        if (folder / top).is_dir():
            shutil.rmtree(folder / top)
        else:
            (folder / top).unlink(missing_ok=True)
    # The virtualenv's names, which for a compiled module carry its own interpreter's tag.
    for top in _top_level_names(local):
        source = Path(local.locate_file(top))
        if source.is_dir():
            shutil.copytree(source, folder / top)
        else:
            shutil.copy(source, folder / top)


def _ratio_line(handler: DeployedHandler, seconds: float, baseline: float, *, target: bool) -> tuple[str, str]:
    verdict = ""
    if target:
        verdict = ", ok" if seconds / baseline <= TARGET_RATIO else f", over the {TARGET_RATIO}x target"
    return (
        f"import: {handler.name} (`{handler.start}`) / import boto3",
        f"{seconds / baseline:.2f}x ({seconds * 1000:.0f} ms{verdict})",
    )


def run() -> list[tuple[str, str]]:
    deployed = deployed_handlers()
    if not deployed:
        raise RuntimeError(f"no Python functions in {ASSEMBLY}: run `make synth` first")
    streaming = [h for h in deployed if h.start == _ENTRY_STATEMENTS["run.sh"]]
    with tempfile.TemporaryDirectory() as workdir:
        handlers = [local_copy(h, Path(workdir)) for h in deployed]
        without_bytecode = [
            replace(local_copy(h, Path(workdir), bytecode=False), name=f"{h.name}, without bytecode") for h in streaming
        ]
        baseline, fastest = measure(handlers + without_bytecode, runtime_folder(Path(workdir)))
    lines = [(f"import: bare `import boto3`, fastest of {RUNS}", f"{baseline * 1000:.0f} ms")]
    lines += [_ratio_line(h, fastest[h.name], baseline, target=True) for h in handlers]
    lines += [_ratio_line(h, fastest[h.name], baseline, target=False) for h in without_bytecode]
    return lines
