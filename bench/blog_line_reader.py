"""The decoder benchmark's baseline: the stream reader of AWS's SageMaker streaming blog post.

"Elevating the generative AI experience: Introducing streaming support in Amazon SageMaker
hosting" (AWS Machine Learning Blog, 2023-09,
https://aws.amazon.com/blogs/machine-learning/elevating-the-generative-ai-experience-introducing-streaming-support-in-amazon-sagemaker-hosting/)
reads ``InvokeEndpointWithResponseStream`` with a line iterator that appends every
PayloadPart to one ``io.BytesIO`` and calls ``readline()`` from a saved read position, and
its TGI example ``json.loads`` each line from its first ``{``. This module reproduces that
algorithm, its properties included, so the benchmark compares against what readers of the
post deploy:

* the buffer keeps every byte of the stream, so memory grows with the stream's length;
* when the stream ends on a line without a newline, ``readline()`` keeps returning that
  partial line and the end of the stream keeps being retried: the iterator never returns.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator


class BlogLineIterator:
    """Lines (without their newline) of a stream of ``{"PayloadPart": {"Bytes": ...}}`` events."""

    def __init__(self, event_stream: Iterable[dict]) -> None:
        self.byte_iterator = iter(event_stream)
        self.buffer = io.BytesIO()
        self.read_pos = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while True:
            self.buffer.seek(self.read_pos)
            line = self.buffer.readline()
            if line and line[-1] == ord("\n"):
                self.read_pos += len(line)
                return line[:-1]
            try:
                event = next(self.byte_iterator)
            except StopIteration:
                if self.read_pos < self.buffer.getbuffer().nbytes:
                    continue
                raise
            if "PayloadPart" not in event:
                continue
            self.buffer.seek(0, io.SEEK_END)
            self.buffer.write(event["PayloadPart"]["Bytes"])


def blog_token_texts(event_stream: Iterable[dict]) -> Iterator[str]:
    """The post's TGI consumer: parse each line from its first ``{``, yield the token's text."""
    for line in BlogLineIterator(event_stream):
        start = line.find(b"{")
        if line and start >= 0:
            yield json.loads(line[start:].decode("utf-8"))["token"]["text"]
