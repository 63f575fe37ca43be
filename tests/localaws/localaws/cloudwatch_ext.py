"""CloudWatch additions: S3 replication metrics (AWS/S3) and on-demand alarm evaluation."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from localaws.admin import AdminError, body_json, require

S3_REPLICATION_METRICS = {
    "ReplicationLatency": "Seconds",
    "OperationsPendingReplication": "Count",
    "OperationsFailedReplication": "Count",
}
# datapoints are synthesised at query time, one per minute over this window
WINDOW_SECONDS = 3 * 3600
RESOLUTION_SECONDS = 60


class CwState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            # (account, region, source, destination, rule) -> {metric: value}
            self.s3: dict[tuple[str, str, str, str, str], dict[str, float]] = {}
            self.events: list[dict[str, Any]] = []


STATE = CwState()


def _provider_class():
    from moto.core.common_models import CloudWatchMetricProvider

    class S3ReplicationMetrics(CloudWatchMetricProvider):
        """moto asks every provider for metrics on each query: answer from STATE."""

        @staticmethod
        def get_cloudwatch_metrics(account_id: str, region: str) -> list[Any]:
            from moto.cloudwatch.models import MetricDatum

            with STATE.lock:
                rows = [(k, dict(v)) for k, v in STATE.s3.items()
                        if k[0] == account_id and k[1] == region]
            if not rows:
                return []
            now = datetime.now(timezone.utc).replace(second=0, microsecond=0, tzinfo=None)  # moto: naive UTC
            stamps = [now - timedelta(seconds=i * RESOLUTION_SECONDS)
                      for i in range(WINDOW_SECONDS // RESOLUTION_SECONDS + 1)]
            out = []
            for (_, _, src, dst, rule), values in rows:
                dims = [{"Name": "SourceBucket", "Value": src},
                        {"Name": "DestinationBucket", "Value": dst},
                        {"Name": "RuleId", "Value": rule}]
                for metric, value in values.items():
                    for ts in stamps:
                        out.append(MetricDatum("AWS/S3", metric, float(value), dims, ts,
                                               S3_REPLICATION_METRICS[metric]))
            return out

    return S3ReplicationMetrics


# -- alarm evaluation --------------------------------------------------------------------
COMPARATORS = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _alarm_config(alarm) -> dict[str, Any]:
    return {
        "description": alarm.description,
        "metrics": [{
            "id": "m1",
            "metricStat": {
                "metric": {"namespace": alarm.namespace, "name": alarm.metric_name,
                           "dimensions": {d.name: d.value for d in alarm.dimensions}},
                "period": int(alarm.period or 60),
                "stat": alarm.statistic or alarm.extended_statistic,
            },
            "returnData": True,
        }],
    }


def evaluate_alarm(backend, alarm, now: datetime) -> tuple[str, str, dict[str, Any]] | None:
    """(new state, reason, reason data) or None when the alarm keeps its state."""
    if not alarm.metric_name or not alarm.namespace or alarm.comparison_operator not in COMPARATORS:
        return None  # metric math, anomaly bands and composite alarms are not evaluated
    period = int(alarm.period or 60)
    n = int(alarm.evaluation_periods or 1)
    m = int(alarm.datapoints_to_alarm or n)
    stat = alarm.statistic or "Average"
    # moto keeps naive UTC datetimes and drops microseconds from the window's end (which
    # it excludes): end on the next whole second so a datapoint put just now counts.
    end = now.replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
    start = end - timedelta(seconds=period * n)
    stats = backend.get_metric_statistics(
        alarm.namespace, alarm.metric_name, start, end, period, [stat],
        [{"Name": d.name, "Value": d.value} for d in alarm.dimensions], alarm.unit)
    values = []
    for s in stats[-n:]:
        v = s.get_statistics_for_type(stat)
        if v is not None:
            values.append(float(v))
    threshold = float(alarm.threshold)
    cmp = COMPARATORS[alarm.comparison_operator]
    breaching = sum(1 for v in values if cmp(v, threshold))
    missing = n - len(values)
    treat = alarm.treat_missing_data or "missing"
    if treat == "breaching":
        breaching += missing
    if not values and treat in ("missing", "ignore"):
        if treat == "ignore":
            return None
        state = "INSUFFICIENT_DATA"
        reason = f"Insufficient Data: {n} datapoints were unknown."
    elif breaching >= m:
        state = "ALARM"
        reason = (f"Threshold Crossed: {breaching} out of the last {n} datapoints "
                  f"[{', '.join(str(v) for v in values)}] were {_verb(alarm.comparison_operator)} "
                  f"the threshold ({threshold}) (minimum {m} datapoint{'s' if m != 1 else ''} for OK -> ALARM transition).")
    else:
        state = "OK"
        reason = (f"Threshold Crossed: {n - breaching} out of the last {n} datapoints "
                  f"[{', '.join(str(v) for v in values)}] were not {_verb(alarm.comparison_operator)} "
                  f"the threshold ({threshold}) (minimum 1 datapoint for ALARM -> OK transition).")
    data = {"version": "1.0", "queryDate": _iso(now), "statistic": stat, "period": period,
            "recentDatapoints": values, "threshold": threshold,
            "evaluatedDatapoints": [{"value": v} for v in values]}
    return state, reason, data


def _verb(op: str) -> str:
    return {"GreaterThanOrEqualToThreshold": "greater than or equal to",
            "GreaterThanThreshold": "greater than",
            "LessThanThreshold": "less than",
            "LessThanOrEqualToThreshold": "less than or equal to"}[op]


def evaluate_all(account: str | None = None, region: str | None = None,
                 alarm_names: list[str] | None = None) -> list[dict[str, Any]]:
    from moto.cloudwatch.models import cloudwatch_backends

    now = datetime.now(timezone.utc)
    changes = []
    for acct, regions in list(cloudwatch_backends.items()):
        if account and acct != account:
            continue
        for reg, backend in list(regions.items()):
            if region and reg != region:
                continue
            for alarm in list(backend.alarms.values()):
                if alarm_names is not None and alarm.name not in alarm_names:
                    continue
                res = evaluate_alarm(backend, alarm, now)
                if res is None:
                    continue
                state, reason, data = res
                if state == alarm.state_value:
                    continue
                previous = {"value": alarm.state_value, "reason": alarm.state_reason,
                            "reasonData": alarm.state_reason_data,
                            "timestamp": _iso(alarm.state_updated_timestamp)}
                alarm.update_state(reason, json.dumps(data), state)
                event = {
                    "version": "0", "id": str(uuid.uuid4()),
                    "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
                    "account": acct, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": reg, "resources": [alarm.alarm_arn],
                    "detail": {
                        "alarmName": alarm.name,
                        "state": {"value": state, "reason": reason,
                                  "reasonData": json.dumps(data), "timestamp": _iso(now)},
                        "previousState": previous,
                        "configuration": _alarm_config(alarm),
                    },
                }
                with STATE.lock:
                    STATE.events.append(event)
                _forward_to_eventbridge(event)
                changes.append({"account": acct, "region": reg, "alarmName": alarm.name,
                                "previousState": previous["value"], "state": state})
    return changes


def _forward_to_eventbridge(event: dict[str, Any]) -> None:
    """Deliver the event to the account's default bus so matching rules fire."""
    try:
        from moto.events.models import events_backends

        events_backends[event["account"]][event["region"]].put_events([{
            "Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]), "Resources": event["resources"],
            "EventBusName": "default",
        }])
    except Exception:
        pass


