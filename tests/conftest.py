"""Shared by every test: the repository root is importable (app.py, stacks/), jsii uses Node 24."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stacks.toolchain import use_pinned_node  # noqa: E402

use_pinned_node()
