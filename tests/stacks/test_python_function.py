"""The bundler installs exactly what a function's requirements.txt pins: synth refuses a file that
leaves out a dependency the Lambda runtime does not provide. It ships bytecode that the runtime's
Python loads as fresh."""

from __future__ import annotations

import _imp
from pathlib import Path

import pytest

from stacks.constructs.python_function import (
    LAMBDA_ROOT, RUNTIME_PACKAGES, _PipBundler, compile_bytecode, unmet_dependencies,
)

# CPython 3.14's bytecode magic number, then CR LF: 3627 from 3.14rc3 on, for every 3.14 release
# (CPython's Include/internal/pycore_magic_number.h).
PYTHON_3_14_MAGIC = (3627).to_bytes(2, "little") + b"\r\n"


def bundle(tmp_path: Path, packages: dict[str, tuple[str, list[str]]]) -> Path:
    for name, (version, requires) in packages.items():
        info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {requirement}" for requirement in requires]
        (info / "METADATA").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_a_dependency_the_runtime_provides_needs_no_pin(tmp_path):
    packages = {"aws-lambda-powertools": ("3.37.0", ["jmespath<2.0.0,>=1.0.1", "typing-extensions>=4.11.0"]),
                "typing_extensions": ("4.16.0", [])}
    assert unmet_dependencies(bundle(tmp_path, packages)) == []


def test_a_dependency_neither_pinned_nor_in_the_runtime_is_named(tmp_path):
    packages = {"aws-lambda-powertools": ("3.37.0", ["jmespath<2.0.0,>=1.0.1", "typing-extensions>=4.11.0"])}
    assert unmet_dependencies(bundle(tmp_path, packages)) == [
        "aws-lambda-powertools needs typing-extensions>=4.11.0, which is not pinned"
    ]


def test_a_pin_outside_the_range_a_package_needs_is_named(tmp_path):
    packages = {"uvicorn": ("0.54.0", ["h11>=0.8"]), "h11": ("0.7.0", [])}
    assert unmet_dependencies(bundle(tmp_path, packages)) == ["uvicorn needs h11>=0.8, the pin is 0.7.0"]


def test_dependencies_for_other_pythons_and_extras_need_no_pin(tmp_path):
    packages = {"anyio": ("4.16.0", ['exceptiongroup>=1.0.2; python_version < "3.11"',
                                     'trio>=0.31.0; extra == "trio"', 'idna>=2.8']),
                "idna": ("3.20", [])}
    assert unmet_dependencies(bundle(tmp_path, packages)) == []


def test_only_the_streaming_function_bundles_part_of_the_runtime():
    # The streaming function pins the SDK on purpose (its requirements.txt says why); any other
    # function bundling part of the runtime would shadow the runtime's compiled copy.
    for requirements in LAMBDA_ROOT.glob("*/requirements.txt"):
        pinned = {line.split("==")[0].lower() for line in requirements.read_text().splitlines()
                  if line and not line.startswith("#")}
        if requirements.parent.name != "streaming":
            assert not pinned & RUNTIME_PACKAGES, requirements


def test_every_module_gets_bytecode_that_python_3_14_takes_as_fresh_for_its_source(tmp_path):
    sources = {"app.py": b"def handler(event, context):\n    return {'ok': True}\n",
               "pkg/__init__.py": b"", "pkg/mod.py": "TEXT = 'caf\u00e9'\n".encode()}
    for name, source in sources.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(source)
    assert compile_bytecode(tmp_path) == []
    for name, source in sources.items():
        path = tmp_path / name
        pyc = (path.parent / "__pycache__" / f"{path.stem}.cpython-314.pyc").read_bytes()
        # PEP 552: flags 0b11 is a checked-hash .pyc; the hash is the source's, keyed by the magic number.
        assert pyc[:4] == PYTHON_3_14_MAGIC and int.from_bytes(pyc[4:8], "little") == 0b11, name
        assert pyc[8:16] == _imp.source_hash(int.from_bytes(PYTHON_3_14_MAGIC, "little"), source), name


def test_a_module_that_does_not_compile_is_named(tmp_path):
    (tmp_path / "fine.py").write_text("x = 1\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "broken.py").write_text("def handler(:\n")
    assert compile_bytecode(tmp_path) == ["pkg/broken.py"]
    assert (tmp_path / "__pycache__" / "fine.cpython-314.pyc").exists()


def test_botocore_services_are_refused_for_a_function_that_takes_the_runtimes_botocore(tmp_path):
    function = tmp_path / "function"
    function.mkdir()
    (function / "app.py").write_text("def handler(event, context):\n    return {}\n")
    with pytest.raises(ValueError, match="names botocore services to keep, but does not bundle botocore"):
        _PipBundler(function, ("sagemaker",)).try_bundle(str(tmp_path / "out"), None)
