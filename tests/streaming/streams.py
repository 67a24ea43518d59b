"""Container response bodies, as TGI and LMI write them, for decoder and relay tests."""

from __future__ import annotations

import json


def tgi_stream(texts: list[str], *, final_special: bool = True) -> bytes:
    """TGI server-sent events; the last event is the end-of-sequence token with generated_text."""
    events = []
    for index, text in enumerate(texts, start=1):
        events.append(
            {"index": index, "token": {"id": 100 + index, "text": text, "logprob": -0.5, "special": False},
             "top_tokens": None, "generated_text": None, "details": None}
        )
    final_token = (
        {"id": 2, "text": "</s>", "logprob": -0.1, "special": True}
        if final_special
        else events.pop()["token"]
    )
    events.append(
        {"index": len(texts) + 1, "token": final_token, "top_tokens": None,
         "generated_text": "".join(texts), "details": None}
    )
    return b"".join(b"data:" + json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in events)


def lmi_stream(texts: list[str]) -> bytes:
    """LMI JSON lines; the last line adds generated_text."""
    lines = []
    for index, text in enumerate(texts):
        line: dict = {"token": {"id": 200 + index, "text": text, "log_prob": -0.25}}
        if index == len(texts) - 1:
            line["generated_text"] = "".join(texts)
        lines.append(line)
    return b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)


def lmi_error_line(message: str) -> bytes:
    """LMI's in-band failure: a special token with id -1 and finish_reason "error"."""
    line = {"token": {"id": -1, "text": "", "log_prob": -1, "special_token": True, "error_msg": message},
            "generated_text": "", "details": {"finish_reason": "error"}}
    return json.dumps(line).encode() + b"\n"


def legacy_lmi_stream(texts: list[str]) -> bytes:
    return b"".join(json.dumps({"outputs": [text]}, ensure_ascii=False).encode() + b"\n" for text in texts)


def chat_chunk(content: str | None, *, finish_reason: str | None = None, role: bool = False, usage: dict | None = None,
               choices: bool = True) -> dict:
    """One OpenAI chat.completion.chunk as the containers write it."""
    delta: dict = {} if content is None else {"content": content}
    if role:
        delta["role"] = "assistant"
    chunk: dict = {"id": "chatcmpl-0", "object": "chat.completion.chunk", "created": 1712792433, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
                   if choices else []}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def _chat_chunks(texts: list[str], finish_reason: str) -> list[dict]:
    chunks = [chat_chunk(text, role=index == 0) for index, text in enumerate(texts)]
    chunks.append(chat_chunk(None, finish_reason=finish_reason))
    return chunks


def lmi_chat_stream(texts: list[str], *, finish_reason: str = "eos_token") -> bytes:
    """LMI's chat answer (djl_python output_formatter, _jsonlines_chat_output_formatter): JSON lines,
    one chunk per token, no model field; the last token's chunk carries the finish_reason; no [DONE]."""
    chunks = []
    for index, text in enumerate(texts):
        chunk = chat_chunk(text, role=index == 0, finish_reason=finish_reason if index == len(texts) - 1 else None)
        del chunk["model"]
        chunks.append(chunk)
    return b"".join(json.dumps(c, ensure_ascii=False).encode() + b"\n" for c in chunks)


def vllm_chat_stream(texts: list[str], *, usage: dict | None = None) -> bytes:
    """vLLM's chat answer: `data: ` events, a usage-only chunk when asked, then `data: [DONE]`."""
    chunks = _chat_chunks(texts, "stop")
    if usage is not None:
        chunks.append(chat_chunk(None, usage=usage, choices=False))
    events = [b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n" for c in chunks]
    return b"".join(events) + b"data: [DONE]\n\n"


def tgi_chat_stream(texts: list[str]) -> bytes:
    """TGI's Messages API answer: `data:` events (no space), then `data: [DONE]`."""
    events = [b"data:" + json.dumps(c, ensure_ascii=False).encode() + b"\n\n" for c in _chat_chunks(texts, "stop")]
    return b"".join(events) + b"data:[DONE]\n\n"


def vllm_error_event(message: str) -> bytes:
    error = {"error": {"message": message, "type": "InternalServerError", "code": 500}}
    return b"data: " + json.dumps(error).encode() + b"\n\ndata: [DONE]\n\n"
