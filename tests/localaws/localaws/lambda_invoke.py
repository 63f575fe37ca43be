"""Lambda `Invoke` forwarded to a running function process.

moto's own Invoke runs the code in docker. Here a test, the demo or an operator
registers an *invoke target* for a function (account, region, name): a URL that
takes the payload as an HTTP POST and answers with the function's result. Invoke of
that function then forwards the payload there and answers in Lambda's wire format:

* `RequestResponse` (default): `200`, the result as the body, `X-Amz-Executed-Version`;
  a function error is `200` with `X-Amz-Function-Error: Unhandled` and the error
  document (`{"errorType","errorMessage"}`) as the body.
* `Event`: `202`, empty body; the payload is forwarded in the background.
* `DryRun`: `204`, nothing forwarded.

The target signals a function error with an `X-Amz-Function-Error` header (its value
is passed on) or any non-2xx status; a target that does not answer is reported as the
function error `Runtime.Unavailable`. A function with neither a target nor a moto
definition is `404 ResourceNotFoundException` (`Function not found: arn…`); a function
moto knows but without a target is left to moto.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

from werkzeug.wrappers import Response

from localaws.admin import AdminError, body_json, require
from localaws.awsreq import AwsCall
from localaws.errors import error_response

DEFAULT_TIMEOUT_SECONDS = 900.0  # Lambda's maximum function timeout


class Targets:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.targets: dict[tuple[str, str, str], dict[str, Any]] = {}

    def reset(self) -> None:
        with self.lock:
            self.targets.clear()

    def get(self, account: str, region: str, function: str) -> dict[str, Any] | None:
        with self.lock:
            target = self.targets.get((account, region, function))
            return dict(target) if target else None

    def count(self, account: str, region: str, function: str) -> None:
        """Counts one invocation of a target (Invoke, or an EventBridge delivery)."""
        with self.lock:
            target = self.targets.get((account, region, function))
            if target is not None:
                target["invocations"] = target.get("invocations", 0) + 1

    def list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(t) for _, t in sorted(self.targets.items())]


STATE = Targets()


def _function_name(name_or_arn: str) -> tuple[str, str | None]:
    """Function name and qualifier from a name, a partial ARN or an ARN."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return (parts[6] if len(parts) > 6 else parts[-1]), (parts[7] if len(parts) > 7 else None)
    parts = name_or_arn.split(":")
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        return parts[2], (parts[3] if len(parts) > 3 else None)
    if len(parts) == 2:  # name:qualifier
        return parts[0], parts[1]
    return name_or_arn, None


def _arn(call: AwsCall, name: str) -> str:
    return f"arn:aws:lambda:{call.region}:{call.account}:function:{name}"


def _moto_knows(call: AwsCall, name: str) -> bool:
    from moto.awslambda.models import lambda_backends

    try:
        return name in lambda_backends[call.account][call.region]._lambdas._functions
    except Exception:
        return False


def forward(url: str, payload: bytes, timeout: float) -> tuple[bytes, str | None]:
    """POSTs the payload to the target: (body, function error or None)."""
    req = urllib.request.Request(url, data=payload, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read(), resp.headers.get("X-Amz-Function-Error")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return body, exc.headers.get("X-Amz-Function-Error") or "Unhandled"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        message = f"localaws: invoke target {url} did not answer: {reason}"
        return json.dumps({"errorType": "Runtime.Unavailable", "errorMessage": message}).encode(), \
            "Unhandled"


def invoke(call: AwsCall) -> Response | None:
    raw = call.uri_params.get("FunctionName") or call.params().get("FunctionName") or ""
    name, qualifier = _function_name(str(raw))
    qualifier = (call.query.get("Qualifier") or [qualifier])[0]
    target = STATE.get(call.account, call.region, name)
    if target is None:
        if _moto_knows(call, name):
            return None
        return error_response(call, "ResourceNotFoundException",
                              f"Function not found: {_arn(call, name)}", 404)
    invocation_type = call.headers.get("x-amz-invocation-type", "RequestResponse")
    headers = {"X-Amz-Executed-Version": qualifier if qualifier and qualifier.isdigit() else "$LATEST"}
    payload = call.body or b"{}"
    STATE.count(call.account, call.region, name)
    if invocation_type == "DryRun":
        return Response(b"", status=204, headers=headers)
    if invocation_type == "Event":
        threading.Thread(target=forward, args=(target["url"], payload, target["timeoutSeconds"]),
                         daemon=True).start()
        return Response(b"", status=202, headers=headers)
    body, function_error = forward(target["url"], payload, target["timeoutSeconds"])
    if function_error:
        headers["X-Amz-Function-Error"] = function_error
    return Response(body, status=200, headers=headers, content_type="application/json")


# -- admin -----------------------------------------------------------------------------
def admin_register(req) -> tuple[int, dict[str, Any]]:
    data = body_json(req)
    account, region, function, url = require(data, "account", "region", "function", "url")
    if not str(url).startswith(("http://", "https://")):
        raise AdminError("url must be an http:// or https:// URL")
    timeout = float(data.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS))
    if timeout <= 0:
        raise AdminError("timeoutSeconds must be > 0")
    target = {"account": str(account), "region": str(region), "function": str(function),
              "url": str(url), "timeoutSeconds": timeout, "invocations": 0}
    with STATE.lock:
        STATE.targets[(target["account"], target["region"], target["function"])] = target
    return 201, dict(target)


def admin_list(req) -> dict[str, Any]:
    return {"targets": STATE.list()}


def admin_delete(req) -> dict[str, Any]:
    filters = {k: req.args[k] for k in ("account", "region", "function") if req.args.get(k)}
    with STATE.lock:
        gone = [key for key, t in STATE.targets.items()
                if all(t[k] == v for k, v in filters.items())]
        for key in gone:
            del STATE.targets[key]
    return {"removed": len(gone)}


def register(app) -> None:
    app.on("lambda", "Invoke", invoke)
    app.on_reset(STATE.reset)
    app.admin.route("POST", "/lambda/invoke-targets", admin_register)
    app.admin.route("GET", "/lambda/invoke-targets", admin_list)
    app.admin.route("DELETE", "/lambda/invoke-targets", admin_delete)
