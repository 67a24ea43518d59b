"""Regenerate stacks/serving_images.json from AWS's image table in the pinned sagemaker-core.

`make images` runs this after requirements-images.txt moves to a newer sagemaker-core; review
the diff and commit it. Synth reads only the generated file: sagemaker-core, its import-time work
and its dependency tree (pandas, numpy, scipy, ...) stay out of the synth path and the pipeline.

The wheel is downloaded into .make/wheels, never installed: only its data files are read
(`sagemaker/core/image_uri_config/*.json`), never its code. Tags are formed the way its `image_uris.retrieve` forms them for a GPU
instance: tag prefix, processor, Python version and container version, joined by '-'.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "sagemaker-core"
PINS = ROOT / "requirements-images.txt"
WHEELS = ROOT / ".make" / "wheels"
TABLE = ROOT / "stacks" / "serving_images.json"
# Framework in our config -> (sagemaker-core file, image scope inside it, or None when unscoped).
SOURCES = {
    "lmi": ("djl-lmi.json", None),
    "vllm": ("vllm.json", "inference"),
    "tgi": ("huggingface-llm.json", "inference"),
}
PROCESSOR = "gpu"


def pinned_version() -> str:
    for line in PINS.read_text().splitlines():
        if line.startswith(f"{DISTRIBUTION}=="):
            return line.split("==", 1)[1].split()[0]
    raise SystemExit(f"{PINS.name} pins no {DISTRIBUTION}")


def config_file(name: str) -> bytes:
    """One of AWS's tables, `sagemaker/core/image_uri_config/<name>`, from the pinned wheel."""
    wheel = WHEELS / f"{DISTRIBUTION.replace('-', '_')}-{pinned_version()}-py3-none-any.whl"
    if not wheel.exists():
        raise SystemExit(f"{wheel} is missing; run `make .make/images` first")
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"sagemaker/core/image_uri_config/{name}")


def _tag(table: dict, version_config: dict) -> str:
    # A table without 'processors' (LMI) carries the whole tag in its tag prefix.
    has_processor = bool(table.get("processors") or version_config.get("processors"))
    processor = PROCESSOR if has_processor and version_config.get("processor_in_tag", True) else None
    py_versions = version_config.get("py_versions") or [None]
    if len(py_versions) > 1:
        raise SystemExit(f"{version_config['tag_prefix']}: several Python versions; choose one here first")
    container_version = (version_config.get("container_version") or {}).get(PROCESSOR)
    parts = (version_config.get("tag_prefix"), processor, py_versions[0], container_version)
    return "-".join(part for part in parts if part)


def generate() -> dict:
    frameworks = {}
    for framework, (file_name, scope) in SOURCES.items():
        data = json.loads(config_file(file_name))
        table = data[scope] if scope else data
        versions = {}
        for version, config in table["versions"].items():
            versions[version] = {
                "repository": config["repository"],
                "tag": _tag(table, config),
                "registries": dict(sorted(config["registries"].items())),
            }
        latest = max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))
        frameworks[framework] = {"source_file": file_name, "latest": latest, "versions": versions}
    return {
        "generated_from": f"{DISTRIBUTION}=={pinned_version()} (sagemaker/core/image_uri_config)",
        "regenerate_with": "make images",
        "frameworks": frameworks,
    }


def render(table: dict) -> str:
    return json.dumps(table, indent=1, sort_keys=False) + "\n"


if __name__ == "__main__":
    TABLE.write_text(render(generate()))
    sys.stdout.write(f"wrote {TABLE}\n")
