"""AWS error responses in each wire protocol."""

from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

import cbor2
from werkzeug.wrappers import Response

from localaws.awsreq import AwsCall, service_model

XML_NS = {
    "route53": "https://route53.amazonaws.com/doc/2013-04-01/",
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "cloudwatch": "http://monitoring.amazonaws.com/doc/2010-08-01/",
}

# service -> (http status, error code, message) for throttling, where the
# generic rule (first modelled throttling error, else ThrottlingException) is wrong.
THROTTLE_OVERRIDES = {
    "lambda": (429, "TooManyRequestsException", "Rate exceeded"),
    "route53": (400, "Throttling", "Rate exceeded"),
    "cloudwatch": (400, "Throttling", "Rate exceeded"),
    "s3": (503, "SlowDown", "Please reduce your request rate."),
    "sns": (400, "Throttling", "Rate exceeded"),
    "sts": (400, "Throttling", "Rate exceeded"),
    "iam": (400, "Throttling", "Rate exceeded"),
    "ecr": (400, "ThrottlingException", "Rate exceeded"),
    "secretsmanager": (400, "ThrottlingException", "Rate exceeded"),
    "events": (400, "ThrottlingException", "Rate exceeded"),
    "scheduler": (429, "ThrottlingException", "Rate exceeded"),
}

# DynamoDB's 5xx errors: "Internal Server Error (HTTP 500)" InternalServerError and
# "Service Unavailable (HTTP 503)" ServiceUnavailable (Error handling with DynamoDB —
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
SERVER_ERROR_CODES = {
    "dynamodb": {500: "InternalServerError", 503: "ServiceUnavailable"},
    "lambda": {500: "ServiceException", 503: "ServiceException"},
    "s3": {500: "InternalError", 503: "ServiceUnavailable"},
    "route53": {500: "InternalFailure", 503: "ServiceUnavailable"},
}


def request_id() -> str:
    return str(uuid.uuid4())


def throttle_spec(service: str | None) -> tuple[int, str, str]:
    if service in THROTTLE_OVERRIDES:
        return THROTTLE_OVERRIDES[service]
    return (400, "ThrottlingException", "Rate exceeded")


def server_error_code(service: str | None, status: int) -> str:
    codes = SERVER_ERROR_CODES.get(service or "", {})
    if status in codes:
        return codes[status]
    return "ServiceUnavailable" if status == 503 else "InternalFailure"


def _json_version(service: str) -> str:
    try:
        return service_model(service).metadata.get("jsonVersion", "1.1")
    except Exception:
        return "1.1"


def _query_compatible_code(service: str, code: str) -> str | None:
    """For awsQueryCompatible services: the Query error code of a modelled error."""
    try:
        m = service_model(service)
        if m.metadata.get("awsQueryCompatible") is None:
            return None
        try:
            shape = m.shape_for(code)
            return shape.metadata.get("error", {}).get("code", code)
        except Exception:
            return code
    except Exception:
        return None


def _cbor_error_shape_name(service: str, code: str) -> tuple[str, str]:
    """(shape name, message member name) of a modelled error: by shape name, then query code."""
    m = service_model(service)
    exceptions = [m.shape_for(n) for n in m.shape_names]
    exceptions = [s for s in exceptions if s.metadata.get("exception")]
    match = next((s for s in exceptions if s.name == code), None)
    if match is None:
        match = next((s for s in exceptions
                      if s.metadata.get("error", {}).get("code") == code), None)
    if match is None:
        return code, "message"
    member = "message"
    for mname in getattr(match, "members", {}):
        if mname.lower() == "message":
            member = mname
    return match.name, member


def cbor_error(service: str, code: str, message: str, status: int,
               sender: bool = True, extra_headers: dict | None = None) -> Response:
    namespace = f"com.amazonaws.{service}"
    try:
        shape, member = _cbor_error_shape_name(service, code)
    except Exception:
        shape, member = code, "message"
    body = cbor2.dumps({"__type": f"{namespace}#{shape}", member: message})
    headers = {
        "Content-Type": "application/cbor",
        "smithy-protocol": "rpc-v2-cbor",
        "x-amzn-RequestId": request_id(),
    }
    q = _query_compatible_code(service, code)
    if q:
        headers["x-amzn-query-error"] = f"{q};{'Sender' if sender else 'Receiver'}"
    headers.update(extra_headers or {})
    return Response(body, status=status, headers=headers)


