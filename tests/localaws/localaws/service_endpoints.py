"""The service's own public endpoints, reachable over plain HTTP on the world's port.

`GET /_localaws/service/<endpoint>/<path>` (also HEAD) stands for `https://<endpoint>/<path>`:
what a client (the failover function's data-plane probe) gets when it requests the
service's public endpoint. `<endpoint>` is the key Route 53's health checks use for it
(route53_ext.endpoint_state: FQDN, IP address or health check id, case and a final dot
ignored), so one admin state drives both what Route 53's health checkers see and what a
probe gets:

* unknown or healthy (`POST /_localaws/route53/endpoints {"endpoint", "healthy": true}`):
  `200` with a small JSON body. The verdict is the endpoint state's `healthy` (the one the
  listing shows: with `failingCheckers`/`failingRegions`, the 18% rule over all checkers).
* set failing through the admin API (`healthy: false`): `503 Service Unavailable`, what an
  Application Load Balancer answers when it has no healthy target to route to ("HTTP 503:
  Service unavailable", Troubleshoot your Application Load Balancers —
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-503-issues).
* one of the `endpoints` of a dark Region (`POST /_localaws/regions/outage`): fails in the
  switch's mode, as the Region's API calls do (outage.py; AWS Fault Isolation Boundaries —
  https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/regions.html):
  `timeout` holds the connection unanswered until the client gives up or `holdSeconds` pass
  and then closes it; `error` answers the switch's `status` (503 or 500); `reset` closes the
  connection at once without an answer. The Region's switch wins over an admin state.

What a probe counts as healthy (2xx within its own timeout) is the client's business, as
Route 53's health checkers judge 2xx/3xx within their timeout ("How Amazon Route 53
determines whether a health check is healthy" —
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
Requests are counted per endpoint (`GET /_localaws/service-requests`); they are not AWS API
calls and are not in the call log.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from werkzeug.wrappers import Request, Response

from localaws import outage

ROUTE = "/service/(?P<endpoint>[^/]+)(?P<path>/.*)?"


class ServiceState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter = Counter()  # (endpoint, outcome) -> count

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()


STATE = ServiceState()


def _key(endpoint: str) -> str:
    return endpoint.lower().rstrip(".")


def _answer(status: int, doc: dict[str, Any]) -> Response:
    return Response(json.dumps(doc), status=status, content_type="application/json")


def _count(endpoint: str, outcome: str) -> None:
    with STATE.lock:
        STATE.requests[(endpoint, outcome)] += 1


def _healthy(endpoint: str) -> tuple[bool, str | None]:
    from localaws.route53_ext import STATE as R53, endpoint_state

    with R53.lock:
        state = endpoint_state(endpoint)
        if state is None:
            return True, None
        return bool(state.get("healthy", True)), state.get("reason")


def serve(req: Request, endpoint: str, path: str | None = None) -> Response:
    """The endpoint's answer (see the module docstring); raises DropConnection for the
    outage's timeout and reset modes."""
    key, path = _key(endpoint), path or "/"
    dark = outage.darkened_endpoint(key)
    if dark is not None:
        region, spec = dark
        _count(key, f"outage:{spec['mode']}")
        if spec["mode"] != "error":
            outage.fail_connection(req.environ, spec, f"region outage ({region}): {key}")
        return _answer(spec["status"], {"endpoint": key, "path": path, "status": "unavailable",
                                        "message": outage.unavailable_message(region)})
    healthy, reason = _healthy(key)
    if not healthy:
        _count(key, "unhealthy")
        return _answer(503, {"endpoint": key, "path": path, "status": "unavailable",
                             "message": reason or "503 Service Temporarily Unavailable"})
    _count(key, "ok")
    return _answer(200, {"endpoint": key, "path": path, "status": "ok"})


def admin_requests(req) -> dict[str, Any]:
    with STATE.lock:
        rows = [{"endpoint": e, "outcome": o, "count": n}
                for (e, o), n in sorted(STATE.requests.items())]
    return {"requests": rows, "total": sum(r["count"] for r in rows)}


def admin_clear_requests(req) -> dict[str, Any]:
    STATE.reset()
    return {"cleared": True}


def register(app) -> None:
    app.on_reset(STATE.reset)
    app.admin.route("GET", ROUTE, serve)
    app.admin.route("HEAD", ROUTE, serve)
    app.admin.route("GET", "/service-requests", admin_requests)
    app.admin.route("DELETE", "/service-requests", admin_clear_requests)
