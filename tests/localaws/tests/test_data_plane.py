"""The data-plane path of issue #16 ("survive us-east-1") against the running world: the
service's public endpoints a probe GETs (service_endpoints.py), DynamoDB per Region with
conditional writes, and the data-plane gate in Route 53's resolver (a CALCULATED gate with
a CLOUDWATCH_METRIC child following an alarm in the peer Region)."""

import http.client
import math
import socket
import time
import urllib.parse
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, \
    ReadTimeoutError

from localaws import cloudwatch_alarms

ACCT = "744455566616"  # this file's own account
US, EU = "us-east-1", "eu-central-1"
PEER = {US: EU, EU: US}
TABLE = "orders-controlplane-local"


def _dark(adm, region, **extra):
    status, out = adm("POST", "/regions/outage", dict({"region": region, "dark": True}, **extra))
    assert status == 200, out


def _back(adm, region):
    status, out = adm("POST", "/regions/outage", {"region": region, "dark": False})
    assert status == 200, out


# -- the service's public endpoints ------------------------------------------------------
def _get(server, endpoint, path="/health", timeout=3.0, method="GET"):
    """(status, body) of the endpoint, as a probe with `timeout` gets it."""
    host, port = urllib.parse.urlsplit(server).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, f"/_localaws/service/{endpoint}{path}")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_endpoint_answers_200_when_healthy_or_unknown_and_503_when_set_failing(server, adm):
    status, body = _get(server, "orders-eu.example.com")
    assert status == 200 and b'"status": "ok"' in body, body
    assert _get(server, "orders-eu.example.com", method="HEAD")[0] == 200
    adm("POST", "/route53/endpoints", {"endpoint": "orders-eu.example.com", "healthy": True})
    assert _get(server, "ORDERS-EU.example.com.", "/deep/path?x=1")[0] == 200
    adm("POST", "/route53/endpoints", {"endpoint": "orders-eu.example.com", "healthy": False,
                                       "reason": "by hand"})
    status, body = _get(server, "orders-eu.example.com")
    assert status == 503 and b"by hand" in body, body
    assert _get(server, "orders-us.example.com")[0] == 200  # another endpoint is not affected
    # a fraction of checkers failing: the listed verdict (18% rule over all checkers)
    adm("POST", "/route53/endpoints", {"endpoint": "orders-eu.example.com", "failingCheckers": 0.85})
    assert _get(server, "orders-eu.example.com")[0] == 503
    adm("POST", "/route53/endpoints", {"endpoint": "orders-eu.example.com", "failingCheckers": 0.5})
    assert _get(server, "orders-eu.example.com")[0] == 200
    adm("DELETE", "/route53/endpoints")
    assert _get(server, "orders-eu.example.com")[0] == 200
    _, out = adm("GET", "/service-requests")
    counts = {(r["endpoint"], r["outcome"]): r["count"] for r in out["requests"]}
    assert counts[("orders-eu.example.com", "unhealthy")] == 2
    assert counts[("orders-us.example.com", "ok")] == 1


def test_endpoint_of_a_dark_region_does_not_answer_in_timeout_mode(server, adm):
    _dark(adm, US, holdSeconds=5, endpoints=["orders-us.example.com"])
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        _get(server, "orders-us.example.com", timeout=1.0)
    assert 1.0 <= time.monotonic() - t0 < 2.0
    assert _get(server, "orders-eu.example.com")[0] == 200  # the peer's endpoint answers
    # the client went away: the hold ends with it
    deadline = time.monotonic() + 2.0
    while adm("GET", "/regions/outage")[1]["holds"]["heldNow"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert adm("GET", "/regions/outage")[1]["holds"]["clientGone"] == 1
    # Route 53's health checkers see it fail too
    assert adm("GET", "/route53/endpoints")[1]["endpoints"][0]["healthy"] is False
    _back(adm, US)
    assert _get(server, "orders-us.example.com")[0] == 200


def test_endpoint_of_a_dark_region_in_error_and_reset_modes(server, adm):
    adm("POST", "/route53/endpoints", {"endpoint": "orders-us.example.com", "healthy": True})
    _dark(adm, US, mode="error", endpoints=["orders-us.example.com"])
    status, body = _get(server, "orders-us.example.com")
    assert status == 503 and b"us-east-1 is unavailable" in body, body
    _dark(adm, US, mode="error", status=500, endpoints=["orders-us.example.com"])
    assert _get(server, "orders-us.example.com")[0] == 500
    _dark(adm, US, mode="reset", endpoints=["orders-us.example.com"])
    t0 = time.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _get(server, "orders-us.example.com")
    assert time.monotonic() - t0 < 1.0
    _back(adm, US)
    assert _get(server, "orders-us.example.com")[0] == 200  # its earlier state is back
    # a dark Region without endpoints leaves the service's endpoints alone
    _dark(adm, US, mode="reset")
    assert _get(server, "orders-us.example.com")[0] == 200


# -- DynamoDB, one table per Region ----------------------------------------------------------
def _table(ddb):
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])


