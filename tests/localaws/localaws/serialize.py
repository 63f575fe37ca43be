"""Serialize a result dict for an AWS operation using moto's model-driven serializers."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from localaws.awsreq import service_model


def serialize(service: str, operation: str, result: dict[str, Any],
              protocol: str | None = None, status: int | None = None) -> Response:
    from moto.core.serialize import get_serializer_class

    model = service_model(service)
    op_model = model.operation_model(operation)
    proto = protocol or model.protocol
    serializer = get_serializer_class(service, proto)(op_model)
    out = serializer.serialize(result)
    body = out["body"]
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = dict(out.get("headers") or {})
    headers.pop("Content-Length", None)
    return Response(body, status=status or out.get("status_code", 200), headers=headers)
