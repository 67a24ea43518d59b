"""The front's process, as ``run.sh`` starts it for the Lambda Web Adapter: uvicorn serving ``app:app``.

Everything a cold start builds lives as long as the process: the modules, the SageMaker client
with its service model and endpoint data, the app. Python's cyclic garbage collector would still
scan it over and over while it grows (some 90,000 objects, about 130 collections before the first
request; about 12% of the start in ``make bench``), and could free none of it. So the start runs
with the collector paused; then ``gc.freeze`` moves what it built out of every later collection,
and the collector runs again, for what serving allocates. What the start leaves unreachable (some
600 objects) stays frozen, a few tens of KiB for the life of the environment.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn


def loaded_server() -> uvicorn.Server:
    """uvicorn with the app and its protocol classes loaded: what runs before the port opens."""
    gc.disable()
    try:
        import uvicorn

        config = uvicorn.Config(
            "app:app", host="0.0.0.0", port=int(os.environ.get("AWS_LWA_PORT", "8080")), access_log=False
        )
        config.load()
        return uvicorn.Server(config)
    finally:
        gc.freeze()
        gc.enable()


if __name__ == "__main__":
    loaded_server().run()
