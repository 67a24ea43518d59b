"""Copy a Hugging Face Hub model, at one pinned commit, into the environment's model bucket.

Every file is checked before it lands in S3: a large (LFS) file against the SHA-256 the Hub lists
for it at that commit, a small one against its git blob id (SHA-1 of "blob <size>\\0<content>").
A file whose hash differs is never uploaded. The Hub's answers must come from the pinned commit
(``X-Repo-Commit``), so a moved branch or a cache can never substitute other weights.

The Hub's HTTP interface, as huggingface_hub uses it:
- ``GET /api/models/{id}/revision/{sha}?blobs=true``: the commit (``sha``) and its files
  (``siblings``: ``rfilename``, ``size``, ``blobId``, and ``lfs.sha256`` for large files);
- ``GET /{id}/resolve/{sha}/{file}``: the file, or a redirect to it, with ``X-Repo-Commit``
  and, for large files, ``X-Linked-Etag`` (their SHA-256) on the Hub's own answer.

A gated model needs a token (``HF_TOKEN``); it is sent to the Hub only, never to the storage a
download redirects to, and it is never written anywhere.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import urllib3
from botocore.exceptions import ClientError

COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_CHUNK = 8 * 1024 * 1024
_MAX_REDIRECTS = 5
# Object metadata that lets a second run skip files already mirrored and verified.
_SHA256_METADATA = "sha256"
_BLOB_METADATA = "hub-blob-id"


class MirrorError(Exception):
    """The mirror cannot go on; the message says what to change."""


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    blob_id: str
    # Present for files stored with Git LFS (weights): their content's SHA-256.
    lfs_sha256: str | None


@dataclass(frozen=True)
class MirroredFile:
    path: str
    size: int
    sha256: str
    uploaded: bool


class HubRepository:
    """One model on the Hub at one commit."""

    def __init__(self, http: urllib3.PoolManager, endpoint: str, model_id: str, revision: str, token: str | None) -> None:
        if not MODEL_ID.match(model_id):
            raise MirrorError(f"model id {model_id!r} must look like 'organisation/model-name'")
        if not COMMIT_SHA.match(revision):
            raise MirrorError(f"revision {revision!r} must be a full 40-character commit sha, not a branch or tag")
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._hub_host = urlsplit(self._endpoint).netloc
        self.model_id = model_id
        self.revision = revision
        self._token = token

    def files(self) -> list[HubFile]:
        url = f"{self._endpoint}/api/models/{self.model_id}/revision/{self.revision}?blobs=true"
        response = self._get(url, preload_content=True)
        if response.status in (401, 403):
            raise MirrorError(f"the Hub refused {self.model_id} ({response.status}): a gated model needs HF_TOKEN")
        if response.status == 404:
            raise MirrorError(f"the Hub has no model {self.model_id} at commit {self.revision}")
        if response.status != 200:
            raise MirrorError(f"the Hub answered {response.status} for {self.model_id}")
        try:
            info = json.loads(response.data)
            if info["sha"] != self.revision:
                raise MirrorError(f"the Hub answered for commit {info['sha']}, not {self.revision}")
            return [parse_hub_file(sibling) for sibling in info["siblings"]]
        except (ValueError, KeyError, TypeError) as error:
            raise MirrorError(f"the Hub's file list for {self.model_id} is not what the Hub API returns: {error}") from None

    def download(self, file: HubFile, sink: Callable[[bytes], None]) -> None:
        """Stream the file's bytes into `sink`, from the pinned commit only."""
        url = f"{self._endpoint}/{self.model_id}/resolve/{self.revision}/{quote(file.path)}"
        response = self._get(url, preload_content=False)
        commit = response.headers.get("X-Repo-Commit")
        if response.status not in (200, 301, 302, 303, 307, 308):
            response.release_conn()
            raise MirrorError(f"the Hub answered {response.status} for {file.path}")
        if commit != self.revision:
            response.release_conn()
            raise MirrorError(f"the Hub served {file.path} from commit {commit}, not {self.revision}")
        linked = (response.headers.get("X-Linked-Etag") or "").removeprefix("W/").strip('"')
        if file.lfs_sha256 and linked and linked != file.lfs_sha256:
            response.release_conn()
            raise MirrorError(f"the Hub's X-Linked-Etag for {file.path} is not the SHA-256 it lists")
        for _ in range(_MAX_REDIRECTS):
            if response.status not in (301, 302, 303, 307, 308):
                break
            location = urljoin(url, response.headers["Location"])
            response.release_conn()
            url = location
            response = self._get(url, preload_content=False)
        if response.status != 200:
            response.release_conn()
            raise MirrorError(f"downloading {file.path} answered {response.status}")
        try:
            for chunk in response.stream(_CHUNK):
                sink(chunk)
        finally:
            response.release_conn()

    def _get(self, url: str, *, preload_content: bool) -> Any:
        headers = {}
        if self._token and urlsplit(url).netloc == self._hub_host:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            return self._http.request("GET", url, headers=headers, redirect=False, preload_content=preload_content)
        except urllib3.exceptions.HTTPError as error:
            raise MirrorError(f"cannot reach {urlsplit(url).netloc}: {error}") from None


