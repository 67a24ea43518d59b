"""scripts/generate_serving_images.py as a module: it reads AWS's tables from the pinned wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "scripts" / "generate_serving_images.py"
_spec = importlib.util.spec_from_file_location("generate_serving_images", _PATH)
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)
