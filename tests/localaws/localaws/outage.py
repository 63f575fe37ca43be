"""Region outage: a switch that darkens a whole AWS Region, as AWS fails when a Region is
impaired (AWS Fault Isolation Boundaries: a failure stays inside its Region; a global
service's control plane lives in one Region, its data plane everywhere).

While a Region is dark:

* every signed API call served by that Region fails before it takes effect. The serving
  Region is the SigV4 credential scope's Region, except for global services whose control
  plane (every API call) lives in one Region whatever Region a client signs for
  (`GLOBAL_CONTROL_PLANES`: Route 53, IAM, Organizations, Account, CloudFront in
  us-east-1). STS is Regional: a call signed for `us-east-1` (the global endpoint or
  `sts.us-east-1`) fails with us-east-1, a call to another Regional endpoint does not.
  Modes: `timeout` (default) holds the connection without answering until the client gives
  up (its own attempt timeout) or `holdSeconds` pass, then closes it; `error` answers
  `503 ServiceUnavailable` (or 500 `InternalFailure`) in the service's protocol; `reset`
  closes the connection without an answer. The call log records outcome `outage`.
* Route 53's data plane keeps working: the admin resolver and health-check views are not
  API calls and answer as before. `endpoints` given with the switch are the Region's own
  public endpoints: they fail their health checks until the Region comes back, and a
  request to them through `service_endpoints.py` fails in the switch's mode.
* the rest of the world consults `is_dark(region)`: EventBridge deliveries to Lambda
  functions in a dark Region fail (retried, then failed), event-bus forwards into or out
  of a dark Region are not delivered, alarms in a dark Region are not evaluated.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from typing import Any

from werkzeug.wrappers import Response

from localaws.admin import AdminError, body_json
from localaws.awsreq import AwsCall
from localaws.errors import server_error_response

MODES = ("timeout", "error", "reset")
# A little over the product's 5 s attempt timeout (shared::aws::ATTEMPT_TIMEOUT): an SDK
# configured like the product gives up on every attempt by its own timer, as against a
# Region that does not answer. The hold ends as soon as the client closes the connection,
# so a worker thread is held no longer than the client waits, and never longer than this.
DEFAULT_HOLD_SECONDS = 6.0
MAX_HOLD_SECONDS = 120.0
POLL_SECONDS = 0.05
# Global services: one control plane, in this Region, serves every API call.
GLOBAL_CONTROL_PLANES = {
    "route53": "us-east-1",
    "iam": "us-east-1",
    "organizations": "us-east-1",
    "account": "us-east-1",
    "cloudfront": "us-east-1",
}
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# What Route 53's health checkers report for an endpoint that stopped answering.
ENDPOINT_REASON = ("Connection timed out. The endpoint or the internet connection is down, "
                   "or requests are being blocked by your firewall.")


class OutageState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.regions: dict[str, dict[str, Any]] = {}
        self.holds = {"heldNow": 0, "held": 0, "clientGone": 0, "holdExpired": 0}

    def reset(self) -> None:
        # /reset clears Route 53's endpoint states itself: nothing to restore here.
        with self.lock:
            self.regions.clear()
            self.holds = {"heldNow": 0, "held": 0, "clientGone": 0, "holdExpired": 0}


STATE = OutageState()


def is_dark(region: str | None) -> bool:
    """Whether `region` is dark. For the world's own activity in a Region (deliveries,
    alarm evaluation, schedules): skip or fail it when this is true."""
    if not region:
        return False
    with STATE.lock:
        return region in STATE.regions


def serving_region(call: AwsCall) -> str:
    """The Region whose availability decides the call."""
    return GLOBAL_CONTROL_PLANES.get(call.service or "", call.region)


def unavailable_message(region: str) -> str:
    return f"Region {region} is unavailable (localaws region outage)"


def lambda_unavailable(region: str) -> bytes:
    """The error document of an invocation the dark Region's Lambda did not run."""
    return json.dumps({"errorType": "ServiceUnavailable",
                       "errorMessage": unavailable_message(region)}).encode()


def intercept(call: AwsCall, entry: dict[str, Any]) -> Response | None:
    """The dispatcher's hook: None when the serving Region is up; otherwise the error
    answer (mode `error`), or the connection is held and/or closed without one."""
    region = serving_region(call)
    with STATE.lock:
        spec = dict(STATE.regions[region]) if region in STATE.regions else None
    if spec is None:
        return None
    entry["outcome"] = "outage"
    if spec["mode"] == "error":
        return server_error_response(call, spec["status"])
    fail_connection(call.environ, spec, "region outage")
    return None  # not reached: fail_connection raises


def _client_gone(sock: socket.socket, wait: float) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], wait)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def dark_spec(region: str | None) -> dict[str, Any] | None:
    """A copy of the dark Region's switch (mode, holdSeconds, status), or None."""
    with STATE.lock:
        spec = STATE.regions.get(region or "")
        return dict(spec) if spec is not None else None


def fail_connection(environ: dict[str, Any], spec: dict[str, Any], why: str) -> None:
    """The `timeout` and `reset` modes on any request of this server (AWS API calls, and
    service_endpoints' plain HTTP): hold the connection (timeout), then close it without
    an answer. Always raises (dispatch.DropConnection)."""
    if spec["mode"] == "timeout":
        hold_connection(environ, spec["holdSeconds"])
    _close(environ, why)


