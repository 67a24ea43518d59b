"""The inference API's routes as the client calls them, and the presigned S3 upload and download."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import quote, urlsplit

import urllib3
from urllib3.fields import RequestField

from inference_client.signing import SignedClient, Unreachable, connection_failure, fetch
from inference_client.sse import EventStreamParser, ServerSentEvent

TERMINAL_STATUSES = ("Completed", "Failed")
POLITE_RETRIES = 3
MAX_RETRY_AFTER_SECONDS = 60.0
# The streaming front ends a silent stream itself with an error event, after at most 900 s (its
# configurable upstream read timeout), so the client waits a little longer than that.
STREAM_READ_TIMEOUT_SECONDS = 910.0
_CHUNK = 1024 * 1024
_JSON = {"Content-Type": "application/json"}

T = TypeVar("T")


@dataclass
class ApiError(Exception):
    """An error answer: from the API (``{"error": {"code", "message"}}``) or from S3."""

    status: int
    code: str
    message: str
    retry_after: float | None = None

    def __str__(self) -> str:
        hint = f" (retry after {self.retry_after:g} s)" if self.retry_after is not None else ""
        return f"{self.status} {self.code}: {self.message}{hint}"


class InferenceApi:
    def __init__(self, client: SignedClient) -> None:
        self._client = client

    def submit(self, payload: dict, *, idempotency_key: str | None = None) -> dict:
        headers = dict(_JSON, **({"Idempotency-Key": idempotency_key} if idempotency_key else {}))
        body = json.dumps(payload).encode()
        return self._json(self._client.send("POST", "v1/inferences", body=body, headers=headers))

    def status(self, inference_id: str) -> dict:
        """Retries a few times on 429/503, after the Retry-After the answer asks for."""
        route = f"v1/inferences/{quote(inference_id, safe='')}"
        return self._politely(lambda: self._json(self._client.send("GET", route)))

    def models(self) -> dict:
        """The environment's models in OpenAI's list shape, each with its modes."""
        return self._politely(lambda: self._json(self._client.send("GET", "v1/models")))

    def upload(self, path: Path) -> str:
        """Upload a payload file through a presigned POST form; its ``input_location`` for ``submit``."""
        size = path.stat().st_size
        answer = self._json(self._client.send("POST", "v1/uploads"))
        url, fields = answer["upload"]["url"], answer["upload"]["fields"]
        boundary = uuid.uuid4().hex
        head, tail = _form_head(boundary, fields, path.name), f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            with path.open("rb") as payload:
                yield from iter(partial(payload.read, _CHUNK), b"")
            yield tail

        # Unsigned: the form is presigned. Sent as it is read, so a 1 GB payload is never in memory.
        response = fetch(
            self._client.http,
            "POST",
            url,
            shown_as=f"S3 at {_shown(url)}",
            body=body(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            },
        )
        if response.status >= 300:
            raise _error_from(response)
        return answer["input_location"]

    def download(self, url: str, sink: BinaryIO) -> int:
        """Copy a presigned ``output_url`` (unsigned GET) into ``sink``; the number of bytes."""
        response = fetch(self._client.http, "GET", url, shown_as=f"S3 at {_shown(url)}", stream=True)
        if response.status != 200:
            raise _error_from(response)
        copied = 0
        for chunk in _chunks(response, f"S3 at {_shown(url)}", partial(response.read, _CHUNK)):
            sink.write(chunk)
            copied += len(chunk)
        return copied

    def chat_stream(self, request: dict) -> Iterator[ServerSentEvent]:
        """POST /v1/chat/completions with ``"stream": true``; each chunk event as soon as it arrives."""
        return self._event_stream("v1/chat/completions", {**request, "stream": True})

    def generate_stream(self, request: dict) -> Iterator[ServerSentEvent]:
        """POST /v1/generate/stream; each server-sent event as soon as its bytes arrive."""
        return self._event_stream("v1/generate/stream", request)

    def _event_stream(self, route: str, request: dict) -> Iterator[ServerSentEvent]:
        response = self._client.send(
            "POST",
            route,
            body=json.dumps(request).encode(),
            headers=dict(_JSON, Accept="text/event-stream"),
            stream=True,
            read_timeout=STREAM_READ_TIMEOUT_SECONDS,
        )
        if response.status != 200:
            raise _error_from(response)
        parser = EventStreamParser()
        # read1 returns what has arrived instead of waiting to fill a buffer.
        for chunk in _chunks(response, f"the API at {self._client.api_url}", partial(response.read1, 65536)):
            yield from parser.feed(chunk)
        yield from parser.finish()

    def _politely(self, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except ApiError as error:
                if error.status not in (429, 503) or attempt == POLITE_RETRIES:
                    raise
                delay = error.retry_after if error.retry_after is not None else 2.0**attempt
            time.sleep(min(delay, MAX_RETRY_AFTER_SECONDS))
            attempt += 1

    @staticmethod
    def _json(response: urllib3.BaseHTTPResponse) -> dict:
        if response.status >= 300:
            raise _error_from(response)
        try:
            return json.loads(response.data)
        except ValueError:
            raise ApiError(response.status, "UnexpectedResponse", f"not JSON: {_excerpt(response.data)}") from None


def _chunks(response: urllib3.BaseHTTPResponse, shown_as: str, read: Callable[[], bytes]) -> Iterator[bytes]:
    try:
        while chunk := read():
            yield chunk
    except urllib3.exceptions.HTTPError as error:
        raise Unreachable(f"lost the connection to {shown_as}: {connection_failure(error)}") from None
    finally:
        response.release_conn()


def _form_head(boundary: str, fields: dict[str, str], filename: str) -> bytes:
    """Every form field, then the headers of the file part: S3 requires the file last."""
    parts = []
    for name, value in fields.items():
        field = RequestField(name, value)
        field.make_multipart()
        parts.append(f"--{boundary}\r\n{field.render_headers()}{value}\r\n")
    file_part = RequestField("file", b"", filename=filename)
    file_part.make_multipart(content_type="application/octet-stream")
    parts.append(f"--{boundary}\r\n{file_part.render_headers()}")
    return "".join(parts).encode()


def _error_from(response: urllib3.BaseHTTPResponse) -> ApiError:
    body = response.data or b""
    retry_after = response.headers.get("Retry-After", "")
    seconds = float(retry_after) if re.fullmatch(r"\d+(\.\d+)?", retry_after.strip()) else None
    code, message = response.reason or "HttpError", _excerpt(body)
    try:
        document = json.loads(body)
    except ValueError:
        # S3 answers in XML: <Error><Code>...</Code><Message>...</Message></Error>.
        text = body.decode("utf-8", "replace")
        if s3_code := re.search(r"<Code>(.*?)</Code>", text):
            s3_message = re.search(r"<Message>(.*?)</Message>", text)
            code, message = s3_code.group(1), s3_message.group(1) if s3_message else message
    else:
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict):
            # OpenAI's shape may have a null code; its type then says what kind of error it is.
            code = str(error.get("code") or error.get("type") or code)
            message = str(error.get("message", message))
        elif isinstance(document, dict) and "message" in document:
            # API Gateway's own answer where no gateway response reshapes it.
            message = str(document["message"])
    return ApiError(response.status, code, message, seconds)


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else f"{text[:limit]}..."


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
