"""AWS event-stream framing, as SageMaker runtime's ``InvokeEndpointWithResponseStream`` sends it.

botocore's ``eventstream.py`` decodes it; nothing ships an encoder. A ``PayloadPart`` carries the
raw blob as its payload (the member is an ``eventpayload``); errors are exception frames with a
JSON payload (InvokeEndpointWithResponseStream API reference; botocore's sagemaker-runtime model).
"""

from __future__ import annotations

import binascii
import json
import struct


def _header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode("utf-8"), value.encode("utf-8")
    # type 7: string, with a u16 length.
    return struct.pack("!B", len(name_bytes)) + name_bytes + struct.pack("!BH", 7, len(value_bytes)) + value_bytes


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length), prelude CRC32,
    headers, payload, then the CRC32 of everything before it."""
    header_bytes = b"".join(_header(name, value) for name, value in headers.items())
    total_length = 4 + 4 + 4 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack("!II", total_length, len(header_bytes))
    message = prelude + struct.pack("!I", binascii.crc32(prelude)) + header_bytes + payload
    return message + struct.pack("!I", binascii.crc32(message))


def payload_part_frame(data: bytes) -> bytes:
    return encode_frame(
        {
            ":message-type": "event",
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
        },
        data,
    )


def exception_frame(exception_type: str, body: dict) -> bytes:
    return encode_frame(
        {
            ":message-type": "exception",
            ":exception-type": exception_type,
            ":content-type": "application/json",
        },
        json.dumps(body).encode("utf-8"),
    )