def _put(ddb, version, condition):
    item = {"id": {"S": "routing"}, "version": {"N": str(version)}}
    if condition == "new":
        return ddb.put_item(TableName=TABLE, Item=item,
                            ConditionExpression="attribute_not_exists(id)")
    return ddb.put_item(TableName=TABLE, Item=item, ConditionExpression="#v = :v",
                        ExpressionAttributeNames={"#v": "version"},
                        ExpressionAttributeValues={":v": {"N": str(condition)}})


def _conditional_failure(call):
    with pytest.raises(ClientError) as exc:
        call()
    err = exc.value.response
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (
        400, "ConditionalCheckFailedException"), err


def test_dynamodb_tables_are_regional_and_conditional_puts_fail_with_400(aws):
    eu, us = aws("dynamodb", account=ACCT, region=EU), aws("dynamodb", account=ACCT, region=US)
    _table(eu)
    _table(us)  # the same name in another Region is another table
    _put(eu, 1, "new")
    assert "Item" not in us.get_item(TableName=TABLE, Key={"id": {"S": "routing"}})
    _put(us, 7, "new")
    _conditional_failure(lambda: _put(eu, 1, "new"))  # the first write, again
    _put(eu, 2, 1)  # #v = :v with the version read
    _conditional_failure(lambda: _put(eu, 3, 1))  # a stale version
    got = eu.get_item(TableName=TABLE, Key={"id": {"S": "routing"}}, ConsistentRead=True)
    assert got["Item"]["version"] == {"N": "2"}
    assert us.get_item(TableName=TABLE, Key={"id": {"S": "routing"}})["Item"]["version"] == {"N": "7"}


def test_dynamodb_in_a_dark_region_fails_in_the_outage_mode(aws, adm):
    eu = aws("dynamodb", account=ACCT, region=EU)
    _table(eu)
    _table(aws("dynamodb", account=ACCT, region=US))
    key = {"id": {"S": "routing"}}
    _dark(adm, US, mode="error")
    with pytest.raises(ClientError) as exc:
        aws("dynamodb", account=ACCT, region=US).get_item(TableName=TABLE, Key=key)
    err = exc.value.response
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (
        503, "ServiceUnavailable"), err
    _dark(adm, US, mode="error", status=500)
    with pytest.raises(ClientError) as exc:
        aws("dynamodb", account=ACCT, region=US).put_item(TableName=TABLE, Item=key)
    assert exc.value.response["Error"]["Code"] == "InternalServerError"
    _put(eu, 1, "new")  # the other Region's table works
    _dark(adm, US, holdSeconds=3)
    t0 = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        aws("dynamodb", account=ACCT, region=US, read_timeout=1,
            connect_timeout=1).get_item(TableName=TABLE, Key=key)
    assert time.monotonic() - t0 < 2.5
    _dark(adm, US, mode="reset")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        aws("dynamodb", account=ACCT, region=US).get_item(TableName=TABLE, Key=key)
    _put(eu, 2, 1)
    _, out = adm("GET", f"/calls?account={ACCT}&region={US}&outcome=outage")
    assert {c["service"] for c in out["calls"]} == {"dynamodb"} and out["count"] == 4
    _back(adm, US)
    assert "Item" not in aws("dynamodb", account=ACCT, region=US).get_item(TableName=TABLE, Key=key)


# -- the data-plane gate in Route 53's resolver -----------------------------------------------
@pytest.fixture
def clock(monkeypatch):
    """Moves the world's clock for alarm evaluation (cloudwatch_alarms.clock)."""
    now = [float(math.floor(time.time() / 60) * 60 - 3600 + 5)]  # an hour ago, 5 s into a minute
    monkeypatch.setattr(cloudwatch_alarms, "clock", lambda: now[0])
    return now


def _ts(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc)


def _gate_alarm(cw, gated):
    """infra's data-plane gate alarm for Region `gated`, created in its observer's Region."""
    cw.put_metric_alarm(
        AlarmName=f"orders-data-plane-gate-{gated}", Namespace="ControlPlane",
        MetricName="DataPlaneGateClosed", Dimensions=[{"Name": "Region", "Value": gated}],
        Statistic="Maximum", Period=60, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="ignore")


