"""cfn-lint finds no error in any synthesized template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def templates(assembly_dir: Path) -> list[Path]:
    return sorted(assembly_dir.glob("**/*.template.json"))


def test_every_template_is_cfn_lint_clean(synthesized):
    paths = templates(synthesized.assembly_dir)
    assert len(paths) >= 3
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "parseable", "--", *map(str, paths)],
        capture_output=True,
        text=True,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    # cfn-lint's exit code is a bit mask: 2 means at least one error.
    assert result.returncode & 2 == 0 and errors == [], result.stdout + result.stderr
