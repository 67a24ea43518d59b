"""Every error the async API can answer is in docs/api.md's error table, with its status."""

import re

from handler_harness import LAMBDA_ROOT

from api_errors import ApiError
from inference_common.strict_json import REJECTION_CODES, JsonRejected

DOCS = (LAMBDA_ROOT.parent / "docs" / "api.md").read_text()
DOCUMENTED = {(int(status), code) for status, code in re.findall(r"^\| (\d{3}) \| `(\w+)` \|", DOCS, re.MULTILINE)}
_RAISED = re.compile(r'ApiError\(\s*(\d{3}),\s*"(\w+)"')


def raised_in_source() -> set[tuple[int, str]]:
    found = set()
    for path in (LAMBDA_ROOT / "async_api").glob("*.py"):
        found |= {(int(status), code) for status, code in _RAISED.findall(path.read_text())}
    return found


def test_every_error_the_source_raises_is_documented_with_its_status():
    assert raised_in_source() - DOCUMENTED == set()


def test_every_strict_json_rejection_is_documented_as_a_400():
    codes = {ApiError.rejected_json(JsonRejected(code, "x")).code for code in REJECTION_CODES}
    assert {(400, code) for code in codes} - DOCUMENTED == set()


def test_the_source_scan_finds_the_errors_it_is_meant_to():
    assert {(415, "UnsupportedMediaType"), (400, "MalformedBody"), (403, "MissingCallerIdentity")} <= raised_in_source()
