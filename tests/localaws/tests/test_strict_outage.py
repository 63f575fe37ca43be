"""Region outage: a dark Region answers no API call (held, 503, or reset), Route 53's
control plane goes dark with us-east-1 while its data plane (health checkers, resolver)
keeps answering, and the world's own activity in a dark Region (EventBridge deliveries,
bus forwards, alarm evaluation) stops."""

import json
import threading
import time
import urllib.parse

import pytest
from botocore.exceptions import (ClientError, ConnectionClosedError, EndpointConnectionError,
                                 ReadTimeoutError)

from conftest import FunctionStandIn, serve_stand_in

ACCT = "811111111111"
US, EU = "us-east-1", "eu-central-1"


def _dark(adm, region, **extra):
    status, out = adm("POST", "/regions/outage", dict({"region": region, "dark": True}, **extra))
    assert status == 200, out
    return out


def _back(adm, region):
    status, out = adm("POST", "/regions/outage", {"region": region, "dark": False})
    assert status == 200, out
    return out


def _calls(adm, **filters):
    _, out = adm("GET", "/calls?" + urllib.parse.urlencode(filters))
    return out["calls"]


def _until(probe, done, limit=10.0):
    deadline = time.monotonic() + limit
    while True:
        value = probe()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# -- the switch -----------------------------------------------------------------------
def test_switch_validates_lists_and_is_cleared_by_reset(adm):
    for bad, words in [({"dark": True}, "region"),
                       ({"region": "mars-1", "dark": True}, "region"),
                       ({"region": US}, "dark"),
                       ({"region": US, "dark": True, "mode": "slow"}, "mode"),
                       ({"region": US, "dark": True, "holdSeconds": 0}, "holdSeconds"),
                       ({"region": US, "dark": True, "holdSeconds": 500}, "holdSeconds"),
                       ({"region": US, "dark": True, "status": 502}, "status"),
                       ({"region": US, "dark": True, "endpoints": "alb"}, "endpoints")]:
        status, out = adm("POST", "/regions/outage", bad)
        assert status == 400 and words in out["error"], (bad, out)
    status, out = adm("GET", "/regions/outage")
    assert (status, out["dark"]) == (200, [])
    assert out["defaults"] == {"mode": "timeout", "holdSeconds": 6.0, "status": 503}
    assert out["globalControlPlanes"]["route53"] == US and out["globalControlPlanes"]["iam"] == US
    out = _dark(adm, US, mode="error", endpoints=["alb.us-east-1.example.com"])
    [r] = out["regions"]
    assert (r["region"], r["mode"], r["status"], r["endpoints"]) == (
        US, "error", 503, ["alb.us-east-1.example.com"])
    assert _back(adm, US)["dark"] == []
    _dark(adm, EU)
    assert adm("POST", "/reset")[0] == 200
    assert adm("GET", "/regions/outage")[1]["dark"] == []


# -- the three ways a dark Region fails a call ------------------------------------------
def test_timeout_mode_holds_the_call_until_the_client_gives_up(aws, adm):
    cw_us = aws("cloudwatch", account=ACCT, region=US, read_timeout=1, connect_timeout=1)
    cw_eu = aws("cloudwatch", account=ACCT, region=EU, read_timeout=1, connect_timeout=1)
    _dark(adm, US)
    t0 = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        cw_us.list_metrics()
    waited = time.monotonic() - t0
    assert 1.0 <= waited < 3.0, waited
    # The client went away: the worker thread is released long before holdSeconds (6 s).
    holds = _until(lambda: adm("GET", "/regions/outage")[1]["holds"],
                   lambda h: h["heldNow"] == 0, limit=2.0)
    assert holds["heldNow"] == 0 and holds["clientGone"] == 1 and holds["holdExpired"] == 0, holds
    cw_eu.list_metrics()  # another Region is not affected
    [call] = _calls(adm, account=ACCT, region=US)
    assert (call["operation"], call["outcome"], call["status"]) == ("ListMetrics", "outage", None)
    assert _calls(adm, account=ACCT, region=EU)[0]["outcome"] == "ok"
    _back(adm, US)
    cw_us.list_metrics()


