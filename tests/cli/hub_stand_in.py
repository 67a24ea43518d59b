"""A local stand-in for the Hugging Face Hub's HTTP interface, as huggingface_hub calls it.

- ``GET /api/models/{id}/revision/{sha}?blobs=true``: ``{"id", "sha", "siblings": [{"rfilename",
  "size", "blobId", "lfs": {"sha256", "size", "pointerSize"}}]}`` (``lfs`` for large files only);
- ``GET /{id}/resolve/{sha}/{file}``: a small file itself, with ``X-Repo-Commit`` and its git
  blob id as ``ETag``; a large (LFS) file as a 302 to storage on another path, with
  ``X-Repo-Commit``, ``X-Linked-Etag`` (its SHA-256) and ``X-Linked-Size``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(f"blob {len(content)}\0".encode() + content, usedforsecurity=False).hexdigest()


@dataclass
class HubModel:
    model_id: str
    revision: str
    files: dict[str, bytes]
    lfs: set[str]
    gated_token: str | None = None
    # Bytes storage serves instead of a file's real content (a corrupted or substituted blob).
    served_instead: dict[str, bytes] = field(default_factory=dict)
    # The commit the Hub claims it answered from, when it is not the pinned one.
    commit_header: str | None = None
    # Authorization headers that reached the storage host, which must never see the token.
    storage_authorizations: list[str] = field(default_factory=list)

    def sibling(self, path: str) -> dict:
        content = self.files[path]
        if path in self.lfs:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(content).hexdigest()}\n"
            return {
                "rfilename": path,
                "size": len(pointer),
                "blobId": git_blob_id(pointer.encode()),
                "lfs": {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": len(pointer)},
            }
        return {"rfilename": path, "size": len(content), "blobId": git_blob_id(content)}


class _Handler(BaseHTTPRequestHandler):
    model: HubModel

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        model = self.model
        path = unquote(urlsplit(self.path).path)
        if model.gated_token and not path.startswith("/storage/"):
            if self.headers.get("Authorization") != f"Bearer {model.gated_token}":
                return self._answer(401, b'{"error": "Access to this model is restricted"}')
        api = f"/api/models/{model.model_id}/revision/"
        resolve = f"/{model.model_id}/resolve/"
        if path.startswith(api):
            if path[len(api):] != model.revision:
                return self._answer(404, b'{"error": "Revision not found"}')
            siblings = [model.sibling(p) for p in model.files]
            body = {"id": model.model_id, "sha": model.revision, "siblings": siblings}
            return self._answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        if path.startswith(resolve):
            revision, _, file = path[len(resolve):].partition("/")
            if revision != model.revision or file not in model.files:
                return self._answer(404, b"Entry not found")
            commit = {"X-Repo-Commit": model.commit_header or model.revision}
            content = model.files[file]
            if file in model.lfs:
                digest = hashlib.sha256(content).hexdigest()
                # Storage is another host, as the Hub's CDN is: "localhost" instead of "127.0.0.1".
                storage = f"http://localhost:{self.server.server_address[1]}"
                return self._answer(302, b"", {
                    **commit, "Location": f"{storage}/storage/{digest}?file={file}",
                    "X-Linked-Etag": f'"{digest}"', "X-Linked-Size": str(len(content)),
                })
            body = model.served_instead.get(file, content)
            return self._answer(200, body, {**commit, "ETag": f'"{git_blob_id(content)}"'})
        if path.startswith("/storage/"):
            model.storage_authorizations.append(self.headers.get("Authorization") or "")
            file = urlsplit(self.path).query.removeprefix("file=")
            return self._answer(200, model.served_instead.get(file, model.files[file]))
        return self._answer(404, b"")

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(model: HubModel) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"model": model})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
