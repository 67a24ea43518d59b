"""Serve the relay under uvicorn in a thread, on a free port, for one test module."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

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


@contextmanager
def serve(app) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
