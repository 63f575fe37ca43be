"""CloudWatch over Smithy RPC v2 CBOR (botocore 1.44 speaks it natively) and a raw round trip."""

import time
import urllib.request
from datetime import datetime, timedelta, timezone

import botocore.session
import cbor2
import pytest
from botocore.exceptions import ClientError

from conftest import DEV, SHARED
from localaws import cloudwatch_cbor

MODEL = botocore.session.get_session().get_service_model("cloudwatch")


def test_boto3_uses_cbor_and_metrics_round_trip(aws, adm):
    cw = aws("cloudwatch")
    assert cw.meta.service_model.protocol == "smithy-rpc-v2-cbor"
    now = datetime.now(timezone.utc)
    cw.put_metric_data(Namespace="App", MetricData=[{
        "MetricName": "Latency", "Dimensions": [{"Name": "Region", "Value": "eu"}],
        "Values": [10.0, 20.0], "Counts": [1.0, 1.0], "Timestamp": now, "Unit": "Milliseconds"}])
    res = cw.get_metric_data(
        MetricDataQueries=[{"Id": "m1", "MetricStat": {
            "Metric": {"Namespace": "App", "MetricName": "Latency",
                       "Dimensions": [{"Name": "Region", "Value": "eu"}]},
            "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1))
    r = res["MetricDataResults"][0]
    assert r["Id"] == "m1" and r["StatusCode"] == "Complete"
    assert r["Values"] == [20.0]
    assert isinstance(r["Timestamps"][0], datetime)
    stats = cw.get_metric_statistics(Namespace="App", MetricName="Latency",
                                     Dimensions=[{"Name": "Region", "Value": "eu"}],
                                     StartTime=now - timedelta(minutes=5),
                                     EndTime=now + timedelta(minutes=1), Period=60,
                                     Statistics=["Sum"])
    assert stats["Datapoints"][0]["Sum"] == 30.0
    names = [m["MetricName"] for m in cw.list_metrics(Namespace="App")["Metrics"]]
    assert names == ["Latency"]
    # accounts are separate
    assert aws("cloudwatch", account=DEV).list_metrics(Namespace="App")["Metrics"] == []
    status, calls = adm("GET", "/calls/counters?service=cloudwatch")
    ops = {c["operation"] for c in calls["counters"]}
    assert {"PutMetricData", "GetMetricData", "ListMetrics"} <= ops


def test_alarms_and_errors(aws):
    cw = aws("cloudwatch")
    cw.put_metric_alarm(AlarmName="a1", Namespace="App", MetricName="Errors", Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.set_alarm_state(AlarmName="a1", StateValue="ALARM", StateReason="test")
    alarms = cw.describe_alarms(AlarmNames=["a1"])["MetricAlarms"]
    assert alarms[0]["StateValue"] == "ALARM"
    assert isinstance(alarms[0]["StateUpdatedTimestamp"], datetime)
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName="missing", StateValue="OK", StateReason="x")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFound"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_raw_wire_format(server):
    """Encode a request with botocore's own CBOR serializer; check headers and types."""
    from botocore.serialize import create_serializer

    op = MODEL.operation_model("GetMetricData")
    now = datetime.now(timezone.utc)
    req = create_serializer("smithy-rpc-v2-cbor").serialize_to_request({
        "MetricDataQueries": [{"Id": "q", "MetricStat": {"Metric": {
            "Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}}],
        "StartTime": now - timedelta(minutes=5), "EndTime": now}, op)
    assert req["url_path"] == "/service/GraniteServiceVersion20100801/operation/GetMetricData"
    headers = dict(req["headers"])
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=111111111111/20261127/eu-central-1/"
                                "monitoring/aws4_request, SignedHeaders=host, Signature=x")
    http = urllib.request.Request(server + req["url_path"], data=req["body"], headers=headers,
                                  method="POST")
    with urllib.request.urlopen(http) as resp:
        assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
        assert resp.headers["Content-Type"] == "application/cbor"
        body = cbor2.loads(resp.read())
    assert body["MetricDataResults"][0]["Id"] == "q"
    # PutMetricData has no output: empty body, still the protocol header
    op = MODEL.operation_model("PutMetricData")
    req = create_serializer("smithy-rpc-v2-cbor").serialize_to_request({
        "Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.5, "Timestamp": now}]}, op)
    http = urllib.request.Request(server + req["url_path"], data=req["body"],
                                  headers={**dict(req["headers"]), "Authorization": headers["Authorization"]},
                                  method="POST")
    with urllib.request.urlopen(http) as resp:
        assert resp.status == 200 and resp.read() == b""
        assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
    # error: CBOR body with __type, query-compatible header
    op = MODEL.operation_model("SetAlarmState")
    req = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(
        {"AlarmName": "nope", "StateValue": "OK", "StateReason": "r"}, op)
    http = urllib.request.Request(server + req["url_path"], data=req["body"],
                                  headers={**dict(req["headers"]), "Authorization": headers["Authorization"]},
                                  method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(http)
    assert exc.value.code == 404
    assert exc.value.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert exc.value.headers["x-amzn-query-error"] == "ResourceNotFound;Sender"
    err = cbor2.loads(exc.value.read())
    assert err["__type"] == "com.amazonaws.cloudwatch#ResourceNotFound"


def test_shape_driven_encoding_round_trip():
    """encode_output -> botocore's own rpc-v2-cbor response parser gives the same values."""
    from botocore.parsers import create_parser

    ts = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    result = {"MetricDataResults": [{"Id": "m", "Label": "L", "Timestamps": [ts],
                                     "Values": [1.0, 2], "StatusCode": "Complete"}],
              "Messages": []}
    body = cloudwatch_cbor.encode_output("cloudwatch", "GetMetricData", result)
    raw = cbor2.loads(body)
    # tag 1 (0xc1) followed by a float64 (0xfb) epoch-seconds value
    assert b"\xc1\xfb" + cbor2.dumps(ts.timestamp())[1:] in body
    assert all(isinstance(v, float) for v in raw["MetricDataResults"][0]["Values"])
    op = MODEL.operation_model("GetMetricData")
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": 200, "headers": {"smithy-protocol": "rpc-v2-cbor"}, "body": body},
        op.output_shape)
    assert parsed["MetricDataResults"][0]["Timestamps"][0] == ts
    assert parsed["MetricDataResults"][0]["Values"] == [1.0, 2.0]
    # and the request side: botocore's serializer -> decode_request
    from botocore.serialize import create_serializer

    req = create_serializer("smithy-rpc-v2-cbor").serialize_to_request({
        "Namespace": "N", "MetricData": [{"MetricName": "M", "Values": [1.0], "Counts": [2.0],
                                          "Timestamp": ts, "StorageResolution": 1}]},
        MODEL.operation_model("PutMetricData"))
    params = cloudwatch_cbor.decode_request("cloudwatch", "PutMetricData", req["body"])
    datum = params["MetricData"][0]
    assert datum["Timestamp"] == ts and datum["StorageResolution"] == 1
    assert datum["Values"] == [1.0]
