"""Every example in docs/clients.md runs as written against `make local` and exits 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ALICE, ROOT

CLIENTS_DOC = ROOT / "docs" / "clients.md"
BLOCK = re.compile(r"^```(?P<language>sh|python)\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
EXAMPLES = [(match["language"], match["code"]) for match in BLOCK.finditer(CLIENTS_DOC.read_text())]


def test_the_doc_has_an_example_for_every_client():
    text = "".join(code for _, code in EXAMPLES)
    for client in ("curl ", "import openai", "ChatOpenAI", "llm-infer chat", "llm-infer submit", "v1/inferences"):
        assert client in text


@pytest.mark.parametrize(("language", "code"), EXAMPLES, ids=[f"{i}-{lang}" for i, (lang, _) in enumerate(EXAMPLES)])
def test_example_runs(local_api, language, code):
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update(
        LLM_API_URL=local_api.url, AWS_ACCESS_KEY_ID=ALICE[0], AWS_SECRET_ACCESS_KEY=ALICE[1],
        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", code]
    answer = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()
    assert "error" not in answer.stdout.lower() or "not served here" in answer.stdout
