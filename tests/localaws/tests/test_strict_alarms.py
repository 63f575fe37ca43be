"""Alarm evaluation, Route 53's HealthCheckStatus metrics and S3 replication metrics as AWS
documents them (README "As strict as AWS")."""

import math
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import PROD, SHARED
from localaws import cloudwatch_alarms

ACCOUNT = "744455566601"  # this file's own account


@pytest.fixture
def clock(monkeypatch):
    """Moves the world's clock for alarm evaluation and metric publication."""
    now = [float(math.floor(time.time() / 60) * 60 - 3600 + 5)]  # an hour ago, 5 s into a minute
    monkeypatch.setattr(cloudwatch_alarms, "clock", lambda: now[0])
    return now


def _ts(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc)


def evaluate(adm, names, account=ACCOUNT, region=None):
    body = {"account": account, "alarmNames": names}
    if region:
        body["region"] = region
    status, out = adm("POST", "/cloudwatch/evaluate-alarms", body)
    assert status == 200, out
    return out


def state(cw, name):
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


# -- PutMetricAlarm -------------------------------------------------------------------
def hc_metric(qid, hc_id):
    return {"Id": qid, "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "AWS/Route53", "MetricName": "HealthCheckStatus",
                   "Dimensions": [{"Name": "HealthCheckId", "Value": hc_id}]},
        "Period": 60, "Stat": "Minimum"}}


def region_health(cw, name, alb, api, periods=3):
    """infra/modules/global-routing's aws_cloudwatch_metric_alarm.region_health."""
    cw.put_metric_alarm(
        AlarmName=name, AlarmDescription="Region is unhealthy", ComparisonOperator="LessThanThreshold",
        Threshold=1, EvaluationPeriods=periods, TreatMissingData="notBreaching",
        Metrics=[{"Id": "healthy", "Expression": "MIN([alb, api])", "Label": "All endpoints healthy",
                  "ReturnData": True}, hc_metric("alb", alb), hc_metric("api", api)])