def hold_connection(environ: dict[str, Any], seconds: float) -> None:
    """Answers nothing until the client closes the connection or `seconds` pass."""
    sock = environ.get("werkzeug.socket")
    deadline = time.monotonic() + seconds
    outcome = "holdExpired"
    with STATE.lock:
        STATE.holds["heldNow"] += 1
        STATE.holds["held"] += 1
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wait = min(left, POLL_SECONDS)
            if sock is None:
                time.sleep(wait)
                continue
            if _client_gone(sock, wait):
                outcome = "clientGone"
                break
            # Bytes from a client that is still there: do not spin on them.
            time.sleep(min(max(deadline - time.monotonic(), 0.0), POLL_SECONDS))
    finally:
        with STATE.lock:
            STATE.holds["heldNow"] -= 1
            STATE.holds[outcome] += 1


def _close(environ: dict[str, Any], why: str = "region outage") -> None:
    from types import SimpleNamespace

    from localaws.dispatch import drop_connection

    drop_connection(SimpleNamespace(environ=environ), why)


# -- endpoints (the Region's own public endpoints fail their health checks) --------------
def _endpoint_key(name: str) -> str:
    return str(name).lower().rstrip(".")


def _failing_endpoint() -> dict[str, Any]:
    """An endpoint state every health checker sees fail (route53_health's format)."""
    from localaws import route53_health

    return route53_health.endpoint_entry({"healthy": False, "reason": ENDPOINT_REASON})


def _darken_endpoints(saved: dict[str, Any], endpoints: list[str]) -> None:
    from localaws import route53_ext

    with route53_ext.STATE.lock:
        for name in endpoints:
            key = _endpoint_key(name)
            if key not in saved:
                previous = route53_ext.STATE.endpoints.get(key)
                saved[key] = dict(previous) if previous is not None else None
            route53_ext.STATE.endpoints[key] = _failing_endpoint()


def _restore_endpoints(saved: dict[str, Any]) -> None:
    from localaws import route53_ext

    with route53_ext.STATE.lock:
        for key, previous in saved.items():
            if previous is None:
                route53_ext.STATE.endpoints.pop(key, None)
            else:
                route53_ext.STATE.endpoints[key] = previous


def darkened_endpoint(name: str | None) -> tuple[str, dict[str, Any]] | None:
    """(Region, its switch) when `name` is one of the `endpoints` of a dark Region."""
    if not name:
        return None
    key = _endpoint_key(name)
    with STATE.lock:
        for region, spec in STATE.regions.items():
            if key in spec["saved"]:
                return region, dict(spec)
    return None


# -- admin -------------------------------------------------------------------------------
def _public(region: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"region": region, "dark": True, "mode": spec["mode"],
            "holdSeconds": spec["holdSeconds"], "status": spec["status"],
            "since": spec["since"], "endpoints": sorted(spec["saved"])}


def admin_status(req=None) -> dict[str, Any]:
    with STATE.lock:
        regions = [_public(r, s) for r, s in sorted(STATE.regions.items())]
        holds = dict(STATE.holds)
    return {"regions": regions, "dark": [r["region"] for r in regions],
            "globalControlPlanes": dict(GLOBAL_CONTROL_PLANES), "holds": holds,
            "defaults": {"mode": "timeout", "holdSeconds": DEFAULT_HOLD_SECONDS,
                         "status": 503}}


def _parse(data: dict[str, Any]) -> tuple[str, bool, dict[str, Any]]:
    region = data.get("region")
    if not isinstance(region, str) or not REGION_RE.match(region):
        raise AdminError("region must be an AWS Region name such as us-east-1")
    if not isinstance(data.get("dark"), bool):
        raise AdminError("dark must be true or false")
    mode = data.get("mode", "timeout")
    if mode not in MODES:
        raise AdminError(f"mode must be one of {', '.join(MODES)}")
    try:
        hold = float(data.get("holdSeconds", DEFAULT_HOLD_SECONDS))
    except (TypeError, ValueError):
        raise AdminError("holdSeconds must be a number") from None
    if not 0 < hold <= MAX_HOLD_SECONDS:
        raise AdminError(f"holdSeconds must be > 0 and <= {MAX_HOLD_SECONDS:g}")
    status = data.get("status", 503)
    if status not in (500, 503):
        raise AdminError("status must be 500 (InternalFailure) or 503 (ServiceUnavailable)")
    endpoints = data.get("endpoints", [])
    if not isinstance(endpoints, list) or not all(isinstance(e, str) and e for e in endpoints):
        raise AdminError("endpoints must be a list of endpoint names (FQDN, IP or health check id)")
    return region, data["dark"], {"mode": mode, "holdSeconds": hold, "status": status,
                                  "endpoints": endpoints}


def admin_set(req) -> dict[str, Any]:
    region, dark, opts = _parse(body_json(req))
    with STATE.lock:
        if dark:
            spec = STATE.regions.get(region) or {"since": time.time(), "saved": {}}
            spec.update(mode=opts["mode"], holdSeconds=opts["holdSeconds"],
                        status=opts["status"])
            _darken_endpoints(spec["saved"], opts["endpoints"])
            STATE.regions[region] = spec
        else:
            spec = STATE.regions.pop(region, None)
            if spec is not None:
                _restore_endpoints(spec["saved"])
    return admin_status()


def admin_clear(req) -> dict[str, Any]:
    with STATE.lock:
        for spec in STATE.regions.values():
            _restore_endpoints(spec["saved"])
        STATE.regions.clear()
    return admin_status()


def register(app) -> None:
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/regions/outage", admin_status)
    app.admin.route("POST", "/regions/outage", admin_set)
    app.admin.route("DELETE", "/regions/outage", admin_clear)
