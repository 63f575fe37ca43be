"""Identify an incoming AWS request: credentials, account, region, service, operation.

Routing follows moto's server: the SigV4 credential scope names the service
(signing name) and the region. The account comes from the access key id (see
README): a 12-digit run inside the key is the account; otherwise moto's own
IAM/STS key lookup; otherwise moto's default account.
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any
from urllib.parse import parse_qs

import botocore.session

from moto.core import DEFAULT_ACCOUNT_ID

_session = botocore.session.get_session()

CRED_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
ACCOUNT_IN_KEY_RE = re.compile(r"(\d{12})")

# signing name -> botocore service name, where they differ
SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "eventbridge": "events",
    "email": "ses",
    "states": "stepfunctions",
    "execute-api": "apigateway",
    "elasticfilesystem": "efs",
    "tagging": "resourcegroupstaggingapi",
    "cognito-idp": "cognito-idp",
}


@functools.lru_cache(maxsize=None)
def service_model(name: str):
    return _session.get_service_model(name)


@functools.lru_cache(maxsize=None)
def service_for_signing_name(signing: str) -> str:
    name = SIGNING_TO_SERVICE.get(signing, signing)
    try:
        service_model(name)
        return name
    except Exception:
        pass
    for svc in _session.get_available_services():
        try:
            m = service_model(svc)
        except Exception:
            continue
        if m.signing_name == signing or m.endpoint_prefix == signing:
            return svc
    return name


def account_for_access_key(access_key: str | None) -> str:
    if not access_key:
        return DEFAULT_ACCOUNT_ID
    m = ACCOUNT_IN_KEY_RE.search(access_key)
    if m:
        return m.group(1)
    try:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(access_key)
    except Exception:  # pragma: no cover - defensive
        return DEFAULT_ACCOUNT_ID


def protocol_of(service: str, content_type: str, path: str, headers: dict) -> str:
    if headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor" or (
        path.startswith("/service/") and "/operation/" in path
    ):
        return "smithy-rpc-v2-cbor"
    try:
        m = service_model(service)
    except Exception:
        return "unknown"
    protocols = m.metadata.get("protocols", [m.protocol])
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct.startswith("application/x-amz-json") and "json" in protocols:
        return "json"
    if ct == "application/x-www-form-urlencoded":
        if "ec2" in protocols:
            return "ec2"
        if "query" in protocols:
            return "query"
    if m.protocol == "smithy-rpc-v2-cbor":
        return "query" if "query" in protocols else m.protocol
    return m.protocol


class AwsCall:
    """One AWS API request as seen by the dispatcher (body already buffered)."""

    def __init__(self, environ: dict[str, Any], body: bytes):
        self.environ = environ
        self.body = body
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "/")
        self.query_string = environ.get("QUERY_STRING", "")
        self.query = parse_qs(self.query_string, keep_blank_values=True)
        self.headers = {
            k[5:].replace("_", "-").lower(): v
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            self.headers["content-type"] = environ["CONTENT_TYPE"]
        self.content_type = environ.get("CONTENT_TYPE", "")
        auth = self.headers.get("authorization", "")
        if not auth and "X-Amz-Credential" in self.query:  # presigned URL
            auth = "Credential=" + self.query["X-Amz-Credential"][0]
        m = CRED_RE.search(auth)
        self.signed = bool(m)
        if m:
            self.access_key = m.group(1)
            self.region = m.group(3)
            self.signing_name = m.group(4).lower()
        else:
            self.access_key = None
            self.region = "us-east-1"
            self.signing_name = None
        self.service = (
            service_for_signing_name(self.signing_name) if self.signing_name else None
        )
        explicit = self.headers.get("x-moto-account-id")
        self.account = explicit or account_for_access_key(self.access_key)
        self.protocol = (
            protocol_of(self.service, self.content_type, self.path, self.headers)
            if self.service
            else "unknown"
        )
        self._operation: str | None = None
        self._uri_params: dict[str, Any] = {}
        self._op_resolved = False
        self._params: dict[str, Any] | None = None

    # -- operation -----------------------------------------------------
    def rewind(self) -> None:
        self.environ["wsgi.input"] = io.BytesIO(self.body)
        self.environ["CONTENT_LENGTH"] = str(len(self.body))

    @property
    def operation(self) -> str | None:
        if not self._op_resolved:
            self._op_resolved = True
            try:
                self._operation = self._resolve_operation()
            except Exception:
                self._operation = None
            self.rewind()
        return self._operation

    def _form(self) -> dict[str, list[str]]:
        if self.content_type.startswith("application/x-www-form-urlencoded"):
            try:
                return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
            except Exception:
                return {}
        return {}

    def _resolve_operation(self) -> str | None:
        if self.protocol == "smithy-rpc-v2-cbor":
            parts = self.path.strip("/").split("/")
            if len(parts) >= 4 and parts[0] == "service" and parts[2] == "operation":
                return parts[3]
        target = self.headers.get("x-amz-target")
        if target:
            return target.split(".")[-1]
        form = self._form()
        if "Action" in form:
            return form["Action"][0]
        if "Action" in self.query:
            return self.query["Action"][0]
        if not self.service:
            return None
        from moto.core.request import Request
        from moto.core.routing import get_service_router

        self.rewind()
        req = Request(dict(self.environ))
        op, params = get_service_router(self.service).match(req)
        self._uri_params = params
        return op.name

    # -- parameters ------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The request parsed per botocore's input shape (moto's request parsers)."""
        if self._params is not None:
            return self._params
        self._params = {}
        op = self.operation
        if not op or not self.service:
            return self._params
        if self.protocol == "smithy-rpc-v2-cbor":
            from localaws.cloudwatch_cbor import decode_request

            self._params = decode_request(self.service, op, self.body)
            return self._params
        from moto.core.parse import PROTOCOL_PARSERS
        from moto.core.request import Request

        try:
            model = service_model(self.service)
            op_model = model.operation_model(op)
            parser = PROTOCOL_PARSERS[self.protocol](op_model)
            self.rewind()
            req = Request(dict(self.environ))
            parsed = parser.parse(
                {
                    "method": req.method,
                    "values": req.values,
                    "headers": req.headers,
                    "body": self.body,
                    "url_path": req.path,
                    "url_params": self._uri_params,
                }
            )
            self._params = _plain(parsed)
        except Exception:
            self._params = {}
        finally:
            self.rewind()
        return self._params

    @property
    def uri_params(self) -> dict[str, Any]:
        _ = self.operation
        return self._uri_params


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
