"""Wall time of a full `cdk synth` against the synth of a one-bucket CDK app, same CLI, same flags.

Both apps run through the pinned CLI with cdk.json's feature flags, so the ratio isolates what
this project's constructs and the two nag packs cost on top of CDK's own fixed start-up.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
RUNS = 3

ONE_BUCKET_APP = """
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

app = App()
s3.Bucket(Stack(app, "OneBucket"), "Bucket")
app.synth()
"""


def _synth_seconds(workdir: Path, app_command: str, outdir: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(CDK), "synth", "--quiet", "--app", app_command, "--output", str(outdir)],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def run() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        baseline_dir = scratch_dir / "baseline"
        baseline_dir.mkdir()
        (baseline_dir / "app.py").write_text(ONE_BUCKET_APP)
        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        (baseline_dir / "cdk.json").write_text(json.dumps({"context": context}))

        project, baseline = [], []
        for attempt in range(RUNS):
            # Alternate the two so that drift on a shared machine hits both alike.
            baseline.append(_synth_seconds(baseline_dir, f"{sys.executable} app.py", scratch_dir / f"b{attempt}"))
            project.append(_synth_seconds(ROOT, f"{sys.executable} app.py", scratch_dir / f"p{attempt}"))

    project_median, baseline_median = statistics.median(project), statistics.median(baseline)
    return [
        (
            "synth: full app (a Stage per environment, the pipeline deploying them, nag, bundling), median of 3",
            f"{project_median:.2f} s",
        ),
        ("synth: one-bucket app, median of 3", f"{baseline_median:.2f} s"),
        ("synth: full app / one-bucket app", f"{project_median / baseline_median:.2f}x"),
    ]
