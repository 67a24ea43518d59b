"""Open a response stream on the SageMaker endpoint and read its payload parts.

Everything that knows about boto3 and botocore lives here: the client's configuration, the
translation of SageMaker's errors before the stream begins into HTTP answers
(``UpstreamRefused``) and, once it has begun, into stream failures (``UpstreamBroken``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EventStreamError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError

from generation_request import GenerationRequest
from inference_common.aws_clients import ClientOnFirstUse, session_for
from inference_common.catalog import CatalogModel
from stream_settings import Settings

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5
RETRY_AFTER_SCALING_SECONDS = 60
"""An endpoint coming back from zero instances (or an inference component from zero
copies) needs minutes; asking callers to come back in a minute keeps them from hammering it."""
RETRY_AFTER_THROTTLED_SECONDS = 5

# SageMaker answers ValidationError both for a missing endpoint or inference component
# ("Endpoint x of account y not found.") and for an inference component scaled to zero
# ("Inference Component has no capacity to process this request ...").
_NOT_FOUND = re.compile(r"\bnot found\b", re.IGNORECASE)
_NO_CAPACITY = re.compile(r"\bno capacity\b", re.IGNORECASE)


class UpstreamRefused(Exception):
    """The endpoint did not start a stream; answer the caller with ``status``."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class UpstreamBroken(Exception):
    """The stream had begun and then failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


SERVICES = ("sagemaker-runtime", "sagemaker", "cloudwatch")
"""Every service the front calls. Its bundle keeps botocore's data of these alone
(``stacks/constructs/streaming_front.py`` reads this assignment from the source)."""


def create_session() -> botocore.session.Session:
    """The botocore session of the front's clients (inference_common/aws_clients.py)."""
    return session_for(*SERVICES)


def create_client(settings: Settings, session: botocore.session.Session) -> Any:
    """A SageMaker runtime client; ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` redirects it.

    ``read_timeout`` bounds the silence between two reads, so a stalled model ends the
    stream instead of holding the Lambda until its own timeout.
    """
    return session.create_client(
        "sagemaker-runtime",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.upstream_read_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": settings.upstream_max_attempts},
        ),
    )


def create_control_plane_clients(session: botocore.session.Session) -> tuple[Any, Any]:
    """SageMaker and CloudWatch clients for the wake (``AWS_ENDPOINT_URL_SAGEMAKER`` redirects the first).

    Each is created by its first use: only a request that finds no copy needs them, and creating
    one loads its service model (SageMaker's is large), which every cold start would pay. Short
    timeouts: a look at the copy count is repeated every few seconds anyway.
    """
    config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2})
    return ClientOnFirstUse(session, "sagemaker", config), ClientOnFirstUse(session, "cloudwatch", config)


class ModelResponseStream:
    """One open ``InvokeEndpointWithResponseStream`` response."""

    def __init__(self, event_stream: Any, read_timeout_seconds: float) -> None:
        self._event_stream = event_stream
        self._read_timeout_seconds = read_timeout_seconds

    def parts(self) -> Iterator[bytes]:
        """The ``PayloadPart`` bytes in order (blocking); raise ``UpstreamBroken`` on failure."""
        try:
            for event in self._event_stream:
                part = event.get("PayloadPart")
                if part is not None:
                    yield part.get("Bytes", b"")
        except EventStreamError as error:
            details = error.response.get("Error", {})
            code = details.get("Code") or "StreamError"
            raise UpstreamBroken(
                _snake_case(code), details.get("Message") or f"the model's stream failed ({code})"
            ) from None
        except Urllib3ReadTimeoutError:
            raise UpstreamBroken(
                "upstream_timeout",
                f"the model sent nothing for {self._read_timeout_seconds:g} seconds",
            ) from None
        except (Urllib3Error, OSError) as error:
            raise UpstreamBroken("upstream_disconnected", f"the model's stream broke: {error}") from None

    def abort(self) -> None:
        """Stop the stream now, from any thread, even while another thread is blocked reading.

        botocore's ``EventStream.close()`` closes the urllib3 response, which waits for the
        lock held by a read in progress and, on Linux, does not wake that read; urllib3's
        ``HTTPResponse.shutdown()`` shuts the socket down so the read returns at once. The
        reading thread then ends and ``close()`` releases the connection.
        """
        raw = getattr(self._event_stream, "_raw_stream", None)
        shutdown = getattr(raw, "shutdown", None)
        if shutdown is None:
            return
        try:
            shutdown()
        except (OSError, ValueError, RuntimeError):
            # Already closed or released: nothing left to wake.
            pass

    def close(self) -> None:
        """Close the connection to the endpoint. Call when no read is in progress."""
        self._event_stream.close()