def parse_hub_file(sibling: dict) -> HubFile:
    path = sibling["rfilename"]
    parts = PurePosixPath(path).parts
    if not path or path.startswith("/") or ".." in parts:
        raise MirrorError(f"the Hub lists a file outside the model folder: {path!r}")
    lfs = sibling.get("lfs")
    return HubFile(
        path=path,
        size=int(lfs["size"] if lfs else sibling["size"]),
        blob_id=sibling["blobId"],
        lfs_sha256=lfs["sha256"] if lfs else None,
    )


class FileVerifier:
    """Hashes a file as it arrives and checks it against what the Hub lists."""

    def __init__(self, file: HubFile) -> None:
        self._file = file
        self._sha256 = hashlib.sha256()
        self._git_blob = hashlib.sha1(f"blob {file.size}\0".encode(), usedforsecurity=False)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self._git_blob.update(chunk)
        self.size += len(chunk)

    def verified_sha256(self) -> str:
        file = self._file
        if self.size != file.size:
            raise MirrorError(f"{file.path}: got {self.size} bytes, the Hub lists {file.size}; nothing uploaded")
        digest = self._sha256.hexdigest()
        if file.lfs_sha256 is not None and digest != file.lfs_sha256:
            raise MirrorError(f"{file.path}: SHA-256 {digest} is not the Hub's {file.lfs_sha256}; nothing uploaded")
        if file.lfs_sha256 is None and self._git_blob.hexdigest() != file.blob_id:
            raise MirrorError(f"{file.path}: git blob id differs from the Hub's {file.blob_id}; nothing uploaded")
        return digest


def selected(files: Iterable[HubFile], include: list[str], exclude: list[str]) -> list[HubFile]:
    return [
        f for f in files
        if (not include or any(fnmatch.fnmatch(f.path, p) for p in include))
        and not any(fnmatch.fnmatch(f.path, p) for p in exclude)
    ]


def default_prefix(model_id: str, revision: str) -> str:
    return f"hub/{model_id}/{revision}/"


def mirror(
    repository: HubRepository,
    files: list[HubFile],
    *,
    s3: Any,
    bucket: str,
    prefix: str,
    on_file: Callable[[MirroredFile], None] = lambda _: None,
) -> list[MirroredFile]:
    """Copy `files` under s3://bucket/prefix, skipping those a previous run mirrored and verified."""
    done = []
    for file in files:
        key = f"{prefix}{file.path}"
        head = _head(s3, bucket, key)
        metadata = head.get("Metadata", {}) if head else {}
        if head and metadata.get(_BLOB_METADATA) == file.blob_id and head["ContentLength"] == file.size:
            result = MirroredFile(file.path, file.size, metadata.get(_SHA256_METADATA, ""), uploaded=False)
        else:
            result = _copy(repository, file, s3=s3, bucket=bucket, key=key)
        on_file(result)
        done.append(result)
    return done


def _copy(repository: HubRepository, file: HubFile, *, s3: Any, bucket: str, key: str) -> MirroredFile:
    verifier = FileVerifier(file)
    with tempfile.NamedTemporaryFile(prefix="llm-infer-mirror-") as staged:

        def write(chunk: bytes) -> None:
            verifier.update(chunk)
            staged.write(chunk)

        repository.download(file, write)
        staged.flush()
        digest = verifier.verified_sha256()
        s3.upload_file(
            staged.name,
            bucket,
            key,
            ExtraArgs={
                "Metadata": {
                    _SHA256_METADATA: digest,
                    _BLOB_METADATA: file.blob_id,
                    "hub-revision": repository.revision,
                },
                # S3 checks the upload against this checksum too.
                "ChecksumAlgorithm": "SHA256",
            },
        )
    return MirroredFile(file.path, file.size, digest, uploaded=True)


def _head(s3: Any, bucket: str, key: str) -> dict | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def bucket_key_arn(s3: Any, bucket: str) -> str | None:
    """The customer-managed key the bucket encrypts new objects with, if any."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError:
        return None
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") == "aws:kms" and str(default.get("KMSMasterKeyID", "")).startswith("arn:"):
            return default["KMSMasterKeyID"]
    return None


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def weights_gib(files: Iterable[HubFile]) -> float | None:
    """The weights' size in GiB (rounded up to a tenth), from the weight files among ``files``."""
    total = sum(file.size for file in files if file.path.endswith(WEIGHT_SUFFIXES))
    return math.ceil(total / 2**30 * 10) / 10 if total else None


def config_block(name: str, bucket: str, prefix: str, key_arn: str | None, weights: float | None = None) -> str:
    """The catalog entry's source (and its weights' size), to paste under `models:` in config/<env>.yaml."""
    lines = [
        f"  {name}:",
        "    source:",
        "      s3:",
        f"        uri: s3://{bucket}/{prefix}",
    ]
    if key_arn:
        lines.append(f"        kms_key_arn: {key_arn}")
    if weights is not None:
        lines += ["    resources:", f"      weights_gib: {weights:g}"]
    return "\n".join(lines) + "\n"
