"""How long one token stream may last, and how that one figure sets every layer's limit.

A stream passes four layers, each with its own limit; `docs/streaming.md` ("How long a stream
may last") has the table and the reasoning. The rule: an inner layer gives up before the layer
around it, so the caller is told by the layer that knows why (the relay's `error` event, or the
function ending the stream), rather than cut off by API Gateway with nothing to say.

Pure data: config validates against it, the API stack renders it.
"""

from __future__ import annotations

from dataclasses import dataclass

# API Gateway developer guide, "Stream the integration response for your proxy integrations":
# with responseTransferMode STREAM the integration timeout may be raised to 15 minutes without a
# quota increase, and a stream is closed after 5 minutes without a byte on regional endpoints.
API_GATEWAY_STREAM_MAX_SECONDS = 900
API_GATEWAY_IDLE_TIMEOUT_SECONDS = 300
# Lambda developer guide, "Configure Lambda function timeout": at most 900 seconds.
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# API Gateway's clock also runs while a cold function initialises, which Lambda bounds at 10
# seconds and does not count against the function's timeout (Lambda developer guide,
# "Understanding the Lambda execution environment lifecycle", Init phase); 15 seconds keeps the
# function's end before the integration's even then.
INIT_MARGIN_SECONDS = 15
MIN_STREAM_SECONDS = 60


@dataclass(frozen=True)
class StreamBudget:
    """`stream_seconds` is the longest a stream may last; `read_timeout_seconds` the longest the
    relay waits for the model's next bytes."""

    stream_seconds: int
    read_timeout_seconds: int

    def __post_init__(self) -> None:
        if not MIN_STREAM_SECONDS <= self.stream_seconds <= API_GATEWAY_STREAM_MAX_SECONDS:
            raise ValueError(
                f"a stream may last {MIN_STREAM_SECONDS}-{API_GATEWAY_STREAM_MAX_SECONDS} seconds "
                f"(API Gateway ends a streamed response after 15 minutes), not {self.stream_seconds}"
            )
        if self.read_timeout_seconds >= API_GATEWAY_IDLE_TIMEOUT_SECONDS:
            raise ValueError(
                f"the relay must give up on a silent model ({self.read_timeout_seconds} s) before API "
                f"Gateway closes an idle stream ({API_GATEWAY_IDLE_TIMEOUT_SECONDS} s)"
            )
        if self.read_timeout_seconds >= self.function_timeout_seconds:
            raise ValueError(
                f"the relay's read timeout ({self.read_timeout_seconds} s) must be below the function's "
                f"timeout ({self.function_timeout_seconds} s)"
            )

    @property
    def integration_timeout_seconds(self) -> int:
        return self.stream_seconds

    @property
    def function_timeout_seconds(self) -> int:
        return min(self.stream_seconds - INIT_MARGIN_SECONDS, LAMBDA_MAX_TIMEOUT_SECONDS)
