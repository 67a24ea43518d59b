"""The pinned AWS names (stacks/data/aws_names.json) are what the pinned botocore says."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pinned_regions_and_instance_types_match_the_installed_botocore():
    spec = importlib.util.spec_from_file_location("pin_aws_names", ROOT / "scripts" / "pin-aws-names.py")
    pin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pin)
    pinned = json.loads(pin.TARGET.read_text())
    assert pinned == pin.current(), "botocore changed: run .venv/bin/python scripts/pin-aws-names.py and commit"