def test_a_hold_is_bounded_then_the_connection_closes_without_an_answer(aws, adm):
    _dark(adm, US, holdSeconds=0.5)
    sns = aws("sns", account=ACCT, region=US, read_timeout=10)
    t0 = time.monotonic()
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        sns.list_topics()
    assert time.monotonic() - t0 < 3.0
    assert adm("GET", "/regions/outage")[1]["holds"]["holdExpired"] == 1


def test_error_mode_answers_503_in_each_protocol(aws, adm):
    _dark(adm, US, mode="error")
    cases = [
        (aws("route53", account=ACCT, region=US).list_hosted_zones, "ServiceUnavailable"),
        (aws("lambda", account=ACCT, region=US).list_functions, "ServiceException"),
        (aws("cloudwatch", account=ACCT, region=US).list_metrics, "ServiceUnavailable"),
        (aws("events", account=ACCT, region=US).list_rules, "ServiceUnavailable"),
        (aws("sns", account=ACCT, region=US).list_topics, "ServiceUnavailable"),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as exc:
            call()
        err = exc.value.response
        assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (503, code), err
    assert {c["outcome"] for c in _calls(adm, account=ACCT)} == {"outage"}
    assert {c["status"] for c in _calls(adm, account=ACCT)} == {503}
    _dark(adm, US, mode="error", status=500)
    with pytest.raises(ClientError) as exc:
        aws("sns", account=ACCT, region=US).list_topics()
    assert exc.value.response["Error"]["Code"] == "InternalFailure"


def test_reset_mode_closes_the_connection_at_once(aws, adm):
    _dark(adm, EU, mode="reset")
    t0 = time.monotonic()
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        aws("sts", account=ACCT, region=EU).get_caller_identity()
    assert time.monotonic() - t0 < 1.0
    assert _calls(adm, account=ACCT)[0]["outcome"] == "outage"


# -- global services: the control plane's Region decides --------------------------------
def test_route53_and_iam_control_planes_follow_us_east_1_sts_is_regional(aws, adm):
    r53_from_eu = aws("route53", account=ACCT, region=EU)
    iam = aws("iam", account=ACCT, region=EU)
    sts_eu = aws("sts", account=ACCT, region=EU)
    sts_global = aws("sts", account=ACCT, region=US)
    _dark(adm, EU, mode="error")
    r53_from_eu.list_hosted_zones()
    iam.list_roles()
    sts_global.get_caller_identity()
    with pytest.raises(ClientError):
        sts_eu.get_caller_identity()
    _back(adm, EU)
    _dark(adm, US, mode="error")
    for call in (r53_from_eu.list_hosted_zones, iam.list_roles, sts_global.get_caller_identity):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # STS's Regional endpoints do not depend on us-east-1
    assert sts_eu.get_caller_identity()["Account"] == ACCT
    # (with an endpoint override, boto3 signs Route 53 and IAM for the client's Region: the
    # control plane's Region decides all the same)
    dark = {(c["service"], c["region"]) for c in _calls(adm, account=ACCT, outcome="outage")}
    assert dark == {("sts", EU), ("route53", EU), ("iam", EU), ("sts", US)}, dark


# -- Route 53's data plane keeps working --------------------------------------------------
def _latency_zone(aws):
    r53 = aws("route53", account=ACCT, region=US)
    zone = r53.create_hosted_zone(Name="outage.example.com", CallerReference="outage")[
        "HostedZone"]["Id"].split("/")[-1]
    hc = {}
    for region in (EU, US):
        hc[region] = r53.create_health_check(CallerReference=f"hc-{region}", HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": f"alb.{region}.outage.example.com",
            "Port": 443, "ResourcePath": "/health"})["HealthCheck"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.outage.example.com.", "Type": "CNAME", "TTL": 60,
            "SetIdentifier": region, "Region": region, "HealthCheckId": hc[region],
            "ResourceRecords": [{"Value": f"alb.{region}.outage.example.com"}]}}
        for region in (EU, US)]})
    return r53, zone, hc


