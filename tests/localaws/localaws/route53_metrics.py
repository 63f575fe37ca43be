"""Route 53 publishes its health-check metrics to CloudWatch, in US East (N. Virginia) only.

Every health check of every account gets one datapoint a minute in the account's
us-east-1 CloudWatch, namespace `AWS/Route53`, dimension `HealthCheckId`:

* `HealthCheckStatus`: 1 healthy, 0 unhealthy, from route53_ext.evaluate() (the same
  verdict the resolver uses: 18% rule, Inverted, Disabled, CALCULATED, CLOUDWATCH_METRIC);
* `HealthCheckPercentageHealthy` (endpoint checks that are not disabled): the share of
  checkers that see the endpoint healthy;
* `ChildHealthCheckHealthyCount` (CALCULATED checks): healthy children.

Publication is lazy: before alarms are evaluated, before any CloudWatch metric read in
us-east-1 (GetMetricData, GetMetricStatistics, ListMetrics), on
`POST /_localaws/route53/publish-metrics`, and just before anything that can change a check's health (the endpoint admin API, a Region
outage switch, UpdateHealthCheck). It writes every minute since the check's last
publication (since its creation for a new check, at most `BACKFILL_MINUTES`) with the health
as it is now, and rewrites the current minute's datapoint when the health changed within the
minute. Because publishing also happens right before a change, the minutes before the change
keep the earlier health: an alarm over N periods sees N minutes of the real history.
"""

from __future__ import annotations

import math
import re
import threading
from datetime import datetime, timezone
from typing import Any

from localaws.admin import body_json

REGION = "us-east-1"
NAMESPACE = "AWS/Route53"
BACKFILL_MINUTES = 180
# admin routes after which a check's health may differ: publish the minutes before first
HEALTH_CHANGING_ROUTES = (("POST", "/route53/endpoints"), ("DELETE", "/route53/endpoints"),
                          ("POST", "/regions/outage"), ("DELETE", "/regions/outage"))


class PublishState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            # (account, health check id) -> epoch of creation (CreateHealthCheck answered)
            self.created: dict[tuple[str, str], float] = {}
            # (account, health check id) -> {"minute": epoch minute, "datums": {metric: MetricDatum}}
            self.last: dict[tuple[str, str], dict[str, Any]] = {}


STATE = PublishState()


def _clock() -> float:
    from localaws import cloudwatch_alarms

    return cloudwatch_alarms.clock()


def _minute(ts: float) -> int:
    return int(math.floor(ts / 60) * 60)


def _healthy_share(account: str, hc) -> float | None:
    """HealthCheckPercentageHealthy, or None when Route 53 publishes none for the check."""
    from localaws import route53_ext, route53_health

    if hc.disabled or hc.type_ not in route53_health.ENDPOINT_TYPES:
        return None
    state = (route53_ext.endpoint_state(hc.id) or route53_ext.endpoint_state(hc.fqdn)
             or route53_ext.endpoint_state(hc.ip_address))
    obs = route53_health.endpoint_observations(hc, state)
    if not obs:
        return None
    return 100.0 * sum(1 for o in obs if o[1]) / len(obs)


def current_values(account: str, hc_id: str, hc) -> dict[str, float]:
    from localaws import route53_ext

    healthy, _ = route53_ext.evaluate(account, hc_id)
    values = {"HealthCheckStatus": 1.0 if healthy else 0.0}
    share = _healthy_share(account, hc)
    if share is not None:
        values["HealthCheckPercentageHealthy"] = share
    if hc.type_ == "CALCULATED":
        values["ChildHealthCheckHealthyCount"] = float(sum(
            1 for c in hc.children or [] if route53_ext.evaluate(account, c)[0]))
    return values


def _datum(metric: str, hc_id: str, value: float, minute: int):
    from moto.cloudwatch.models import MetricDatum

    unit = {"HealthCheckPercentageHealthy": "Percent",
            "ChildHealthCheckHealthyCount": "Count"}.get(metric, "None")
    ts = datetime.fromtimestamp(minute, timezone.utc).replace(tzinfo=None)  # moto: naive UTC
    return MetricDatum(NAMESPACE, metric, float(value),
                       [{"Name": "HealthCheckId", "Value": hc_id}], ts, unit)