def test_metric_math_alarm_round_trips_and_starts_insufficient_data(aws, adm):
    cw = aws("cloudwatch", account=ACCOUNT, region="us-east-1")
    region_health(cw, "rh", "hc-a", "hc-b")
    alarm = cw.describe_alarms(AlarmNames=["rh"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateReason"] == "Unchecked: Initial alarm creation"
    assert [m["Id"] for m in alarm["Metrics"]] == ["healthy", "alb", "api"]
    assert alarm["Metrics"][0]["Expression"] == "MIN([alb, api])"
    assert alarm["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "HealthCheckId", "Value": "hc-a"}]
    # an update keeps the state (moto would reset it)
    cw.set_alarm_state(AlarmName="rh", StateValue="ALARM", StateReason="test")
    region_health(cw, "rh", "hc-a", "hc-b", periods=2)
    alarm = cw.describe_alarms(AlarmNames=["rh"])["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["EvaluationPeriods"]) == ("ALARM", 2)


def test_metrics_refuse_single_metric_parameters_and_need_one_return_data(aws):
    cw = aws("cloudwatch", account=ACCOUNT, region="us-east-1")
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName="x", ComparisonOperator="LessThanThreshold", Threshold=1,
                            EvaluationPeriods=1, Statistic="Minimum",
                            Metrics=[{"Id": "e", "Expression": "MIN([a])", "ReturnData": True},
                                     hc_metric("a", "h")])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == "Statistic should not be set if list of Metrics is set."
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName="x", ComparisonOperator="LessThanThreshold", Threshold=1,
                            EvaluationPeriods=1,
                            Metrics=[{"Id": "e", "Expression": "MIN([a])", "ReturnData": False},
                                     hc_metric("a", "h")])
    assert e.value.response["Error"]["Message"] == \
        "Exactly one element of the metrics list should return data."
    assert cw.describe_alarms(AlarmNames=["x"])["MetricAlarms"] == []


# -- missing data: the two tables of "Configuring how CloudWatch alarms treat missing data"
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
TABLE_3_OF_3 = [
    ("0 - X - X", "OK", "OK", "OK", "OK"),
    ("0 - - - -", "OK", "OK", "OK", "OK"),
    ("- - - - -", "INSUFFICIENT_DATA", "retain", "ALARM", "OK"),
    ("0 X X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - - - X", "INSUFFICIENT_DATA", "retain", "ALARM", "OK"),
    ("X - - - -", "ALARM", "retain", "ALARM", "OK"),
]
TABLE_2_OF_3 = [
    ("0 - X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", "OK", "OK", "ALARM", "OK"),
    ("- - - - X", "INSUFFICIENT_DATA", "retain", "ALARM", "OK"),
]


@pytest.mark.parametrize("m,table", [(3, TABLE_3_OF_3), (2, TABLE_2_OF_3)])
def test_missing_data_tables(aws, adm, clock, m, table):
    # dozens of PutMetricAlarm calls: CloudWatch's quotas are not what this test is about
    adm("POST", "/throttling", {"service": "cloudwatch", "enabled": False, "account": ACCOUNT})
    cw = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    end = math.floor(clock[0] / 60) * 60 + 60  # the newest period ends here
    cases = []
    for row, (points, *expected) in enumerate(table):
        dims = [{"Name": "Case", "Value": f"{m}-{row}"}]
        data = []
        for i, p in enumerate(points.split()):  # oldest first, 5 periods
            if p == "-":
                continue
            start = end - (5 - i) * 60
            data.append({"MetricName": "Errors", "Dimensions": dims, "Timestamp": _ts(start + 7),
                         "Value": 10.0 if p == "X" else 1.0})
        if data:
            cw.put_metric_data(Namespace="Strict", MetricData=data)
        for treat, want in zip(TREATMENTS, expected):
            priors = ["ALARM", "OK"] if want == "retain" else ["OK" if want != "OK" else "ALARM"]
            for prior in priors:
                name = f"t{m}-{row}-{treat}-{prior}"
                cw.put_metric_alarm(AlarmName=name, Namespace="Strict", MetricName="Errors",
                                    Dimensions=dims, Statistic="Maximum", Period=60,
                                    EvaluationPeriods=3, DatapointsToAlarm=m, Threshold=5,
                                    ComparisonOperator="GreaterThanThreshold", TreatMissingData=treat)
                cw.set_alarm_state(AlarmName=name, StateValue=prior, StateReason="prior")
                cases.append((name, points, treat, prior if want == "retain" else want))
    out = evaluate(adm, [c[0] for c in cases])
    assert out["errors"] == []
    got = {c[0]: state(cw, c[0]) for c in cases}
    wrong = [(points, treat, want, got[name]) for name, points, treat, want in cases
             if got[name] != want]
    assert wrong == []


def test_reason_lists_the_evaluated_datapoints(aws, adm, clock):
    cw = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    end = math.floor(clock[0] / 60) * 60 + 60
    dims = [{"Name": "Case", "Value": "reason"}]
    cw.put_metric_data(Namespace="Strict", MetricData=[
        {"MetricName": "Errors", "Dimensions": dims, "Timestamp": _ts(end - k * 60 + 1), "Value": 9.0}
        for k in (1, 2)])
    cw.put_metric_alarm(AlarmName="why", Namespace="Strict", MetricName="Errors", Dimensions=dims,
                        Statistic="Maximum", Period=60, EvaluationPeriods=2, Threshold=5,
                        ComparisonOperator="GreaterThanThreshold")
    assert evaluate(adm, ["why"])["changes"][0]["state"] == "ALARM"
    alarm = cw.describe_alarms(AlarmNames=["why"])["MetricAlarms"][0]
    newest = _ts(end - 60).strftime("%d/%m/%y %H:%M:%S")
    assert alarm["StateReason"].startswith(
        f"Threshold Crossed: 2 out of the last 2 datapoints [9.0 ({newest}), 9.0 (")
    assert alarm["StateReason"].endswith(
        "were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).")


def test_dynamodb_metrics_always_ignore_missing_data(aws, adm, clock):
    cw = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    cw.put_metric_alarm(AlarmName="ddb", Namespace="AWS/DynamoDB", MetricName="ThrottledRequests",
                        Dimensions=[{"Name": "TableName", "Value": "t"}], Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="breaching")
    assert evaluate(adm, ["ddb"])["changes"] == []
    assert state(cw, "ddb") == "INSUFFICIENT_DATA"


# -- metric math ----------------------------------------------------------------------
def _series_alarm(cw, name, expression, ids=("a", "b"), threshold=1.0,
                  op="LessThanThreshold", periods=1):
    metrics = [{"Id": "e", "Expression": expression, "ReturnData": True}]
    for qid in ids:
        metrics.append({"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "Strict", "MetricName": "V",
                       "Dimensions": [{"Name": "Series", "Value": f"{name}-{qid}"}]},
            "Period": 60, "Stat": "Average"}})
    cw.put_metric_alarm(AlarmName=name, ComparisonOperator=op, Threshold=threshold,
                        EvaluationPeriods=periods, TreatMissingData="missing", Metrics=metrics)


