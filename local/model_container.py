"""A CPU stand-in for a model container, speaking SageMaker's container contract.

The contract ("Custom Inference Code with Hosting Services", SageMaker developer guide,
https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html): the
container answers ``GET /ping`` (health) and ``POST /invocations`` (inference) on port 8080; here
on any port, since the runtime stand-in is told where each container listens.

``GET /ping`` answers 200; ``POST /invocations`` takes what the real containers take and answers
in the configured container's format (docs/container-formats.md):

* a chat body (``messages``): one ``chat.completion``, or with ``"stream": true`` chunks as LMI
  (JSON lines, no ``[DONE]``), vLLM (``data: `` events) or TGI (``data:`` events) send them, with
  ``usage`` on a last chunk when ``stream_options.include_usage`` asks (vLLM, TGI);
* the project's own body (``inputs``/``parameters``): LMI JSON lines or TGI token events when
  streaming, ``{"generated_text"}`` (LMI) or ``[{"generated_text"}]`` (TGI) otherwise; vLLM
  refuses it with 400, as vLLM's ``/invocations`` does for a body no request type validates.

The generator is deterministic: the answer quotes the last user message, one word per token,
``tokens_per_second`` fast (0: as fast as the socket takes them); ``max_tokens`` /
``max_new_tokens`` cut it with ``finish_reason: length`` and ``stop`` cuts it at the first stop
sequence. A last user message containing ``[[fail]]`` fails after two tokens, in-band, the way
each container reports a failure once the HTTP status is sent; ``[[reject]]`` is refused with
400 before anything streams.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTAINER_FORMATS = ("lmi", "vllm", "tgi")
FAIL_MARKER = "[[fail]]"
REJECT_MARKER = "[[reject]]"
DEFAULT_MAX_TOKENS = 256
_WORD = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class Generation:
    tokens: list[str]
    finish_reason: str
    prompt_tokens: int
    fails: bool

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def generate(prompt: str, *, max_tokens: int | None, stop: list[str] | None) -> Generation:
    """The deterministic answer to ``prompt``."""
    answer = f"This is the local model. You said: {prompt.strip()}"
    finish_reason = "stop"
    for sequence in stop or []:
        if sequence in answer:
            answer = answer[: answer.index(sequence)]
    tokens = _WORD.findall(answer)
    limit = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    if len(tokens) > limit:
        tokens, finish_reason = tokens[:limit], "length"
    return Generation(tokens, finish_reason, len(_WORD.findall(prompt)), FAIL_MARKER in prompt)


class ModelContainer:
    """Run with ``with ModelContainer("lmi") as container:``; ``container.url`` is its base URL."""

    def __init__(self, container_format: str, *, tokens_per_second: float = 0.0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        if container_format not in CONTAINER_FORMATS:
            raise ValueError(f"container_format must be one of {', '.join(CONTAINER_FORMATS)}")
        self.container_format = container_format
        self.tokens_per_second = tokens_per_second
        self._server = _Server((host, port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ModelContainer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def pause(self) -> None:
        if self.tokens_per_second > 0:
            time.sleep(1 / self.tokens_per_second)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A caller that stops reading mid-stream is routine.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Rejected(Exception):
    pass


def _handler(container: ModelContainer) -> type[BaseHTTPRequestHandler]:
    fmt = container.container_format

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._json(200, {"status": "healthy"})
            else:
                self._json(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invocations":
                self._json(404, {"error": f"no route {self.path}"})
                return
            try:
                request = json.loads(body)
                if not isinstance(request, dict):
                    raise _Rejected("the body must be a JSON object")
                if "messages" in request:
                    self._chat(request)
                elif "inputs" in request and fmt != "vllm":
                    self._generate(request)
                else:
                    raise _Rejected("the body is neither a chat request (messages) nor a generate request (inputs)")
            except (ValueError, _Rejected, KeyError, TypeError) as error:
                self._json(400, {"error": str(error), "error_type": "validation"})

        def _chat(self, request: dict) -> None:
            messages = request["messages"]
            prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
            if REJECT_MARKER in prompt:
                raise _Rejected("the model refuses this input")
            stop = request.get("stop")
            generation = generate(
                prompt, max_tokens=request.get("max_tokens"), stop=[stop] if isinstance(stop, str) else stop
            )
            if not request.get("stream"):
                self._complete_chat(generation)
                return
            include_usage = (request.get("stream_options") or {}).get("include_usage") and fmt != "lmi"
            self._stream(_chat_stream(fmt, generation, container, bool(include_usage)))

        def _complete_chat(self, generation: Generation) -> None:
            if generation.fails:
                self._json(500, {"error": "Request failed during generation", "error_type": "generation"})
                return
            self._json(200, {
                "id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()), "model": "local",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": generation.text},
                             "logprobs": None, "finish_reason": generation.finish_reason}],
                "usage": _usage(generation),
            })

        def _generate(self, request: dict) -> None:
            parameters = request.get("parameters") or {}
            prompt = request["inputs"]
            if REJECT_MARKER in prompt:
                raise _Rejected("the model refuses this input")
            generation = generate(prompt, max_tokens=parameters.get("max_new_tokens"),
                                  stop=parameters.get("stop") or parameters.get("stop_sequences"))
            if request.get("stream"):
                self._stream(_token_stream(fmt, generation, container))
            elif generation.fails:
                self._json(500, {"error": "Request failed during generation", "error_type": "generation"})
            else:
                answer = {"generated_text": generation.text}
                self._json(200, [answer] if fmt == "tgi" else answer)

        def _stream(self, events: Iterator[bytes]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jsonlines" if fmt == "lmi" else "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for event in events:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _json(self, status: int, body: object) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _usage(generation: Generation) -> dict:
    completion = len(generation.tokens)
    return {"prompt_tokens": generation.prompt_tokens, "completion_tokens": completion,
            "total_tokens": generation.prompt_tokens + completion}


def _chat_stream(fmt: str, generation: Generation, container: ModelContainer, include_usage: bool) -> Iterator[bytes]:
    created = int(time.time())

    def chunk(delta: dict, finish_reason: str | None = None, **extra: Any) -> dict:
        return {"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": created, "model": "local",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}], **extra}

    def frame(value: dict | str) -> bytes:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if fmt == "lmi":
            return text.encode() + b"\n"
        return (b"data: " if fmt == "vllm" else b"data:") + text.encode() + b"\n\n"

    # LMI names the end of sequence its own way, and puts it on the last token's chunk; vLLM and TGI
    # say "stop", in a chunk of its own.
    lmi = fmt == "lmi"
    reason = "eos_token" if lmi and generation.finish_reason == "stop" else generation.finish_reason
    last = len(generation.tokens) - 1
    for index, token in enumerate(generation.tokens):
        if generation.fails and index == 2:
            yield _chat_failure(fmt)
            return
        container.pause()
        delta = {"role": "assistant", "content": token} if index == 0 else {"content": token}
        yield frame(chunk(delta, reason if lmi and index == last else None))
    if not lmi or not generation.tokens:
        yield frame(chunk({}, reason))
    if include_usage:
        usage_chunk = chunk({}, None, usage=_usage(generation))
        usage_chunk["choices"] = []
        yield frame(usage_chunk)
    if fmt != "lmi":
        yield frame("[DONE]")


def _chat_failure(fmt: str) -> bytes:
    if fmt == "lmi":
        return _lmi_error_line()
    if fmt == "vllm":
        error = {"error": {"message": "Request failed during generation", "type": "InternalServerError", "code": 500}}
        return b"data: " + json.dumps(error).encode() + b"\n\ndata: [DONE]\n\n"
    return b"data:" + json.dumps({"error": "Request failed during generation", "error_type": "generation"}).encode() + b"\n\n"


def _lmi_error_line() -> bytes:
    line = {"token": {"id": -1, "text": "", "log_prob": -1, "special_token": True,
                      "error_msg": "Request failed during generation"},
            "generated_text": "", "details": {"finish_reason": "error"}}
    return json.dumps(line).encode() + b"\n"


def _token_stream(fmt: str, generation: Generation, container: ModelContainer) -> Iterator[bytes]:
    last = len(generation.tokens) - 1
    for index, token in enumerate(generation.tokens):
        if generation.fails and index == 2:
            yield _lmi_error_line() if fmt == "lmi" else (
                b"data:" + json.dumps({"error": "Request failed during generation", "error_type": "generation"}).encode()
                + b"\n\n"
            )
            return
        container.pause()
        final = index == last
        if fmt == "lmi":
            line: dict = {"token": {"id": index, "text": token, "log_prob": -0.5}}
            if final:
                line["generated_text"] = generation.text
                line["details"] = {"finish_reason": generation.finish_reason}
            yield json.dumps(line, ensure_ascii=False).encode() + b"\n"
        else:
            event = {"index": index + 1, "token": {"id": index, "text": token, "logprob": -0.5, "special": False},
                     "generated_text": generation.text if final else None, "details": None}
            yield b"data:" + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"
