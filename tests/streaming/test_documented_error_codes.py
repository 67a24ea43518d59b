"""Every error code the streaming front can send is in docs/streaming.md's tables."""

from __future__ import annotations

import re

from .streaming_modules import ROOT, SHARED_ROOT, STREAMING_ROOT, sagemaker_stream

DOCS = (ROOT / "docs" / "streaming.md").read_text()
DOCUMENTED = set(re.findall(r"^\|(?: \d{3} \|)? `([a-z0-9_]+)` \|", DOCS, re.MULTILINE))

# The code is the first string argument of these, or the one after the status.
_RAISED = re.compile(
    r'(?:InvalidRequest|UpstreamBroken|TokenStreamError|StreamFailure)\(\s*"([a-z0-9_]+)"'
    r'|(?:UpstreamRefused|error_response)\(\s*\d{3},\s*"([a-z0-9_]+)"'
    r'|^_?[A-Z_]+ = "([a-z0-9_]+)"',
    re.MULTILINE,
)


def codes_in_source() -> set[str]:
    codes = set()
    for path in [*STREAMING_ROOT.glob("*.py"), SHARED_ROOT / "inference_common" / "strict_json.py"]:
        for match in _RAISED.finditer(path.read_text()):
            codes.add(next(group for group in match.groups() if group))
    return codes


def test_every_code_raised_in_the_source_is_documented():
    found = codes_in_source() | {"line_too_long", "not_found", "method_not_allowed"}
    assert found - DOCUMENTED == set()


def test_sagemaker_error_events_become_documented_codes():
    snake_case = sagemaker_stream._snake_case
    for error_code in ("ModelStreamError", "InternalStreamFailure", "StreamError"):
        assert snake_case(error_code) in DOCUMENTED


def test_the_source_scan_finds_the_codes_it_is_meant_to():
    assert {"invalid_utf8", "malformed_event", "incomplete_stream", "json_too_deep", "throttled"} <= codes_in_source()