def _put(cw, name, qid, value, at):
    cw.put_metric_data(Namespace="Strict", MetricData=[{
        "MetricName": "V", "Dimensions": [{"Name": "Series", "Value": f"{name}-{qid}"}],
        "Timestamp": _ts(at), "Value": value}])


@pytest.mark.parametrize("expression,a,b,threshold,op,want", [
    # MIN of an array: the values present at the timestamp (b has none)
    ("MIN([a, b])", 1.0, None, 1.0, "LessThanThreshold", "OK"),
    ("MIN([a, b])", 1.0, 0.0, 1.0, "LessThanThreshold", "ALARM"),
    ("MAX([a, b])", 0.0, 1.0, 1.0, "LessThanThreshold", "OK"),
    ("SUM([a, b])", 2.0, 3.0, 5.0, "GreaterThanOrEqualToThreshold", "ALARM"),
    # AVG of an array counts a missing value as 0
    ("AVG([a, b])", 4.0, None, 3.0, "LessThanThreshold", "ALARM"),
    # arithmetic: a missing value is 0
    ("a + b", 4.0, None, 4.0, "GreaterThanOrEqualToThreshold", "ALARM"),
    ("a * 100 / b", 3.0, 4.0, 75.0, "GreaterThanOrEqualToThreshold", "ALARM"),
    ("(a - b) ^ 2", 5.0, 3.0, 4.0, "GreaterThanOrEqualToThreshold", "ALARM"),
    # a division by zero drops the datapoint: no data
    ("a / b", 1.0, 0.0, 0.5, "GreaterThanThreshold", "INSUFFICIENT_DATA"),
    ("IF(a > 2 AND b > 2, 1, 0)", 3.0, 3.0, 1.0, "GreaterThanOrEqualToThreshold", "ALARM"),
    ("IF(a > 2 AND b > 2, 1, 0)", 3.0, 1.0, 1.0, "LessThanThreshold", "ALARM"),
    ("ABS(a - b)", 1.0, 4.0, 3.0, "GreaterThanOrEqualToThreshold", "ALARM"),
    ("SUM(METRICS())", 1.0, 2.0, 3.0, "GreaterThanOrEqualToThreshold", "ALARM"),
])
def test_metric_math(aws, adm, clock, expression, a, b, threshold, op, want):
    cw = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    name = "math"
    _series_alarm(cw, name, expression, threshold=threshold, op=op)
    for qid, v in (("a", a), ("b", b)):
        if v is not None:
            _put(cw, name, qid, v, clock[0] - 1)
    out = evaluate(adm, [name])
    assert out["errors"] == []
    assert state(cw, name) == want


def test_unsupported_math_is_refused_by_name_and_keeps_the_state(aws, adm, clock):
    cw = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    _series_alarm(cw, "odd", "ANOMALY_DETECTION_BAND(a)", ids=("a",))
    _series_alarm(cw, "scalar", "SUM(a)", ids=("a",))
    _put(cw, "scalar", "a", 1.0, clock[0] - 1)
    out = evaluate(adm, ["odd", "scalar"])
    errors = {e["alarmName"]: e["error"] for e in out["errors"]}
    assert "ANOMALY_DETECTION_BAND" in errors["odd"]
    assert "single time series" in errors["scalar"]
    assert out["changes"] == []
    assert state(cw, "odd") == "INSUFFICIENT_DATA"


