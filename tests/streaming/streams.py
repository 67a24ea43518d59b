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
