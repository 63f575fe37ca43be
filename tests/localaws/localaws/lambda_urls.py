"""Lambda function URLs: configured through the Lambda API, served by the local world.

`CreateFunctionUrlConfig`, `GetFunctionUrlConfig` and `DeleteFunctionUrlConfig` are answered
here for any function the world can invoke (one with an invoke target, see
`lambda_invoke`, or one moto knows), with a `FunctionUrl` that points into the local world
(`http://HOST/_localaws/lambda-url/<id>/`) instead of `https://<id>.lambda-url.<region>.on.aws`.

A request to that URL is handled as Lambda handles one
(https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html,
https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html):

* `AWS_IAM`: the request must be signed with SigV4 for service `lambda` and the URL's
  region, by credentials the world knows: a temporary key from STS `AssumeRole` (its
  secret and session token), an IAM user's key, or the harness's per-account keys
  (`LK<account>XX`, secret `local-secret`). A missing, malformed, stale (more than 15
  minutes off) or wrong signature is `403 {"Message": ...}`, and the function is not run.
  IAM policies are not evaluated (moto does not), so any known principal is let through:
  the function decides what its caller may do.
* The caller is resolved as AWS resolves it: an assumed-role key is
  `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, a user's key the user's ARN, a harness
  key its account's root (`arn:aws:iam::ACCOUNT:root`).
* The function gets the payload format 2.0 event (`requestContext.authorizer.iam.userArn`
  etc.; the body as text for JSON and text content types, base64 otherwise) through its
  invoke target, and its answer becomes the HTTP response: `{statusCode, headers, body,
  isBase64Encoded}` as given, any other JSON as a 200 `application/json` body, a function
  error as `502 {"Message": "Internal Server Error"}`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import threading
import uuid
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from localaws import lambda_invoke
from localaws.awsreq import AwsCall, account_for_access_key
from localaws.errors import error_response

#: The secret of the harness's per-account access keys (testkit's `SECRET_KEY`).
HARNESS_SECRET = "local-secret"
HARNESS_KEY_RE = re.compile(r"^LK(\d{12})XX$")
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$")
MAX_SKEW = datetime.timedelta(minutes=15)


class Urls:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.by_function: dict[tuple[str, str, str], dict[str, Any]] = {}

    def reset(self) -> None:
        with self.lock:
            self.by_function.clear()

    def find(self, url_id: str) -> dict[str, Any] | None:
        with self.lock:
            for config in self.by_function.values():
                if config["id"] == url_id:
                    return dict(config)
        return None


STATE = Urls()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _function(call: AwsCall) -> tuple[str, str] | Response:
    raw = call.uri_params.get("FunctionName") or call.params().get("FunctionName") or ""
    name, _ = lambda_invoke._function_name(str(raw))
    arn = lambda_invoke._arn(call, name)
    if lambda_invoke.STATE.get(call.account, call.region, name) is None \
            and not lambda_invoke._moto_knows(call, name):
        return error_response(call, "ResourceNotFoundException", f"Function not found: {arn}", 404)
    return name, arn


def _answer(config: dict[str, Any], status: int) -> Response:
    body = {k: config[k] for k in ("FunctionUrl", "FunctionArn", "AuthType", "CreationTime",
                                   "LastModifiedTime", "InvokeMode")}
    return Response(json.dumps(body), status=status, content_type="application/json")


def create(call: AwsCall) -> Response:
    found = _function(call)
    if isinstance(found, Response):
        return found
    name, arn = found
    auth = call.params().get("AuthType")
    if auth not in ("AWS_IAM", "NONE"):
        return error_response(call, "ValidationException",
                              "1 validation error detected: Value at 'authType' failed to satisfy "
                              "constraint: Member must satisfy enum value set: [NONE, AWS_IAM]")
    key = (call.account, call.region, name)
    host = call.headers.get("host", "127.0.0.1")
    with STATE.lock:
        if key in STATE.by_function:
            return error_response(call, "ResourceConflictException",
                                  f"Failed to create function url config for [functionArn = {arn}]. "
                                  "Error message:  FunctionUrlConfig exists for this Lambda function",
                                  409)
        url_id = uuid.uuid4().hex
        config = {"id": url_id, "account": call.account, "region": call.region, "function": name,
                  "FunctionUrl": f"http://{host}/_localaws/lambda-url/{url_id}/",
                  "FunctionArn": arn, "AuthType": auth, "CreationTime": _now(),
                  "LastModifiedTime": _now(),
                  "InvokeMode": call.params().get("InvokeMode") or "BUFFERED"}
        STATE.by_function[key] = config
    return _answer(config, 201)


def get(call: AwsCall) -> Response:
    found = _function(call)
    if isinstance(found, Response):
        return found
    name, _ = found
    with STATE.lock:
        config = STATE.by_function.get((call.account, call.region, name))
    if config is None:
        return error_response(call, "ResourceNotFoundException",
                              "The resource you requested does not exist.", 404)
    return _answer(config, 200)


def delete(call: AwsCall) -> Response:
    found = _function(call)
    if isinstance(found, Response):
        return found
    name, _ = found
    with STATE.lock:
        gone = STATE.by_function.pop((call.account, call.region, name), None)
    if gone is None:
        return error_response(call, "ResourceNotFoundException",
                              "The resource you requested does not exist.", 404)
    return Response(b"", status=204)


# -- serving the URL ---------------------------------------------------------------------
def _denied(message: str) -> Response:
    return Response(json.dumps({"Message": message}), status=403, content_type="application/json")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        k, _, v = part.partition("=")
        pairs.append((quote(k, safe="-_.~%"), quote(v, safe="-_.~%")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _identity(access_key: str, token: str | None) -> tuple[str, str, str] | None:
    """(secret, caller ARN, caller account) of a key the world knows, else None."""
    harness = HARNESS_KEY_RE.match(access_key)
    if harness:
        account = harness.group(1)
        return HARNESS_SECRET, f"arn:aws:iam::{account}:root", account
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account, partitions in list(sts_backends.items()):
        for backend in list(partitions.values()):
            for role in list(getattr(backend, "assumed_roles", [])):
                if role.access_key_id == access_key:
                    if token != role.session_token:
                        return None
                    return role.secret_access_key, role.arn, role.account_id
    for account, partitions in list(iam_backends.items()):
        for backend in list(partitions.values()):
            user = backend.get_user_from_access_key_id(access_key)
            if user is not None:
                for key in user.access_keys:
                    if key.access_key_id == access_key:
                        return key.secret_access_key, user.arn, user.account_id
    return None


def verify(req: Request, body: bytes, region: str) -> tuple[str, str, str] | Response:
    """Checks the request's SigV4 signature (service `lambda`, `region`): the caller's
    (access key, ARN, account), or the 403 Lambda answers."""
    auth = AUTH_RE.match(req.headers.get("Authorization", "").strip())
    amz_date = req.headers.get("X-Amz-Date", "")
    if not auth or not amz_date:
        return _denied("Forbidden")
    if auth["service"] != "lambda" or auth["region"] != region:
        return _denied(f"Credential should be scoped to a valid region and service 'lambda' "
                       f"in {region}, not '{auth['region']}/{auth['service']}'.")
    try:
        at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return _denied("Forbidden")
    if abs(datetime.datetime.now(datetime.timezone.utc) - at) > MAX_SKEW \
            or auth["date"] != amz_date[:8]:
        return _denied("Signature expired: the request's date is more than 15 minutes "
                       "away from the server's time.")
    signed = auth["signed"].split(";")
    if "host" not in signed:
        return _denied("Forbidden")
    token = req.headers.get("X-Amz-Security-Token")
    known = _identity(auth["key"], token)
    if known is None:
        return _denied("The security token included in the request is invalid.")
    secret, caller, account = known
    headers = "".join(f"{h}:{' '.join(req.headers.get(h, '').split())}\n" for h in signed)
    payload_hash = req.headers.get("X-Amz-Content-Sha256") or hashlib.sha256(body).hexdigest()
    path = quote(req.path, safe="/-_.~")
    canonical = "\n".join([req.method, path, _canonical_query(req.query_string.decode()),
                           headers, auth["signed"], payload_hash])
    scope = f"{auth['date']}/{region}/lambda/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), auth["date"]), region), "lambda"),
                "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, auth["signature"]):
        return _denied("The request signature we calculated does not match the signature you "
                       "provided. Check your AWS Secret Access Key and signing method.")
    return auth["key"], caller, account


def event(config: dict[str, Any], req: Request, body: bytes, url_id: str,
          caller: tuple[str, str, str] | None) -> dict[str, Any]:
    """The payload format 2.0 event Lambda hands a function for a URL request."""
    now = datetime.datetime.now(datetime.timezone.utc)
    content_type = req.headers.get("Content-Type", "")
    textual = not body or content_type.startswith(("text/", "application/json",
                                                   "application/xml",
                                                   "application/x-www-form-urlencoded"))
    context: dict[str, Any] = {
        "accountId": "anonymous" if caller is None else caller[2],
        "apiId": url_id,
        "domainName": req.host,
        "domainPrefix": url_id,
        "http": {"method": req.method, "path": req.path, "protocol": "HTTP/1.1",
                 "sourceIp": req.remote_addr or "127.0.0.1",
                 "userAgent": req.headers.get("User-Agent", "")},
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if caller is not None:
        access_key, arn, account = caller
        session = arn.rsplit("/", 1)[-1]
        context["authorizer"] = {"iam": {"accessKey": access_key, "accountId": account,
                                         "callerId": session, "cognitoIdentity": None,
                                         "principalOrgId": None, "userArn": arn,
                                         "userId": session}}
    out: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": req.query_string.decode(),
        "headers": {k.lower(): v for k, v in req.headers.items()},
        "requestContext": context,
        "isBase64Encoded": not textual,
    }
    if body:
        out["body"] = body.decode() if textual else base64.b64encode(body).decode()
    return out


def serve(req: Request, url_id: str, rest: str | None = None) -> Response:
    config = STATE.find(url_id)
    if config is None:
        return Response(json.dumps({"Message": "Not Found"}), status=404,
                        content_type="application/json")
    body = req.get_data()
    caller = None
    if config["AuthType"] == "AWS_IAM":
        checked = verify(req, body, config["region"])
        if isinstance(checked, Response):
            return checked
        caller = checked
    target = lambda_invoke.STATE.get(config["account"], config["region"], config["function"])
    if target is None:
        return Response(json.dumps({"Message": "Internal Server Error"}), status=502,
                        content_type="application/json")
    lambda_invoke.STATE.count(config["account"], config["region"], config["function"])
    payload = json.dumps(event(config, req, body, url_id, caller)).encode()
    answer, function_error = lambda_invoke.forward(target["url"], payload,
                                                   target["timeoutSeconds"])
    if function_error:
        return Response(json.dumps({"Message": "Internal Server Error"}), status=502,
                        content_type="application/json")
    try:
        result = json.loads(answer or b"null")
    except ValueError:
        return Response(answer, status=200, content_type="application/json")
    if isinstance(result, dict) and "statusCode" in result:
        data = result.get("body") or ""
        raw = base64.b64decode(data) if result.get("isBase64Encoded") else str(data).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        headers.setdefault("Content-Type", "application/json")
        return Response(raw, status=int(result["statusCode"]), headers=headers)
    return Response(json.dumps(result), status=200, content_type="application/json")


def register(app) -> None:
    app.on("lambda", "CreateFunctionUrlConfig", create)
    app.on("lambda", "GetFunctionUrlConfig", get)
    app.on("lambda", "DeleteFunctionUrlConfig", delete)
    app.on_reset(STATE.reset)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        app.admin.route(method, r"/lambda-url/(?P<url_id>[0-9a-f]{32})(?P<rest>/.*)?", serve)
