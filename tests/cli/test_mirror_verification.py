"""Properties of what the mirror accepts from the Hub: file paths stay inside the model's prefix,
and a file verifies exactly when its bytes are the ones the Hub lists."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inference_client.mirror import HubFile, MirrorError, parse_hub_file, FileVerifier
from tests.cli.hub_stand_in import git_blob_id

SEGMENT = st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=12)


def verify(file: HubFile, received: bytes) -> str:
    verifier = FileVerifier(file)
    for start in range(0, len(received), 7):
        verifier.update(received[start : start + 7])
    return verifier.verified_sha256()


@given(st.lists(SEGMENT.filter(lambda s: s not in (".", "..")), min_size=1, max_size=4))
def test_a_relative_path_inside_the_model_is_kept_as_listed(segments):
    path = "/".join(segments)
    assert parse_hub_file({"rfilename": path, "size": 1, "blobId": "0" * 40}).path == path


@given(st.lists(SEGMENT, max_size=3), st.lists(SEGMENT, max_size=3))
def test_a_path_that_climbs_out_of_the_model_is_refused(before, after):
    path = "/".join([*before, "..", *after])
    with pytest.raises(MirrorError, match="outside the model folder"):
        parse_hub_file({"rfilename": path, "size": 1, "blobId": "0" * 40})


@given(st.lists(SEGMENT, min_size=1, max_size=3))
def test_an_absolute_path_is_refused(segments):
    with pytest.raises(MirrorError, match="outside the model folder"):
        parse_hub_file({"rfilename": "/" + "/".join(segments), "size": 1, "blobId": "0" * 40})


@given(st.binary(max_size=2048))
def test_a_small_file_verifies_against_its_git_blob_id(content):
    file = HubFile("config.json", len(content), git_blob_id(content), None)
    assert verify(file, content) == hashlib.sha256(content).hexdigest()


@given(st.binary(min_size=1, max_size=2048), st.data())
def test_a_small_file_with_any_byte_changed_is_refused(content, data):
    index = data.draw(st.integers(0, len(content) - 1))
    changed = content[:index] + bytes([content[index] ^ data.draw(st.integers(1, 255))]) + content[index + 1 :]
    file = HubFile("config.json", len(content), git_blob_id(content), None)
    with pytest.raises(MirrorError, match="git blob id differs"):
        verify(file, changed)


@given(st.binary(min_size=1, max_size=4096), st.data())
def test_a_large_file_verifies_only_with_the_listed_sha256(content, data):
    file = HubFile("model.safetensors", len(content), "pointer-blob", hashlib.sha256(content).hexdigest())
    assert verify(file, content) == file.lfs_sha256
    index = data.draw(st.integers(0, len(content) - 1))
    changed = content[:index] + bytes([content[index] ^ 0xFF]) + content[index + 1 :]
    with pytest.raises(MirrorError, match="SHA-256"):
        verify(file, changed)


@given(st.binary(max_size=512), st.binary(min_size=1, max_size=64))
def test_a_truncated_or_extended_file_is_refused_by_its_size(content, extra):
    file = HubFile("model.safetensors", len(content), "pointer-blob", hashlib.sha256(content).hexdigest())
    with pytest.raises(MirrorError, match="bytes, the Hub lists"):
        verify(file, content + extra)