def error_response(call: AwsCall, code: str, message: str, status: int = 400,
                   sender: bool | None = None, extra_headers: dict | None = None,
                   lambda_type: str | None = None) -> Response:
    """An error exactly as the service's protocol carries it."""
    if sender is None:
        sender = status < 500
    service = call.service or "unknown"
    rid = request_id()
    headers = {"x-amzn-RequestId": rid}
    headers.update(extra_headers or {})
    proto = call.protocol
    if proto == "smithy-rpc-v2-cbor":
        return cbor_error(service, code, message, status, sender, headers)
    if proto == "rest-json":
        body: dict = {"message": message}
        if service == "lambda":
            body = {"Type": lambda_type or ("User" if sender else "Service"), "message": message}
        headers["x-amzn-errortype"] = code
        return Response(json.dumps(body), status=status, headers=headers,
                        content_type="application/json")
    if proto == "json":
        body = {"__type": code, "message": message}
        q = _query_compatible_code(service, code)
        if q:
            headers["x-amzn-query-error"] = f"{q};{'Sender' if sender else 'Receiver'}"
        return Response(json.dumps(body), status=status, headers=headers,
                         content_type=f"application/x-amz-json-{_json_version(service)}")
    if proto == "ec2":
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
               f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
               f"</Error></Errors><RequestID>{rid}</RequestID></Response>")
        return Response(xml, status=status, headers=headers, content_type="text/xml")
    if service == "s3":
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
               f"<Message>{escape(message)}</Message><RequestId>{rid}</RequestId></Error>")
        return Response(xml, status=status, headers=headers, content_type="application/xml")
    ns = XML_NS.get(service)
    ns_attr = f' xmlns="{ns}"' if ns else ""
    xml = (f'<?xml version="1.0"?>\n<ErrorResponse{ns_attr}><Error>'
           f"<Type>{'Sender' if sender else 'Receiver'}</Type><Code>{escape(code)}</Code>"
           f"<Message>{escape(message)}</Message></Error>"
           f"<RequestId>{rid}</RequestId></ErrorResponse>")
    return Response(xml, status=status, headers=headers, content_type="text/xml")


# Lambda's invocations are throttled by concurrency, not by a request rate: an injected
# `throttle` on one answers as Lambda does when the function's reserved concurrency is
# exhausted (`TooManyRequestsException`, 429, `Reason` one of `ThrottleReason`:
# https://docs.aws.amazon.com/botocore/latest/reference/services/lambda/client/exceptions/TooManyRequestsException.html ;
# Invoke's errors: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
LAMBDA_INVOCATIONS = ("Invoke", "InvokeWithResponseStream", "InvokeAsync")
RESERVED_CONCURRENCY_THROTTLE = {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                                 "Type": "User", "message": "Rate Exceeded."}


def throttle_response(call: AwsCall) -> Response:
    status, code, message = throttle_spec(call.service)
    extra = {"Retry-After": "1"} if call.service == "lambda" else None
    if call.service == "lambda" and call.operation in LAMBDA_INVOCATIONS:
        headers = {"x-amzn-RequestId": request_id(), "x-amzn-errortype": code, **(extra or {})}
        return Response(json.dumps(RESERVED_CONCURRENCY_THROTTLE), status=status, headers=headers,
                        content_type="application/json")
    return error_response(call, code, message, status, sender=True, extra_headers=extra)


def server_error_response(call: AwsCall, status: int = 500, code: str | None = None,
                          message: str | None = None) -> Response:
    code = code or server_error_code(call.service, status)
    message = message or ("Service Unavailable" if status == 503 else "Internal Failure")
    return error_response(call, code, message, status, sender=False)
