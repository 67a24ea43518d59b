"""Cold-start import time of each handler module, as a ratio to a bare `import boto3`.

Each sample is a fresh interpreter, so nothing is cached in sys.modules; the module import
includes what the handler does at import (its boto3 clients, Powertools resolver). Medians of
RUNS alternated samples, all in the same run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDA = ROOT / "lambda"
RUNS = 7
HANDLERS = ("async_api", "notifications")

_TIMED_IMPORT = (
    "import sys, time; sys.path[:0] = {paths!r}; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t)"
)
# What the stack sets; the values only need to be well-formed for the import to succeed.
_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "MODEL_CATALOG": '{"default": "chat", "models": {"chat": {"container_format": "lmi", '
    '"async": {"endpoint_name": "bench-endpoint"}}}}',
    "INPUT_BUCKET": "bench-input",
    "OUTPUT_BUCKET": "bench-output",
    "REQUESTS_TABLE": "bench-requests",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "POWERTOOLS_SERVICE_NAME": "bench",
}


def _import_seconds(module: str, paths: list[str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(paths=paths, module=module)],
        env={**os.environ, **_ENVIRONMENT},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return float(result.stdout.strip().splitlines()[-1])


def run() -> list[tuple[str, str]]:
    samples: dict[str, list[float]] = {"boto3": [], **{h: [] for h in HANDLERS}}
    for _ in range(RUNS):
        samples["boto3"].append(_import_seconds("boto3", []))
        for handler in HANDLERS:
            samples[handler].append(_import_seconds("app", [str(LAMBDA / handler), str(LAMBDA / "shared")]))
    baseline = statistics.median(samples["boto3"])
    lines = [("import: bare `import boto3`, median of 7", f"{baseline * 1000:.0f} ms")]
    for handler in HANDLERS:
        median = statistics.median(samples[handler])
        lines.append((f"import: lambda/{handler}/app.py, median of 7", f"{median * 1000:.0f} ms"))
        lines.append((f"import: lambda/{handler}/app.py / import boto3", f"{median / baseline:.2f}x"))
    return lines
