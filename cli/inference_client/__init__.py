"""Client for the LLM inference API: requests are signed with the caller's AWS credentials (SigV4).

``from inference_client import SigV4Auth`` gives the ``httpx.Auth`` for httpx-based clients (the
OpenAI SDK, LangChain); it needs httpx (``pip install 'llm-inference-client[httpx]'``), which the
``llm-infer`` commands do not.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "SigV4Auth":
        try:
            from inference_client.httpx_auth import SigV4Auth
        except ModuleNotFoundError as missing:
            if missing.name != "httpx":
                raise
            raise ImportError("SigV4Auth needs httpx: pip install 'llm-inference-client[httpx]'") from None
        return SigV4Auth
    raise AttributeError(f"module 'inference_client' has no attribute {name!r}")


__all__ = ["SigV4Auth"]
