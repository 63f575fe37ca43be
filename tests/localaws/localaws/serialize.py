"""Serialize a result dict for an AWS operation using moto's model-driven serializers."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response



def serialize(service: str, operation: str, result: dict[str, Any],
              protocol: str | None = None, status: int | None = None) -> Response:
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model

    model = get_service_model(service)
    op_model = model.operation_model(operation)
    proto = protocol or model.protocol
    serializer = get_serializer_class(service, proto)(
        op_model, value_picker=XFormedAttributePicker())
    out = serializer.serialize(result)
    body = out["body"]
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = dict(out.get("headers") or {})
    headers.pop("Content-Length", None)
    return Response(body, status=status or out.get("status_code", 200), headers=headers)