def test_state_change_event_carries_the_metric_math_configuration(aws, adm, clock):
    cw = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    _series_alarm(cw, "ev", "MIN([a, b])")
    _put(cw, "ev", "a", 0.0, clock[0] - 1)
    assert evaluate(adm, ["ev"])["changes"][0]["state"] == "ALARM"
    _, events = adm("GET", "/cloudwatch/alarm-events?alarmName=ev")
    detail = events["events"][-1]["detail"]
    assert detail["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert detail["previousState"]["reason"] == "Unchecked: Initial alarm creation"
    metrics = detail["configuration"]["metrics"]
    assert metrics[0] == {"id": "e", "expression": "MIN([a, b])", "returnData": True}
    assert metrics[1]["metricStat"] == {
        "metric": {"namespace": "Strict", "name": "V", "dimensions": {"Series": "ev-a"}},
        "period": 60, "stat": "Average"}
    assert metrics[1]["returnData"] is False


# -- Route 53 publishes HealthCheckStatus in us-east-1 ----------------------------------------
def _health_check(r53, fqdn):
    return r53.create_health_check(CallerReference=fqdn, HealthCheckConfig={
        "Type": "HTTPS", "FullyQualifiedDomainName": fqdn, "Port": 443,
        "ResourcePath": "/health"})["HealthCheck"]["Id"]


def _read(cw, hc_id, metric="HealthCheckStatus", minutes=10, now=None, stat="Minimum"):
    end = (now or time.time()) + 60
    res = cw.get_metric_data(MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
        "Namespace": "AWS/Route53", "MetricName": metric,
        "Dimensions": [{"Name": "HealthCheckId", "Value": hc_id}]}, "Period": 60, "Stat": stat}}],
        StartTime=_ts(end - minutes * 60 - 60), EndTime=_ts(end))
    return res["MetricDataResults"][0]["Values"]


def test_health_check_metrics_are_published_in_us_east_1_only(aws, adm):
    r53 = aws("route53", account=ACCOUNT, region="us-east-1")
    alb = _health_check(r53, "alb.pub.example.com")
    api = _health_check(r53, "api.pub.example.com")
    gate = r53.create_health_check(CallerReference="gate", HealthCheckConfig={
        "Type": "CALCULATED", "HealthThreshold": 2, "ChildHealthChecks": [alb, api]})["HealthCheck"]["Id"]
    adm("POST", "/route53/endpoints", {"endpoint": "api.pub.example.com", "failingCheckers": 0.5})
    status, out = adm("POST", "/route53/publish-metrics", {"account": ACCOUNT})
    assert status == 200 and out["region"] == "us-east-1"
    us = aws("cloudwatch", account=ACCOUNT, region="us-east-1")
    assert _read(us, alb) == [1.0]
    assert _read(us, api) == [1.0]  # half the checkers fail: > 18% see it healthy
    assert _read(us, api, "HealthCheckPercentageHealthy", stat="Average") == [50.0]
    assert _read(us, gate, "ChildHealthCheckHealthyCount", stat="Average") == [2.0]
    assert _read(us, gate, "HealthCheckPercentageHealthy", stat="Average") == []
    adm("POST", "/route53/endpoints", {"endpoint": "alb.pub.example.com", "healthy": False})
    adm("POST", "/route53/publish-metrics", {"account": ACCOUNT})
    assert _read(us, alb) == [0.0]  # the minute's datapoint follows the health
    assert _read(us, gate) == [0.0]
    eu = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    assert _read(eu, alb) == []
    names = {m["MetricName"] for m in eu.list_metrics(Namespace="AWS/Route53")["Metrics"]}
    assert names == set()
    # other accounts see nothing of it
    assert _read(aws("cloudwatch", account=PROD, region="us-east-1"), alb) == []


def test_infra_region_health_alarm_follows_the_endpoints_over_periods(aws, adm, clock):
    """infra's region_health alarm (3 periods, notBreaching) from endpoint state alone."""
    r53 = aws("route53", account=ACCOUNT, region="us-east-1")
    alb = _health_check(r53, "alb.us.example.com")
    api = _health_check(r53, "api.us.example.com")
    us = aws("cloudwatch", account=ACCOUNT, region="us-east-1")
    eu = aws("cloudwatch", account=ACCOUNT, region="eu-central-1")
    region_health(us, "orders-health-us-east-1", alb, api)
    region_health(eu, "orders-health-us-east-1", alb, api)  # the wrong Region: no metrics
    names = ["orders-health-us-east-1"]

    def run():
        out = evaluate(adm, names)
        assert out["errors"] == []
        return {(c["region"], c["state"]) for c in out["changes"]}

    assert run() == {("us-east-1", "OK"), ("eu-central-1", "OK")}
    clock[0] += 10
    adm("POST", "/route53/endpoints", {"endpoint": "alb.us.example.com", "healthy": False})
    clock[0] += 60
    assert run() == set()  # 1 failing minute of 3
    clock[0] += 120  # no evaluation meanwhile: the minutes are published all the same
    assert run() == {("us-east-1", "ALARM")}
    assert state(eu, names[0]) == "OK"
    reason = us.describe_alarms(AlarmNames=names)["MetricAlarms"][0]["StateReason"]
    assert reason.startswith("Threshold Crossed: 3 out of the last 3 datapoints [0.0 (")
    clock[0] += 15
    adm("POST", "/route53/endpoints", {"endpoint": "alb.us.example.com", "healthy": True})
    assert run() == {("us-east-1", "OK")}
    # newest first: the current minute follows the latest health (healthy again), the two
    # minutes before it failed, and the minute the endpoint failed in was still healthy
    values = _read(us, alb, minutes=8, now=clock[0])
    assert values == [1.0, 0.0, 0.0, 1.0]


