"""Import the streaming Lambda's modules from its asset root, ``lambda/streaming``.

``lambda`` is a keyword, and its function folders each hold an ``app`` module, so the
folder is put on ``sys.path`` only while importing, and ``app.py`` is loaded under the
name ``streaming_app``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
STREAMING_ROOT = ROOT / "lambda" / "streaming"
ENDPOINT_NAME = "streaming-endpoint"
# The catalog the stack would write: two streaming models (TGI by default, LMI) on one endpoint,
# and a model served asynchronously only.
MODEL_CATALOG = {
    "default": "chat",
    "models": {
        "chat": {
            "container_format": "tgi",
            "streaming": {"endpoint_name": ENDPOINT_NAME, "inference_component_name": f"{ENDPOINT_NAME}-chat"},
        },
        "small": {
            "container_format": "lmi",
            "streaming": {"endpoint_name": ENDPOINT_NAME, "inference_component_name": f"{ENDPOINT_NAME}-small"},
        },
        "summarizer": {"container_format": "lmi", "async": {"endpoint_name": "summarizer-async"}},
    },
}
# The deployed asset holds the shared package beside the function's own modules.
SHARED_ROOT = ROOT / "lambda" / "shared"


class _OnPath:
    def __enter__(self) -> None:
        sys.path[0:0] = [str(STREAMING_ROOT), str(SHARED_ROOT)]

    def __exit__(self, *exc_info: object) -> None:
        sys.path.remove(str(STREAMING_ROOT))
        sys.path.remove(str(SHARED_ROOT))


def _import(name: str) -> ModuleType:
    with _OnPath():
        return importlib.import_module(name)


def load_app_module() -> ModuleType:
    """Import ``app.py`` (which builds ``app`` from the environment) as ``streaming_app``."""
    if "streaming_app" in sys.modules:
        return sys.modules["streaming_app"]
    with _OnPath():
        spec = importlib.util.spec_from_file_location("streaming_app", STREAMING_ROOT / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["streaming_app"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules["streaming_app"]
            raise
    return module


def load_app_module_apart() -> ModuleType:
    """Import ``app.py`` under the current environment without replacing the cached
    ``streaming_app``, which tests/streaming builds from its own environment."""
    theirs = sys.modules.pop("streaming_app", None)
    try:
        return load_app_module()
    finally:
        sys.modules.pop("streaming_app", None)
        if theirs is not None:
            sys.modules["streaming_app"] = theirs


token_stream = _import("token_stream")
generation_request = _import("generation_request")
stream_settings = _import("stream_settings")
sse_relay = _import("sse_relay")
sagemaker_stream = _import("sagemaker_stream")
openai_chat = _import("openai_chat")
chat_request = _import("inference_common.chat_request")
catalog = _import("inference_common.catalog")
hold = _import("hold")
stream_metrics = _import("stream_metrics")