# -- admin ----------------------------------------------------------------------------------
def admin_set_s3(req) -> dict[str, Any]:
    data = body_json(req)
    items = data.get("metrics") if isinstance(data.get("metrics"), list) else [data]
    with STATE.lock:
        for item in items:
            account, region, src, dst, rule = require(
                item, "account", "region", "sourceBucket", "destinationBucket", "ruleId")
            values = STATE.s3.setdefault((str(account), region, src, dst, rule), {})
            for metric in S3_REPLICATION_METRICS:
                key = metric[0].lower() + metric[1:]
                v = item.get(metric, item.get(key))
                if v is not None:
                    values[metric] = float(v)
            if not values:
                raise AdminError(f"give at least one of {', '.join(S3_REPLICATION_METRICS)}")
    return admin_get_s3(req)


def admin_get_s3(req) -> dict[str, Any]:
    with STATE.lock:
        return {"metrics": [
            dict(account=a, region=r, sourceBucket=s, destinationBucket=d, ruleId=rid, **v)
            for (a, r, s, d, rid), v in STATE.s3.items()]}


def admin_clear_s3(req) -> dict[str, Any]:
    with STATE.lock:
        STATE.s3.clear()
    return admin_get_s3(req)


def admin_evaluate(req) -> dict[str, Any]:
    data = body_json(req) if req.method == "POST" else {}
    names = data.get("alarmNames")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise AdminError("alarmNames must be a list of alarm names")
    changes = evaluate_all(data.get("account") or req.args.get("account"),
                           data.get("region") or req.args.get("region"), names)
    return {"changes": changes}


def admin_events(req) -> dict[str, Any]:
    with STATE.lock:
        events = list(STATE.events)
    alarm = req.args.get("alarmName")
    if alarm:
        events = [e for e in events if e["detail"]["alarmName"] == alarm]
    return {"events": events}


def admin_clear_events(req) -> dict[str, Any]:
    with STATE.lock:
        STATE.events.clear()
    return {"events": []}


_PROVIDER = None
_SCOPE_LOCK = threading.Lock()


def _scope_metric_data_by_namespace() -> None:
    """moto's GetMetricData drops the namespace filter when a query has dimensions, so
    two namespaces with the same metric name and dimensions leak into each other.
    CloudWatch keys a metric by namespace + name + dimensions: run each MetricStat query
    against its own namespace's metrics only."""
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.get_metric_data
    if getattr(original, "_localaws_scoped", False):
        return

    def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
        if not queries or any("MetricStat" not in q for q in queries):
            return original(self, queries, start_time, end_time, scan_by)  # math needs them all
        results = []
        with _SCOPE_LOCK:
            every_metric = self.get_all_metrics
            try:
                for query in queries:
                    namespace = query["MetricStat"]["Metric"]["Namespace"]
                    self.get_all_metrics = lambda ns=namespace: [
                        m for m in every_metric() if m.namespace == ns]
                    results.extend(original(self, [query], start_time, end_time, scan_by))
            finally:
                self.__dict__.pop("get_all_metrics", None)
        return results

    get_metric_data._localaws_scoped = True
    CloudWatchBackend.get_metric_data = get_metric_data


def register(app) -> None:
    global _PROVIDER
    if _PROVIDER is None:  # keep a reference: moto finds providers via __subclasses__()
        _PROVIDER = _provider_class()
    _scope_metric_data_by_namespace()
    app.on_reset(STATE.reset)
    app.admin.route("POST", "/s3/replication-metrics", admin_set_s3)
    app.admin.route("GET", "/s3/replication-metrics", admin_get_s3)
    app.admin.route("DELETE", "/s3/replication-metrics", admin_clear_s3)
    app.admin.route("POST", "/cloudwatch/evaluate-alarms", admin_evaluate)
    app.admin.route("GET", "/cloudwatch/alarm-events", admin_events)
    app.admin.route("DELETE", "/cloudwatch/alarm-events", admin_clear_events)