def test_a_new_check_is_published_from_its_creation_only(aws, adm, clock):
    r53 = aws("route53", account=ACCOUNT, region="us-east-1")
    hc = _health_check(r53, "new.example.com")
    clock[0] += 300
    _, out = adm("POST", "/route53/publish-metrics", {"account": ACCOUNT})
    row = next(p for p in out["published"] if p["healthCheckId"] == hc)
    assert row["minutesWritten"] == 6
    us = aws("cloudwatch", account=ACCOUNT, region="us-east-1")
    assert len(_read(us, hc, minutes=30, now=clock[0])) == 6


# -- S3 replication metrics: the Region each one is published in -------------------------
S3_DIMS = [{"Name": "SourceBucket", "Value": "orders-eu"},
           {"Name": "DestinationBucket", "Value": "orders-us"}, {"Name": "RuleId", "Value": "all"}]


def _s3(cw, metric):
    now = datetime.now(timezone.utc)
    res = cw.get_metric_data(MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
        "Namespace": "AWS/S3", "MetricName": metric, "Dimensions": S3_DIMS},
        "Period": 60, "Stat": "Maximum"}}], StartTime=now - timedelta(minutes=5), EndTime=now)
    return set(res["MetricDataResults"][0]["Values"])


def test_s3_replication_metrics_are_published_where_s3_publishes_them(aws, adm):
    body = {"account": SHARED, "sourceBucket": "orders-eu", "destinationBucket": "orders-us",
            "ruleId": "all", "ReplicationLatency": 40, "BytesPendingReplication": 2048,
            "OperationsPendingReplication": 3, "OperationsFailedReplication": 1}
    status, out = adm("POST", "/s3/replication-metrics", body)
    assert status == 400
    assert "destination bucket's Region" in out["error"]
    status, out = adm("POST", "/s3/replication-metrics",
                      dict(body, sourceRegion="eu-central-1", destinationRegion="us-east-1"))
    assert status == 200, out
    assert out["metrics"][0]["publishedIn"] == {
        "ReplicationLatency": "us-east-1", "BytesPendingReplication": "us-east-1",
        "OperationsPendingReplication": "us-east-1", "OperationsFailedReplication": "eu-central-1"}
    us = aws("cloudwatch", region="us-east-1")
    eu = aws("cloudwatch", region="eu-central-1")
    assert [_s3(us, m) for m in ("ReplicationLatency", "BytesPendingReplication",
                                 "OperationsPendingReplication", "OperationsFailedReplication")] \
        == [{40.0}, {2048.0}, {3.0}, set()]
    assert [_s3(eu, m) for m in ("ReplicationLatency", "BytesPendingReplication",
                                 "OperationsPendingReplication", "OperationsFailedReplication")] \
        == [set(), set(), set(), {1.0}]


def test_s3_bucket_regions_come_from_the_buckets(aws, adm):
    s3e = aws("s3", region="eu-central-1")
    s3e.create_bucket(Bucket="orders-eu", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3u = aws("s3", region="us-east-1")
    s3u.create_bucket(Bucket="orders-us")
    base = {"account": SHARED, "sourceBucket": "orders-eu", "destinationBucket": "orders-us",
            "ruleId": "all", "ReplicationLatency": 7}
    status, out = adm("POST", "/s3/replication-metrics", dict(base, destinationRegion="eu-central-1"))
    assert status == 400 and "orders-us is in us-east-1" in out["error"]
    status, out = adm("POST", "/s3/replication-metrics", base)
    assert status == 200
    assert (out["metrics"][0]["sourceRegion"], out["metrics"][0]["destinationRegion"]) == \
        ("eu-central-1", "us-east-1")
    assert _s3(aws("cloudwatch", region="us-east-1"), "ReplicationLatency") == {7.0}