def publish(account: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
    """Writes the datapoints due for every health check (of `account`, or all)."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.route53.models import route53_backends

    from localaws import outage

    now = _clock() if now is None else now
    minute = _minute(now)
    out = []
    with STATE.lock:
        for acct, parts in list(route53_backends.items()):
            if account and acct != account:
                continue
            checks = dict(parts["aws"].health_checks)
            if not checks:
                continue
            cw = cloudwatch_backends[acct][REGION]
            dark = outage.is_dark(REGION)  # CloudWatch there takes nothing: those minutes are lost
            for hc_id, hc in checks.items():
                key = (acct, hc_id)
                values = current_values(acct, hc_id, hc)
                last = STATE.last.get(key)
                if last is None:
                    created = STATE.created.get(key, now)
                    first = max(_minute(created), minute - (BACKFILL_MINUTES - 1) * 60)
                else:
                    first = last["minute"] + 60
                written = 0
                datums = dict(last["datums"]) if last else {}
                if last is not None and last["minute"] == minute and not dark:
                    for metric, value in values.items():  # the health changed within the minute
                        d = datums.get(metric)
                        if d is None:
                            d = datums[metric] = _datum(metric, hc_id, value, minute)
                            cw.metric_data.append(d)
                        d.value = float(value)
                if dark:
                    datums = {}
                for m in range(first, minute + 1, 60):
                    if dark:
                        continue
                    datums = {}
                    for metric, value in values.items():
                        d = _datum(metric, hc_id, value, m)
                        cw.metric_data.append(d)
                        datums[metric] = d
                    written += 1
                STATE.last[key] = {"minute": max(minute, last["minute"] if last else minute),
                                   "datums": datums}
                out.append({"account": acct, "healthCheckId": hc_id, "values": values,
                            "minutesWritten": written})
        for key in [k for k in STATE.last if k[1] not in
                    route53_backends[k[0]]["aws"].health_checks]:
            STATE.last.pop(key, None)  # a deleted check publishes nothing more
    return out


# -- hooks ------------------------------------------------------------------------------
def _record_creation(call, result):
    if result.status >= 300:
        return None
    m = re.search(rb"<HealthCheck>\s*<Id>([^<]+)</Id>", result.body or b"")
    if m:
        with STATE.lock:
            STATE.created[(call.account, m.group(1).decode())] = _clock()
    return None


def _publish_before(call):
    publish(call.account)
    return None


def _publish_before_read(call):
    """A metric read in us-east-1 sees every minute Route 53 has published by now."""
    if call.region == REGION:
        publish(call.account)
    return None


def _wrap_admin_routes(app) -> None:
    routes = app.admin.routes
    for i, (method, pattern, handler) in enumerate(routes):
        for want_method, path in HEALTH_CHANGING_ROUTES:
            if method == want_method and pattern.match(f"/_localaws{path}") \
                    and not getattr(handler, "_localaws_publishes", False):
                def wrapped(req, *a, _handler=handler, **kw):
                    publish()
                    return _handler(req, *a, **kw)

                wrapped._localaws_publishes = True
                routes[i] = (method, pattern, wrapped)


# -- admin --------------------------------------------------------------------------------
def admin_publish(req) -> dict[str, Any]:
    data = body_json(req)
    account = data.get("account") or req.args.get("account")
    return {"region": REGION, "namespace": NAMESPACE, "published": publish(account)}


def register(app) -> None:
    app.on_reset(STATE.reset)
    app.post[("route53", "CreateHealthCheck")].insert(0, _record_creation)  # sees every answer
    # before route53_health / route53_ext answer the update: the minutes before it keep
    # the health the check had
    app.pre[("route53", "UpdateHealthCheck")].insert(0, _publish_before)
    app.pre[("route53", "DeleteHealthCheck")].insert(0, _publish_before)
    # Route 53 publishes every minute on its own; here the minutes due are written
    # lazily, right before anything reads CloudWatch in us-east-1.
    for operation in ("GetMetricData", "GetMetricStatistics", "GetMetricWidgetImage",
                      "ListMetrics"):
        app.pre[("cloudwatch", operation)].insert(0, _publish_before_read)
    _wrap_admin_routes(app)
    app.admin.route("POST", "/route53/publish-metrics", admin_publish)
