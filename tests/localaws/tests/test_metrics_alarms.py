from datetime import datetime, timedelta, timezone

from conftest import PROD, SHARED


def test_s3_replication_metrics(aws, adm):
    status, _ = adm("POST", "/s3/replication-metrics", {
        "account": SHARED, "region": "eu-central-1", "destinationRegion": "eu-central-1",
        "sourceBucket": "src", "destinationBucket": "dst", "ruleId": "r1", "ReplicationLatency": 42,
        "OperationsPendingReplication": 7, "OperationsFailedReplication": 1})
    assert status == 200
    cw = aws("cloudwatch", region="eu-central-1")
    now = datetime.now(timezone.utc)
    dims = [{"Name": "SourceBucket", "Value": "src"}, {"Name": "DestinationBucket", "Value": "dst"},
            {"Name": "RuleId", "Value": "r1"}]
    res = cw.get_metric_data(MetricDataQueries=[
        {"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": "AWS/S3", "MetricName": name,
                                                  "Dimensions": dims},
                                       "Period": 60, "Stat": "Maximum"}}
        for i, name in enumerate(["ReplicationLatency", "OperationsPendingReplication",
                                  "OperationsFailedReplication"])],
        StartTime=now - timedelta(minutes=10), EndTime=now)
    values = {r["Id"]: set(r["Values"]) for r in res["MetricDataResults"]}
    assert values == {"q0": {42.0}, "q1": {7.0}, "q2": {1.0}}
    assert len(res["MetricDataResults"][0]["Timestamps"]) >= 9
    # other region / account sees nothing
    other = aws("cloudwatch", account=PROD, region="eu-central-1").get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
            "Namespace": "AWS/S3", "MetricName": "ReplicationLatency", "Dimensions": dims},
            "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - timedelta(minutes=10), EndTime=now)
    assert other["MetricDataResults"][0]["Values"] == []


def test_alarm_evaluation_records_state_change_events(aws, adm):
    cw = aws("cloudwatch", region="eu-central-1")
    cw.put_metric_alarm(AlarmName="lag", Namespace="AWS/S3", MetricName="ReplicationLatency",
                        Dimensions=[{"Name": "SourceBucket", "Value": "src"},
                                    {"Name": "DestinationBucket", "Value": "dst"},
                                    {"Name": "RuleId", "Value": "r1"}],
                        Statistic="Maximum", Period=60, EvaluationPeriods=2, Threshold=900,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="missing")
    # a new alarm starts INSUFFICIENT_DATA (PutMetricAlarm); no data keeps it there
    assert cw.describe_alarms(AlarmNames=["lag"])["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"
    status, out = adm("POST", "/cloudwatch/evaluate-alarms", {})
    assert out["changes"] == []
    adm("POST", "/s3/replication-metrics", {
        "account": SHARED, "region": "eu-central-1", "destinationRegion": "eu-central-1",
        "sourceBucket": "src", "destinationBucket": "dst", "ruleId": "r1", "ReplicationLatency": 1200})
    status, out = adm("POST", "/cloudwatch/evaluate-alarms", {})
    assert out["changes"] == [{"account": SHARED, "region": "eu-central-1", "alarmName": "lag",
                               "previousState": "INSUFFICIENT_DATA", "state": "ALARM"}]
    assert cw.describe_alarms(AlarmNames=["lag"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    # no change, no new event
    status, out = adm("POST", "/cloudwatch/evaluate-alarms", {})
    assert out["changes"] == []
    status, events = adm("GET", "/cloudwatch/alarm-events?alarmName=lag")
    ev = events["events"][-1]
    assert ev["source"] == "aws.cloudwatch"
    assert ev["detail-type"] == "CloudWatch Alarm State Change"
    assert ev["detail"]["state"]["value"] == "ALARM"
    assert ev["detail"]["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert ev["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] == "ReplicationLatency"
    adm("POST", "/s3/replication-metrics", {
        "account": SHARED, "region": "eu-central-1", "destinationRegion": "eu-central-1",
        "sourceBucket": "src", "destinationBucket": "dst", "ruleId": "r1", "ReplicationLatency": 5})
    status, out = adm("POST", "/cloudwatch/evaluate-alarms", {})
    assert out["changes"][0]["state"] == "OK"


def test_get_metric_data_keeps_namespaces_apart_with_dimensions(aws):
    cw = aws("cloudwatch", account=PROD, region="us-east-1")
    now = datetime.now(timezone.utc)
    dims = [{"Name": "DestinationRegion", "Value": "eu-central-1"}]
    for namespace, value in [("TeamA", 0.0), ("TeamB", 1.0)]:
        cw.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": "ReplicationReady", "Dimensions": dims, "Value": value,
             "Timestamp": now}])
    res = cw.get_metric_data(MetricDataQueries=[
        {"Id": f"q{ns.lower()}", "MetricStat": {"Metric": {
            "Namespace": ns, "MetricName": "ReplicationReady", "Dimensions": dims},
            "Period": 60, "Stat": "Minimum"}}
        for ns in ["TeamA", "TeamB", "TeamC"]],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1))
    values = {r["Id"]: r["Values"] for r in res["MetricDataResults"]}
    assert values == {"qteama": [0.0], "qteamb": [1.0], "qteamc": []}
