#!/usr/bin/env python3
"""Regenerate stacks/data/aws_names.json (read by stacks/aws_names.py) from the botocore pinned in requirements-dev.txt.

Synth reads the pinned file (botocore is not a runtime dependency of the app), and
tests/stacks/test_aws_names.py fails when the file and the installed botocore disagree:
after a botocore upgrade, run `.venv/bin/python scripts/pin-aws-names.py` and commit the result.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import botocore
import botocore.session

TARGET = Path(__file__).resolve().parent.parent / "stacks" / "data" / "aws_names.json"


def current() -> dict:
    session = botocore.session.get_session()
    regions = sorted(
        {
            region
            for partition in session.get_available_partitions()
            for region in session.get_available_regions("sagemaker", partition_name=partition)
        }
    )
    # The API's own list of hosting instance types (CreateEndpointConfig's ProductionVariant).
    model = Path(botocore.__file__).parent / "data" / "sagemaker" / "2017-07-24" / "service-2.json.gz"
    shapes = json.loads(gzip.decompress(model.read_bytes()))["shapes"]
    return {
        "source": f"botocore {botocore.__version__}: sagemaker endpoints per partition, "
        "shape ProductionVariantInstanceType of the sagemaker service model",
        "sagemaker_regions": regions,
        "sagemaker_hosting_instance_types": sorted(shapes["ProductionVariantInstanceType"]["enum"]),
    }


if __name__ == "__main__":
    TARGET.write_text(json.dumps(current(), indent=1) + "\n")
    print(f"wrote {TARGET.relative_to(Path.cwd()) if TARGET.is_relative_to(Path.cwd()) else TARGET}", file=sys.stderr)