def _publish(cw, gated, value, at=None):
    datum = {"MetricName": "DataPlaneGateClosed", "Value": float(value),
             "Dimensions": [{"Name": "Region", "Value": gated}]}
    if at is not None:
        datum["Timestamp"] = _ts(at)
    cw.put_metric_data(Namespace="ControlPlane", MetricData=[datum])


def _check(r53, cfg):
    return r53.create_health_check(CallerReference=f"{time.time()}-{id(cfg)}",
                                   HealthCheckConfig=cfg)["HealthCheck"]["Id"]


def _metric_check(r53, gated, status="LastKnownStatus"):
    return _check(r53, {"Type": "CLOUDWATCH_METRIC", "InsufficientDataHealthStatus": status,
                        "AlarmIdentifier": {"Region": PEER[gated],
                                            "Name": f"orders-data-plane-gate-{gated}"}})


def _build_gates(aws):
    """Two latency A records, each behind a CALCULATED gate (alb, api, data-plane; all 3)."""
    r53 = aws("route53", account=ACCT, region=US)
    cws = {r: aws("cloudwatch", account=ACCT, region=r) for r in (EU, US)}
    zone = r53.create_hosted_zone(Name="gate.example.com",
                                  CallerReference=str(time.time()))["HostedZone"]["Id"]
    changes, gates = [], {}
    for n, region in enumerate((EU, US)):
        _gate_alarm(cws[PEER[region]], region)
        children = [_check(r53, {"Type": "HTTPS", "FullyQualifiedDomainName":
                                 f"{part}.{region}.gate.example.com", "Port": 443,
                                 "ResourcePath": "/health", "RequestInterval": 30,
                                 "FailureThreshold": 3}) for part in ("alb", "api")]
        children.append(_metric_check(r53, region))
        gates[region] = _check(r53, {"Type": "CALCULATED", "ChildHealthChecks": children,
                                     "HealthThreshold": 3})
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.gate.example.com", "Type": "A", "TTL": 60, "SetIdentifier": region,
            "Region": region, "HealthCheckId": gates[region],
            "ResourceRecords": [{"Value": f"192.0.2.{n + 1}"}]}})
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    return r53, cws, gates


def _answers(adm, caller):
    status, out = adm("GET", "/route53/resolve?zone=gate.example.com&name=api.gate.example.com"
                             f"&type=A&region={caller}")
    assert status == 200, out
    return [c["region"] for c in out["candidates"]]


def _evaluate(adm):
    status, out = adm("POST", "/cloudwatch/evaluate-alarms", {"account": ACCT})
    assert status == 200 and out["errors"] == [], out
    return {(c["region"], c["alarmName"]): c["state"] for c in out["changes"]}


def _health(adm, hc_id):
    return next(h for h in adm("GET", "/route53/health-checks")[1]["healthChecks"]
                if h["id"] == hc_id)