class SageMakerStreamingEndpoint:
    """The catalog's streaming endpoint and inference components, one client for all of them."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def open(self, request: GenerationRequest, model: CatalogModel) -> ModelResponseStream:
        """Start a streamed generation on `model`'s endpoint or inference component (blocking until
        SageMaker answers with headers)."""
        return self.open_body(request.container_body(model.container_format), model)

    def open_body(self, body: bytes, model: CatalogModel) -> ModelResponseStream:
        """Stream ``body`` through `model`'s endpoint or inference component, blocking until headers."""
        target = model.streaming_target
        arguments: dict[str, Any] = {"EndpointName": target.endpoint_name, "Body": body, "ContentType": "application/json"}
        if target.inference_component_name:
            arguments["InferenceComponentName"] = target.inference_component_name
        try:
            response = self._client.invoke_endpoint_with_response_stream(**arguments)
        except ClientError as error:
            raise _refusal(error) from None
        except (ReadTimeoutError, ConnectTimeoutError):
            raise UpstreamRefused(
                504, "upstream_timeout", "the model endpoint did not answer in time"
            ) from None
        except BotoCoreError as error:
            logger.warning("cannot reach the endpoint: %s", error)
            raise UpstreamRefused(502, "upstream_unreachable", "the model endpoint cannot be reached") from None
        return ModelResponseStream(response["Body"], self._settings.upstream_read_timeout_seconds)


def _refusal(error: ClientError) -> UpstreamRefused:
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    message = details.get("Message", "")
    # A held request (hold.py) meets "no capacity" every second while its model starts: not news.
    waking = code == "ModelNotReadyException" or (code == "ValidationError" and _NO_CAPACITY.search(message))
    logger.log(logging.DEBUG if waking else logging.WARNING, "the endpoint refused the stream: %s: %s", code, message)
    if code == "ModelNotReadyException":
        return UpstreamRefused(
            503, "model_not_ready", "the model is not ready yet; retry later", RETRY_AFTER_SCALING_SECONDS
        )
    if code == "ValidationError" and _NO_CAPACITY.search(message):
        return UpstreamRefused(
            503, "no_capacity", "the model is scaling out from zero; retry later", RETRY_AFTER_SCALING_SECONDS
        )
    if code == "ValidationError" and _NOT_FOUND.search(message):
        return UpstreamRefused(
            503, "endpoint_unavailable", "the model endpoint is not available; retry later",
            RETRY_AFTER_SCALING_SECONDS,
        )
    if code in ("ThrottlingException", "TooManyRequestsException"):
        return UpstreamRefused(429, "throttled", "too many requests; retry later", RETRY_AFTER_THROTTLED_SECONDS)
    if code == "ServiceUnavailable":
        return UpstreamRefused(
            503, "service_unavailable", "SageMaker is unavailable; retry later", RETRY_AFTER_THROTTLED_SECONDS
        )
    if code == "ModelError":
        original_status = error.response.get("OriginalStatusCode")
        original_message = error.response.get("OriginalMessage") or message
        if isinstance(original_status, int) and 400 <= original_status < 500:
            # The container rejected the input itself (e.g. prompt plus max_new_tokens over the
            # model's context): the caller can fix it, so its message is passed on.
            return UpstreamRefused(422, "model_rejected_input", original_message)
        return UpstreamRefused(502, "model_error", "the model failed to start the generation")
    return UpstreamRefused(502, "upstream_error", "the model endpoint refused the request")


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
