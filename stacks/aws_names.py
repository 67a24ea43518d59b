"""AWS names the config is checked against, pinned from botocore (stacks/data/aws_names.json).

Synth reads the pinned file, not botocore (a test dependency only); scripts/pin-aws-names.py
regenerates it and tests/stacks/test_aws_names.py fails when it drifts from the pinned botocore.
"""

from __future__ import annotations

import json
from pathlib import Path

_NAMES = json.loads((Path(__file__).resolve().parent / "data" / "aws_names.json").read_text())

# Regions where botocore knows a SageMaker endpoint, in every partition.
SAGEMAKER_REGIONS: tuple[str, ...] = tuple(_NAMES["sagemaker_regions"])
# The API's ProductionVariantInstanceType values: what an endpoint config may name.
SAGEMAKER_INSTANCE_TYPES: tuple[str, ...] = tuple(_NAMES["sagemaker_hosting_instance_types"])
