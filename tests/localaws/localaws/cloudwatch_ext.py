"""CloudWatch additions: S3 replication metrics (AWS/S3) and on-demand alarm evaluation.

S3 publishes ReplicationLatency, BytesPendingReplication and OperationsPendingReplication in
the destination bucket's Region and OperationsFailedReplication in the source bucket's
Region ("Using S3 Replication metrics"), dimensions SourceBucket, DestinationBucket, RuleId.
Alarm evaluation itself (metric math, missing data) is cloudwatch_alarms.py; Route 53's
HealthCheckStatus datapoints (route53_metrics.py) are published before every evaluation.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from localaws import cloudwatch_alarms, outage, route53_metrics
from localaws.admin import AdminError, body_json, require

S3_REPLICATION_METRICS = {
    "ReplicationLatency": "Seconds",
    "BytesPendingReplication": "Bytes",
    "OperationsPendingReplication": "Count",
    "OperationsFailedReplication": "Count",
}
# the Region each metric is published in (the other bucket's Region sees none of it)
S3_PUBLISHED_IN = {
    "ReplicationLatency": "destination",
    "BytesPendingReplication": "destination",
    "OperationsPendingReplication": "destination",
    "OperationsFailedReplication": "source",
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
            # (account, source region, destination region, source, destination, rule)
            #   -> {metric: value}
            self.s3: dict[tuple[str, str, str, str, str, str], dict[str, float]] = {}
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
                        if k[0] == account_id and region in (k[1], k[2])]
            if not rows:
                return []
            now = datetime.fromtimestamp(cloudwatch_alarms.clock(), timezone.utc).replace(
                second=0, microsecond=0, tzinfo=None)  # moto: naive UTC
            stamps = [now - timedelta(seconds=i * RESOLUTION_SECONDS)
                      for i in range(WINDOW_SECONDS // RESOLUTION_SECONDS + 1)]
            out = []
            for (_, src_region, dst_region, src, dst, rule), values in rows:
                dims = [{"Name": "SourceBucket", "Value": src},
                        {"Name": "DestinationBucket", "Value": dst},
                        {"Name": "RuleId", "Value": rule}]
                for metric, value in values.items():
                    home = src_region if S3_PUBLISHED_IN[metric] == "source" else dst_region
                    if home != region:
                        continue
                    for ts in stamps:
                        out.append(MetricDatum("AWS/S3", metric, float(value), dims, ts,
                                               S3_REPLICATION_METRICS[metric]))
            return out

    return S3ReplicationMetrics


# -- alarm evaluation --------------------------------------------------------------------
def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:  # moto keeps naive UTC
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _alarm_config(alarm) -> dict[str, Any]:
    return cloudwatch_alarms.configuration(alarm)


def evaluate_alarm(backend, alarm, now: datetime,
                   index: "cloudwatch_alarms.MetricIndex | None" = None
                   ) -> tuple[str, str, dict[str, Any]] | None:
    """(new state, reason, reason data) or None when the alarm keeps its state; raises
    cloudwatch_alarms.Unsupported for what localaws does not evaluate."""
    index = index if index is not None else cloudwatch_alarms.MetricIndex(backend)
    return cloudwatch_alarms.evaluate(alarm, index, now.timestamp())


def evaluate_all(account: str | None = None, region: str | None = None,
                 alarm_names: list[str] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    from moto.cloudwatch.models import cloudwatch_backends

    now = datetime.fromtimestamp(cloudwatch_alarms.clock(), timezone.utc)
    # Route 53 has published its health-check metrics up to this minute (us-east-1)
    if region in (None, route53_metrics.REGION):
        route53_metrics.publish(account, now.timestamp())
    changes = []
    for acct, regions in list(cloudwatch_backends.items()):
        if account and acct != account:
            continue
        for reg, backend in list(regions.items()):
            if region and reg != region:
                continue
            if outage.is_dark(reg):  # CloudWatch in a dark Region evaluates nothing
                continue
            alarms = [a for a in list(backend.alarms.values())
                      if alarm_names is None or a.name in alarm_names]
            if not alarms:
                continue
            index = cloudwatch_alarms.MetricIndex(backend)
            for alarm in alarms:
                try:
                    res = evaluate_alarm(backend, alarm, now, index)
                except cloudwatch_alarms.Unsupported as exc:
                    if errors is not None:
                        errors.append({"account": acct, "region": reg, "alarmName": alarm.name,
                                       "error": f"localaws does not evaluate {exc}"})
                    continue
                if res is None:
                    continue
                state, reason, data = res
                if state == alarm.state_value:
                    continue
                previous = {"value": alarm.state_value, "reason": alarm.state_reason,
                            "reasonData": alarm.state_reason_data,
                            "timestamp": _iso(alarm.state_updated_timestamp)}
                reason_data = cloudwatch_alarms.reason_data_json(data)
                alarm.update_state(reason, reason_data, state)
                event = {
                    "version": "0", "id": str(uuid.uuid4()),
                    "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
                    "account": acct, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": reg, "resources": [alarm.alarm_arn],
                    "detail": {
                        "alarmName": alarm.name,
                        "state": {"value": state, "reason": reason,
                                  "reasonData": reason_data, "timestamp": _iso(now)},
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
def _bucket_region(account: str, bucket: str) -> str | None:
    """The Region of a bucket the world knows (moto S3), else None."""
    try:
        from moto.s3.models import s3_backends

        b = s3_backends[account]["aws"].buckets.get(bucket)
        return getattr(b, "region_name", None) if b is not None else None
    except Exception:
        return None


def _s3_entry(item: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, float]]:
    account, src, dst, rule = require(item, "account", "sourceBucket", "destinationBucket", "ruleId")
    account = str(account)
    values = {}
    for metric in S3_REPLICATION_METRICS:
        v = item.get(metric, item.get(metric[0].lower() + metric[1:]))
        if v is not None:
            values[metric] = float(v)
    if not values:
        raise AdminError(f"give at least one of {', '.join(S3_REPLICATION_METRICS)}")
    regions = {"source": item.get("sourceRegion") or item.get("region"),
               "destination": item.get("destinationRegion")}
    for side, bucket in (("source", src), ("destination", dst)):
        known = _bucket_region(account, bucket)
        if known and regions[side] and regions[side] != known:
            raise AdminError(f"{side} bucket {bucket} is in {known}, not {regions[side]}")
        regions[side] = regions[side] or known
    for metric in values:
        side = S3_PUBLISHED_IN[metric]
        if not regions[side]:
            raise AdminError(
                f"S3 publishes {metric} in the {side} bucket's Region: give {side}Region "
                f"(ReplicationLatency, BytesPendingReplication and OperationsPendingReplication "
                f"are published in the destination bucket's Region, OperationsFailedReplication "
                f"in the source bucket's)")
    return (account, regions["source"] or "", regions["destination"] or "", src, dst, rule), values


def admin_set_s3(req) -> dict[str, Any]:
    data = body_json(req)
    items = data.get("metrics") if isinstance(data.get("metrics"), list) else [data]
    entries = [_s3_entry(item) for item in items]  # all valid, or nothing is set
    with STATE.lock:
        for key, values in entries:
            STATE.s3.setdefault(key, {}).update(values)
    return admin_get_s3(req)


def admin_get_s3(req) -> dict[str, Any]:
    with STATE.lock:
        return {"metrics": [
            dict(account=a, sourceRegion=sr or None, destinationRegion=dr or None,
                 sourceBucket=s, destinationBucket=d, ruleId=rid,
                 publishedIn={m: (sr if S3_PUBLISHED_IN[m] == "source" else dr) for m in v}, **v)
            for (a, sr, dr, s, d, rid), v in STATE.s3.items()]}


def admin_clear_s3(req) -> dict[str, Any]:
    with STATE.lock:
        STATE.s3.clear()
    return admin_get_s3(req)


def admin_evaluate(req) -> dict[str, Any]:
    data = body_json(req) if req.method == "POST" else {}
    names = data.get("alarmNames")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise AdminError("alarmNames must be a list of alarm names")
    errors: list[dict[str, Any]] = []
    changes = evaluate_all(data.get("account") or req.args.get("account"),
                           data.get("region") or req.args.get("region"), names, errors)
    return {"changes": changes, "errors": errors}


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
    cloudwatch_alarms.install()  # PutMetricAlarm: initial state, Metrics validation
    app.on_reset(STATE.reset)
    app.admin.route("POST", "/s3/replication-metrics", admin_set_s3)
    app.admin.route("GET", "/s3/replication-metrics", admin_get_s3)
    app.admin.route("DELETE", "/s3/replication-metrics", admin_clear_s3)
    app.admin.route("POST", "/cloudwatch/evaluate-alarms", admin_evaluate)
    app.admin.route("GET", "/cloudwatch/alarm-events", admin_events)
    app.admin.route("DELETE", "/cloudwatch/alarm-events", admin_clear_events)
