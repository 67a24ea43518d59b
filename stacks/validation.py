"""Turn the cloud assembly's validation report into a failing exit.

CDK marks a failed policy validation by setting the Node.js process's exit code. In a Python app
that process is the jsii kernel, not the app, so `cdk synth` would exit 0 on nag errors. The app
reads the report it just wrote and fails itself instead.
"""

from __future__ import annotations

import json
from pathlib import Path

REPORT_NAME = "validation-report.json"


def violations(assembly_dir: str | Path) -> list[str]:
    """One line per unacknowledged finding: plugin, rule, construct path."""
    report = Path(assembly_dir) / REPORT_NAME
    if not report.exists():
        return []
    lines = []
    for plugin in json.loads(report.read_text())["pluginReports"]:
        for violation in plugin.get("violations", []):
            for construct in violation["violatingConstructs"]:
                lines.append(f"{plugin['pluginName']}: {violation['ruleName']} at {construct['constructPath']}")
    return sorted(lines)
