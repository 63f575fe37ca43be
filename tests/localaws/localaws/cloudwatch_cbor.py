"""Smithy RPC v2 CBOR for CloudWatch, translated onto moto's awsJson1_0 handler.

Request:  POST /service/GraniteServiceVersion20100801/operation/{Op}
          smithy-protocol: rpc-v2-cbor, Content-Type: application/cbor, CBOR body
The body is decoded against the operation's input shape (botocore model), re-encoded
as awsJson1_0 (botocore's own JSON serializer), passed to moto, and moto's JSON
answer is parsed against the output shape (botocore's JSON parser) and re-encoded
as CBOR: timestamps as tag 1 epoch seconds (double), blobs as byte strings,
doubles as floats, integers as integers. Errors carry `__type` (shape id) and the
awsQueryCompatible `x-amzn-query-error` header.
"""

from __future__ import annotations

import base64
import io
import uuid
from datetime import datetime, timezone
from typing import Any

import cbor2
import botocore.parsers
import botocore.serialize
from werkzeug.wrappers import Response

from localaws.awsreq import AwsCall, service_model
from localaws.errors import cbor_error

SERVICE = "cloudwatch"


class CborInputError(ValueError):
    pass


# -- shape-driven conversion ---------------------------------------------------------
def _to_datetime(value: Any) -> datetime:
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        value = value.value
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), timezone.utc)
    if isinstance(value, str):
        from dateutil.parser import isoparse

        return isoparse(value)
    raise CborInputError(f"not a timestamp: {value!r}")


def from_cbor(shape, value: Any) -> Any:
    """CBOR-decoded value -> botocore-style Python value for `shape`."""
    if value is None:
        return None
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise CborInputError(f"expected a map for {shape.name}")
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = from_cbor(member, value[name])
        return out
    if t == "list":
        if not isinstance(value, list):
            raise CborInputError(f"expected an array for {shape.name}")
        return [from_cbor(shape.member, v) for v in value]
    if t == "map":
        return {str(k): from_cbor(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        return _to_datetime(value)
    if t in ("double", "float"):
        return float(value)
    if t in ("integer", "long", "short", "byte"):
        return int(value)
    if t == "boolean":
        return bool(value)
    if t == "blob":
        return bytes(value) if isinstance(value, (bytes, bytearray)) else base64.b64decode(value)
    return value


def to_cbor(shape, value: Any) -> Any:
    """botocore-style Python value -> CBOR-ready value for `shape`."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = to_cbor(member, value[name])
        return out
    if t == "list":
        return [to_cbor(shape.member, v) for v in value]
    if t == "map":
        return {str(k): to_cbor(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        return cbor2.CBORTag(1, float(_to_datetime(value).timestamp()))
    if t in ("double", "float"):
        return float(value)
    if t in ("integer", "long", "short", "byte"):
        return int(value)
    if t == "boolean":
        return bool(value)
    if t == "blob":
        return value if isinstance(value, bytes) else str(value).encode("utf-8")
    return str(value) if value is not None else None


def decode_request(service: str, operation: str, body: bytes) -> dict[str, Any]:
    op_model = service_model(service).operation_model(operation)
    if not body:
        return {}
    raw = cbor2.loads(body)
    if op_model.input_shape is None:
        return {}
    return from_cbor(op_model.input_shape, raw) or {}


def encode_output(service: str, operation: str, result: dict[str, Any]) -> bytes:
    op_model = service_model(service).operation_model(operation)
    if op_model.output_shape is None:
        return b""
    return cbor2.dumps(to_cbor(op_model.output_shape, result))


# -- handler ------------------------------------------------------------------------------
def _cbor_response(body: bytes, status: int = 200) -> Response:
    headers = {"smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": str(uuid.uuid4())}
    if body:
        headers["Content-Type"] = "application/cbor"
    return Response(body, status=status, headers=headers)


def handle(app, call: AwsCall) -> Response | None:
    if call.protocol != "smithy-rpc-v2-cbor":
        return None
    model = service_model(SERVICE)
    op = call.operation
    if call.method != "POST":
        return cbor_error(SERVICE, "UnknownOperationException", "RPC v2 requires POST", 405)
    parts = call.path.strip("/").split("/")
    if len(parts) != 4 or parts[1] != model.metadata.get("targetPrefix"):
        return cbor_error(SERVICE, "UnknownOperationException", f"unknown service in path {call.path}", 404)
    if op not in model.operation_names:
        return cbor_error(SERVICE, "UnknownOperationException", f"unknown operation {op}", 404)
    try:
        params = call.params()
    except Exception as exc:
        return cbor_error(SERVICE, "SerializationException", f"could not decode CBOR body: {exc}", 400)
    result = invoke_json(app, call, op, params)
    return result


def invoke_json(app, call: AwsCall, op: str, params: dict[str, Any]) -> Response:
    """Run `op` through moto's awsJson1_0 handler and answer in CBOR."""
    model = service_model(SERVICE)
    op_model = model.operation_model(op)
    serializer = botocore.serialize.create_serializer("json", include_validation=False)
    request = serializer.serialize_to_request(params, op_model)
    body = request["body"]
    if isinstance(body, str):
        body = body.encode("utf-8")
    env = dict(call.environ)
    for k in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "HTTP_CONTENT_ENCODING"):
        env.pop(k, None)
    env.update({
        "PATH_INFO": "/", "RAW_URI": "/", "REQUEST_URI": "/", "QUERY_STRING": "",
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": request["headers"].get("Content-Type", "application/x-amz-json-1.0"),
        "HTTP_X_AMZ_TARGET": request["headers"]["X-Amz-Target"],
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
    })
    result = app.call_moto(env)
    headers = {k.lower(): v for k, v in result.headers}
    parser = botocore.parsers.create_parser("json")
    parsed = parser.parse({"status_code": result.status, "headers": headers,
                           "body": result.body}, op_model.output_shape)
    if result.status >= 300:
        err = parsed.get("Error", {})
        code = err.get("Code") or ("InternalFailure" if result.status >= 500 else "ValidationError")
        code = code.split("#")[-1]
        return cbor_error(SERVICE, code, err.get("Message", ""), result.status,
                          sender=result.status < 500)
    parsed.pop("ResponseMetadata", None)
    return _cbor_response(encode_output(SERVICE, op, parsed))


def register(app) -> None:
    model = service_model(SERVICE)
    for op in model.operation_names:
        app.on(SERVICE, op, lambda call, _app=app: handle(_app, call))
