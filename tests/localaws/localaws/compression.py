"""Request compression: AWS SDKs gzip large request bodies of operations that allow it
(CloudWatch `PutMetricData`: `Content-Encoding: gzip` once the body reaches 10 KiB by
default). The service reads the body uncompressed, and limits such as PutMetricData's
1 MB apply to the request as sent, so both are kept.
"""

from __future__ import annotations

import gzip
import zlib

WIRE_LENGTH = "localaws.wire_length"


def inflate(environ: dict, body: bytes, service: str | None) -> bytes:
    """The body as the service reads it; records the size sent in `environ[WIRE_LENGTH]`.
    S3 keeps `Content-Encoding` as object metadata, so its bodies are left alone."""
    environ[WIRE_LENGTH] = len(body)
    encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if service == "s3" or encoding != "gzip" or not body.startswith(b"\x1f\x8b"):
        return body
    try:
        plain = gzip.decompress(body)
    except (OSError, EOFError, zlib.error):
        return body
    environ.pop("HTTP_CONTENT_ENCODING", None)
    return plain