def test_route53_data_plane_answers_while_us_east_1_is_dark(aws, adm):
    r53, zone, hc = _latency_zone(aws)
    q = f"/route53/resolve?zone={zone}&name=api.outage.example.com&type=CNAME&region={US}"
    assert adm("GET", q)[1]["answer"]["region"] == US
    # an endpoint of us-east-1 was already marked unhealthy by hand: restored as it was
    adm("POST", "/route53/endpoints", {"endpoint": "api.us-east-1.outage.example.com",
                                       "healthy": False, "reason": "by hand"})
    _dark(adm, US, mode="error", endpoints=["alb.us-east-1.outage.example.com.",
                                            "api.us-east-1.outage.example.com"])
    with pytest.raises(ClientError):  # the control plane is gone...
        r53.get_health_check_status(HealthCheckId=hc[US])
    status, res = adm("GET", q)  # ...the resolver still answers, without us-east-1
    assert status == 200, res
    assert [c["region"] for c in res["candidates"]] == [EU]
    assert res["answer"]["region"] == EU and res["allUnhealthyFallback"] is False
    status, checks = adm("GET", "/route53/health-checks")  # ...and the checkers still judge
    by_id = {c["id"]: c for c in checks["healthChecks"]}
    assert by_id[hc[EU]]["healthy"] is True
    assert by_id[hc[US]]["healthy"] is False
    assert by_id[hc[US]]["status"].startswith("Failure: Connection timed out"), by_id[hc[US]]
    _back(adm, US)
    assert adm("GET", q)[1]["answer"]["region"] == US
    _, eps = adm("GET", "/route53/endpoints")
    assert [(e["endpoint"], e["healthy"], e["reason"]) for e in eps["endpoints"]] == [
        ("api.us-east-1.outage.example.com", False, "by hand")]
    obs = r53.get_health_check_status(HealthCheckId=hc[US])["HealthCheckObservations"]
    assert obs[0]["StatusReport"]["Status"].startswith("Success")


# -- Lambda, EventBridge and CloudWatch in a dark Region -----------------------------------
class _Function(FunctionStandIn):
    """Fails the first event (a function error), answers every later one."""

    calls = 0
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _Function.lock:
            _Function.calls += 1
            calls = _Function.calls
        if calls == 1:
            self.answer(200, {"errorType": "Boom", "errorMessage": "first call"},
                        {"X-Amz-Function-Error": "Unhandled"})
        else:
            self.answer(200, {"ok": calls})


@pytest.fixture
def function_url():
    _Function.calls = 0
    yield from serve_stand_in(_Function)


def _deliveries(adm):
    return adm("GET", f"/events/lambda-deliveries?account={ACCT}")[1]["deliveries"]


