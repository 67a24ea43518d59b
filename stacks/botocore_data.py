"""Trims a bundled botocore's data to the services its function calls (no CDK here: tests import it).

botocore ships the model of every AWS service (some 440 folders, about 15 MB of a zipped asset)
and one ``endpoints.json`` with the endpoint data of all of them (1.2 MB). A function that bundles
its own botocore creates clients for two or three services, and its session refuses any other
(``inference_common/aws_clients.py``). Yet its first client parses all of ``endpoints.json``
(about 14 ms of each cold start in ``make bench``), and Lambda downloads and unpacks every folder
before the start ("Minimize your deployment package size to its runtime necessities", Best
practices for working with AWS Lambda functions).

``keep_only`` leaves the named services' folders as botocore shipped them, the files that are not a
service's (partitions, retry and default configuration) as they are, and in ``endpoints.json``
every partition with its regions and defaults, keeping of its ``services`` only the named services'
entries (they are keyed by each model's ``endpointPrefix``). The file stays in botocore's own
folder, and must: botocore takes an ``endpoints.json`` found anywhere else for custom data and lets
it override its endpoint rules (``compute_endpoint_resolver_builtin_defaults`` in botocore/args.py).
``tests/stacks/test_botocore_data.py`` compares the requests that a trimmed and a full botocore sign
and the endpoints their clients report, for each service, in every partition, with FIPS and dual-stack.
"""

from __future__ import annotations

import difflib
import gzip
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

ENDPOINTS = "endpoints.json"


def keep_only(data: Path, services: Iterable[str]) -> None:
    """Removes from ``data`` (a ``botocore/data`` folder) every service but ``services``."""
    kept = sorted(set(services))
    shipped = sorted(folder.name for folder in data.iterdir() if folder.is_dir())
    unknown = [service for service in kept if service not in shipped]
    if unknown:
        raise ValueError(
            f"botocore has no service named {', '.join(map(repr, unknown))}"
            + "".join(
                f"; did you mean {close[0]!r}?" for service in unknown if (close := difflib.get_close_matches(service, shipped, n=1))
            )
        )
    prefixes = {endpoint_prefix(data / service) for service in kept}
    for name in shipped:
        if name not in kept:
            shutil.rmtree(data / name)
    endpoints = json.loads((data / ENDPOINTS).read_text(encoding="utf-8"))
    for partition in endpoints["partitions"]:
        partition["services"] = {key: entry for key, entry in partition["services"].items() if key in prefixes}
    (data / ENDPOINTS).write_text(json.dumps(endpoints, separators=(",", ":")), encoding="utf-8")


def endpoint_prefix(service: Path) -> str:
    """The ``endpointPrefix`` of the service's newest API version, as botocore loads it."""
    newest = max(version for version in service.iterdir() if version.is_dir())
    plain, zipped = newest / "service-2.json", newest / "service-2.json.gz"
    model = json.loads(plain.read_bytes() if plain.exists() else gzip.decompress(zipped.read_bytes()))
    return model["metadata"]["endpointPrefix"]