def test_gate_alarm_in_the_peer_region_drops_a_dark_region_and_lets_it_back(aws, adm, clock):
    assert adm("POST", "/time-scale", {"scale": 0.02})[0] == 200
    r53, cws, gates = _build_gates(aws)
    us_gate, eu_gate = f"orders-data-plane-gate-{US}", f"orders-data-plane-gate-{EU}"
    # new alarms (INSUFFICIENT_DATA), no last known status: healthy
    assert _answers(adm, US) == [US, EU] and _answers(adm, EU) == [EU, US]
    _publish(cws[EU], US, 0, clock[0])
    _publish(cws[US], EU, 0, clock[0])
    assert _evaluate(adm) == {(EU, us_gate): "OK", (US, eu_gate): "OK"}

    # us-east-1 dark: Route 53's control plane fails, its data plane answers
    _dark(adm, US, mode="error")
    with pytest.raises(ClientError) as exc:
        r53.get_health_check(HealthCheckId=gates[US])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert _answers(adm, US) == [US, EU]
    # eu-central-1's copy closes the gate: one datapoint, the alarm's 1 of 1
    clock[0] += 10
    _publish(cws[EU], US, 1, clock[0])
    assert _evaluate(adm) == {(EU, us_gate): "ALARM"}
    assert _answers(adm, US) == [EU] and _answers(adm, EU) == [EU]
    gate = _health(adm, gates[US])
    assert gate["healthy"] is False and "2 of 3 child health checks" in gate["status"]
    # 0 in the same minute: the period's Maximum is still 1
    clock[0] += 10
    _publish(cws[EU], US, 0, clock[0])
    assert _evaluate(adm) == {} and _answers(adm, US) == [EU]
    # the next minute holds only 0: the gate opens, us-east-1 still dark
    clock[0] += 60
    _publish(cws[EU], US, 0, clock[0])
    assert _evaluate(adm) == {(EU, us_gate): "OK"}
    assert _answers(adm, US) == [US, EU]
    _back(adm, US)

    # eu-central-1 (the alarm's Region) dark while its alarm is OK: no data stream, so
    # InsufficientDataHealthStatus decides: LastKnownStatus (OK) keeps us-east-1 in
    unhealthy_when_unknown = _metric_check(r53, US, status="Unhealthy")
    assert _health(adm, unhealthy_when_unknown)["healthy"] is True  # alarm OK
    _dark(adm, EU, mode="error")
    assert _answers(adm, US) == [US, EU]
    dp = _health(adm, r53.get_health_check(HealthCheckId=gates[US])["HealthCheck"][
        "HealthCheckConfig"]["ChildHealthChecks"][2])
    assert dp["healthy"] is True and "LastKnownStatus (last known state OK)" in dp["status"]
    assert f"Region {EU} is unavailable" in dp["status"]
    other = _health(adm, unhealthy_when_unknown)
    assert other["healthy"] is False and "InsufficientDataHealthStatus is Unhealthy" in other["status"]
    # the dark observer can neither close nor open the gate
    with pytest.raises(ClientError):
        _publish(cws[EU], US, 1, clock[0])
    assert _evaluate(adm) == {} and _answers(adm, US) == [US, EU]
    _back(adm, EU)

    # closed, then its observer goes dark: LastKnownStatus (ALARM) keeps it closed
    clock[0] += 60
    _publish(cws[EU], US, 1, clock[0])
    assert _evaluate(adm) == {(EU, us_gate): "ALARM"} and _answers(adm, US) == [EU]
    _dark(adm, EU, mode="error")
    assert _answers(adm, US) == [EU]  # eu-central-1's own record: its endpoints still pass
    assert "last known state ALARM" in _health(adm, r53.get_health_check(
        HealthCheckId=gates[US])["HealthCheck"]["HealthCheckConfig"]["ChildHealthChecks"][2])["status"]


def _probe_alarm(cw, observed):
    """infra's probe alarm for Region `observed`: Minimum, period 60, 3 of 3 < 1, missing."""
    cw.put_metric_alarm(
        AlarmName=f"orders-probe-{observed}", Namespace="ControlPlane",
        MetricName="EndpointProbeHealthy", Dimensions=[{"Name": "Region", "Value": observed}],
        Statistic="Minimum", Period=60, EvaluationPeriods=3, DatapointsToAlarm=3, Threshold=1.0,
        ComparisonOperator="LessThanThreshold", TreatMissingData="missing")


def test_time_scale_does_not_shorten_alarm_periods(aws, adm):
    """Periods are spans of the datapoints' timestamps (the publisher's clock), whatever the
    world's time scale: ticks a second apart with the current timestamp fill one period."""
    assert adm("POST", "/time-scale", {"scale": 0.02})[0] == 200
    cw = aws("cloudwatch", account=ACCT, region=EU)
    _gate_alarm(cw, US)
    _probe_alarm(cw, US)
    for tick in range(3):  # the failover function's ticks, ~1 s apart
        probe = {"MetricName": "EndpointProbeHealthy", "Value": 0.0,
                 "Dimensions": [{"Name": "Region", "Value": US}]}
        if tick:  # the first without a Timestamp: CloudWatch stamps it on receipt
            probe["Timestamp"] = _ts(time.time())
        cw.put_metric_data(Namespace="ControlPlane", MetricData=[probe])
        _publish(cw, US, 1, time.time())
        time.sleep(1.0)
    changes = _evaluate(adm)
    # 1 of 1: the current minute's datapoints count at once
    assert changes == {(EU, f"orders-data-plane-gate-{US}"): "ALARM"}, changes
    # 3 of 3: three seconds of ticks are one or two periods, not three
    probe = cw.describe_alarms(AlarmNames=[f"orders-probe-{US}"])["MetricAlarms"][0]
    assert probe["StateValue"] == "INSUFFICIENT_DATA"
    # what two more real minutes of ticks would have written: a datapoint in each period
    now = time.time()
    for back in (120, 60):
        cw.put_metric_data(Namespace="ControlPlane", MetricData=[{
            "MetricName": "EndpointProbeHealthy", "Value": 0.0, "Timestamp": _ts(now - back),
            "Dimensions": [{"Name": "Region", "Value": US}]}])
    assert _evaluate(adm) == {(EU, f"orders-probe-{US}"): "ALARM"}