def test_lambda_invoke_and_event_deliveries_fail_while_the_region_is_dark(aws, adm, function_url):
    fn = "outage-fn"
    for region in (EU, US):
        status, _ = adm("POST", "/lambda/invoke-targets", {"account": ACCT, "region": region,
                                                           "function": fn, "url": function_url})
        assert status == 201
    _Function.calls = 1  # past the failing first call
    _dark(adm, US, mode="error")
    with pytest.raises(ClientError) as exc:
        aws("lambda", account=ACCT, region=US).invoke(FunctionName=fn, Payload=b"{}")
    assert exc.value.response["Error"]["Code"] == "ServiceException"
    out = aws("lambda", account=ACCT, region=EU).invoke(FunctionName=fn, Payload=b"{}")
    assert json.loads(out["Payload"].read()) == {"ok": 2}
    _back(adm, US)

    # An event on its way when eu-central-1 goes dark: retried, failed while dark...
    _Function.calls = 0
    adm("POST", "/events/lambda-delivery-settings", {"maxAttempts": 3, "retryDelaySeconds": 1})
    ev = aws("events", account=ACCT, region=EU)
    ev.put_rule(Name="on-test", EventPattern=json.dumps({"source": ["app.test"]}))
    ev.put_targets(Rule="on-test", Targets=[
        {"Id": "t", "Arn": f"arn:aws:lambda:{EU}:{ACCT}:function:{fn}"}])
    ev.put_events(Entries=[{"Source": "app.test", "DetailType": "T", "Detail": "{}"}])
    _until(lambda: _deliveries(adm), lambda ds: ds and ds[0]["attempts"] == 1)
    _dark(adm, EU, mode="error")
    [d] = _until(lambda: _deliveries(adm), lambda ds: ds[0]["attempts"] == 2, limit=5)
    assert d["status"] == "pending" and d["error"].startswith("ServiceUnavailable: Region "), d
    # ...and delivered by the retry after the Region came back (EventBridge retries)
    _back(adm, EU)
    [d] = _until(lambda: _deliveries(adm), lambda ds: ds[0]["status"] != "pending", limit=5)
    assert (d["status"], d["attempts"], d["result"]) == ("delivered", 3, {"ok": 2}), d

    # Still dark after every retry: failed; the function ran only the first time.
    _Function.calls = 0
    adm("DELETE", "/events")
    ev.put_events(Entries=[{"Source": "app.test", "DetailType": "T", "Detail": "{}"}])
    _until(lambda: _deliveries(adm), lambda ds: ds and ds[0]["attempts"] == 1)
    _dark(adm, EU, mode="error")
    [d] = _until(lambda: _deliveries(adm), lambda ds: ds[0]["status"] != "pending", limit=6)
    assert (d["status"], d["attempts"]) == ("failed", 3), d
    assert d["error"] == f"ServiceUnavailable: Region {EU} is unavailable (localaws region outage)"
    assert _Function.calls == 1


def test_bus_forwards_into_a_dark_region_are_not_delivered(aws, adm):
    peer_fn = "outage-peer"
    us_ev = aws("events", account=ACCT, region=US)
    us_ev.put_rule(Name="on-peer", EventPattern=json.dumps({"source": ["controlplane.failover"]}))
    us_ev.put_targets(Rule="on-peer", Targets=[
        {"Id": "t", "Arn": f"arn:aws:lambda:{US}:{ACCT}:function:{peer_fn}"}])
    eu_ev = aws("events", account=ACCT, region=EU)
    eu_ev.put_rule(Name="forward", EventPattern=json.dumps({"source": ["controlplane.failover"]}))
    eu_ev.put_targets(Rule="forward", Targets=[
        {"Id": "bus", "Arn": f"arn:aws:events:{US}:{ACCT}:event-bus/default"}])
    _dark(adm, US)
    eu_ev.put_events(Entries=[{"Source": "controlplane.failover", "DetailType": "Drill Started",
                               "Detail": "{}"}])
    _, fw = adm("GET", f"/events/bus-forwards?account={ACCT}")
    assert [f["status"] for f in fw["forwards"]] == [
        f"failed: ServiceUnavailable: Region {US} is unavailable (localaws region outage)"]
    assert _deliveries(adm) == []  # the us-east-1 rule never saw it
    _back(adm, US)
    eu_ev.put_events(Entries=[{"Source": "controlplane.failover", "DetailType": "Drill Started",
                               "Detail": "{}"}])
    _, fw = adm("GET", f"/events/bus-forwards?account={ACCT}")
    assert fw["forwards"][-1]["status"] == "forwarded"
    assert [d["rule"] for d in _deliveries(adm)] == ["on-peer"]


def test_alarms_in_a_dark_region_are_not_evaluated(aws, adm):
    for region in (EU, US):
        aws("cloudwatch", account=ACCT, region=region).put_metric_alarm(
            AlarmName=f"health-{region}", Namespace="App", MetricName="Errors", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="breaching")
    _dark(adm, US)
    _, out = adm("POST", "/cloudwatch/evaluate-alarms", {"account": ACCT})
    assert [(c["region"], c["state"]) for c in out["changes"]] == [(EU, "ALARM")]
    _, out = adm("POST", "/cloudwatch/evaluate-alarms", {"account": ACCT, "region": US})
    assert out["changes"] == []
    _back(adm, US)
    _, out = adm("POST", "/cloudwatch/evaluate-alarms", {"account": ACCT})
    assert [(c["region"], c["state"]) for c in out["changes"]] == [(US, "ALARM")]
