"""EventBridge rules with Lambda targets deliver to registered invoke targets, async, with
a bounded retry; bus targets forward the event unchanged; unregistered functions are only
recorded."""

import json
import threading
import time

import pytest

from conftest import PROD, FunctionStandIn, serve_stand_in

FN = "orders-concurrency-scheduler-eu-central-1"
FN_ARN = f"arn:aws:lambda:eu-central-1:{PROD}:function:{FN}"


class _Function(FunctionStandIn):
    """A function process stand-in: records each event; `/flaky` fails the first call,
    `/broken` fails every call."""

    received: list = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with _Function.lock:
            _Function.received.append((self.path, event))
            calls = sum(1 for p, _ in _Function.received if p == self.path)
        if self.path == "/broken" or (self.path == "/flaky" and calls == 1):
            self.answer(200, {"errorType": "Retryable", "errorMessage": f"call {calls} failed"},
                         {"X-Amz-Function-Error": "Unhandled"})
        else:
            self.answer(200, {"outcome": "applied", "seen": event.get("detail-type")})


@pytest.fixture(scope="module")
def function_url():
    yield from serve_stand_in(_Function)


@pytest.fixture(autouse=True)
def _fresh():
    with _Function.lock:
        _Function.received.clear()


def _until(adm, query, done, limit=10.0):
    """Polls the deliveries until `done(deliveries)` holds (or the bound passes)."""
    deadline = time.monotonic() + limit
    while True:
        _, got = adm("GET", f"/events/lambda-deliveries{query}")
        if done(got["deliveries"]) or time.monotonic() > deadline:
            return got["deliveries"]
        time.sleep(0.05)


def _rule(aws, name, pattern, arn, region="eu-central-1", account=PROD):
    ev = aws("events", account=account, region=region)
    ev.put_rule(Name=name, EventPattern=json.dumps(pattern))
    ev.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": arn}])
    return ev


def _register(adm, url, function=FN, region="eu-central-1"):
    status, body = adm("POST", "/lambda/invoke-targets",
                       {"account": PROD, "region": region, "function": function, "url": url})
    assert status == 201, body


def test_put_events_reaches_a_registered_function(aws, adm, function_url):
    _register(adm, f"{function_url}/ok")
    ev = _rule(aws, "failover-events", {"source": ["controlplane.failover"]}, FN_ARN)
    out = ev.put_events(Entries=[{"Source": "controlplane.failover",
                                  "DetailType": "Region Evacuated",
                                  "Detail": json.dumps({"region": "us-east-1"})}])
    event_id = out["Entries"][0]["EventId"]
    done = _until(adm, "", lambda ds: ds and ds[0]["status"] != "pending")
    assert [d["status"] for d in done] == ["delivered"], done
    d = done[0]
    assert (d["function"], d["functionAccount"], d["functionRegion"]) == (FN, PROD, "eu-central-1")
    assert d["attempts"] == 1 and d["error"] is None
    assert d["result"] == {"outcome": "applied", "seen": "Region Evacuated"}
    [(path, event)] = _Function.received
    assert path == "/ok"
    # the event as EventBridge hands it to Lambda
    assert event["id"] == event_id
    assert event["detail-type"] == "Region Evacuated"
    assert event["source"] == "controlplane.failover"
    assert (event["account"], event["region"]) == (PROD, "eu-central-1")
    assert event["detail"] == {"region": "us-east-1"}
    assert isinstance(event["time"], str) and event["time"].endswith("Z")
    assert "ingestion-time" not in event
    _, targets = adm("GET", "/lambda/invoke-targets")
    assert targets["targets"][0]["invocations"] == 1


def test_a_function_error_is_retried_then_delivered(aws, adm, function_url):
    adm("POST", "/events/lambda-delivery-settings", {"retryDelaySeconds": 0})
    _register(adm, f"{function_url}/flaky")
    ev = _rule(aws, "r", {"source": ["app.test"]}, FN_ARN)
    ev.put_events(Entries=[{"Source": "app.test", "DetailType": "T", "Detail": "{}"}])
    [d] = _until(adm, "", lambda ds: ds and ds[0]["status"] != "pending")
    assert (d["status"], d["attempts"], d["error"]) == ("delivered", 2, None), d
    assert len(_Function.received) == 2


def test_retries_are_bounded_and_the_failure_recorded(aws, adm, function_url):
    status, settings = adm("POST", "/events/lambda-delivery-settings",
                           {"maxAttempts": 2, "retryDelaySeconds": 0})
    assert (status, settings) == (200, {"maxAttempts": 2, "retryDelaySeconds": 0.0})
    _register(adm, f"{function_url}/broken")
    ev = _rule(aws, "r", {"source": ["app.test"]}, FN_ARN)
    ev.put_events(Entries=[{"Source": "app.test", "DetailType": "T", "Detail": "{}"}])
    [d] = _until(adm, "", lambda ds: ds and ds[0]["status"] != "pending")
    assert (d["status"], d["attempts"]) == ("failed", 2), d
    assert d["error"] == "Retryable: call 2 failed"
    assert len(_Function.received) == 2
    _, failed = adm("GET", "/events/lambda-deliveries?status=failed")
    assert len(failed["deliveries"]) == 1


def test_delivery_settings_are_validated(adm):
    assert adm("POST", "/events/lambda-delivery-settings", {"maxAttempts": 4})[0] == 400
    assert adm("POST", "/events/lambda-delivery-settings", {"retryDelaySeconds": -1})[0] == 400
    assert adm("GET", "/events/lambda-delivery-settings")[1] == {"maxAttempts": 3,
                                                                "retryDelaySeconds": 0.5}


def test_a_function_without_invoke_target_is_only_recorded(aws, adm, function_url):
    ev = _rule(aws, "r", {"source": ["app.test"]}, FN_ARN)
    ev.put_events(Entries=[{"Source": "app.test", "DetailType": "T", "Detail": "{}"}])
    _, got = adm("GET", "/events/lambda-deliveries")
    [d] = got["deliveries"]
    assert (d["status"], d["attempts"]) == ("recorded", 0)
    # a target registered in another region does not receive it
    _register(adm, f"{function_url}/ok", region="us-east-1")
    ev.put_events(Entries=[{"Source": "app.test", "DetailType": "T", "Detail": "{}"}])
    _, got = adm("GET", "/events/lambda-deliveries")
    assert [d["status"] for d in got["deliveries"]] == ["recorded", "recorded"]
    assert _Function.received == []


def test_bus_target_forwards_the_event_keeping_its_region(aws, adm, function_url):
    peer_fn = "orders-concurrency-scheduler-us-east-1"
    _register(adm, f"{function_url}/peer", function=peer_fn, region="us-east-1")
    _rule(aws, "on-peer-bus", {"source": ["controlplane.failover"]},
          f"arn:aws:lambda:us-east-1:{PROD}:function:{peer_fn}", region="us-east-1")
    # only events that originated in eu-central-1 are forwarded: no loop back
    _rule(aws, "forward", {"source": ["controlplane.failover"], "region": ["eu-central-1"]},
          f"arn:aws:events:us-east-1:{PROD}:event-bus/default")
    _rule(aws, "forward", {"source": ["controlplane.failover"], "region": ["us-east-1"]},
          f"arn:aws:events:eu-central-1:{PROD}:event-bus/default", region="us-east-1")
    ev = aws("events", account=PROD, region="eu-central-1")
    ev.put_events(Entries=[{"Source": "controlplane.failover", "DetailType": "Drill Started",
                            "Detail": json.dumps({"region": "eu-central-1"})}])
    [d] = _until(adm, "", lambda ds: ds and ds[0]["status"] != "pending")
    assert d["status"] == "delivered" and d["functionRegion"] == "us-east-1"
    assert (d["region"], d["rule"]) == ("us-east-1", "on-peer-bus")
    [(path, event)] = _Function.received
    assert path == "/peer" and event["region"] == "eu-central-1"
    _, fw = adm("GET", "/events/bus-forwards")
    assert [(f["rule"], f["status"]) for f in fw["forwards"]] == [("forward", "forwarded")]


def test_a_forwarding_loop_is_cut(aws, adm):
    for region, peer in (("eu-central-1", "us-east-1"), ("us-east-1", "eu-central-1")):
        _rule(aws, "loop", {"source": ["app.test"]},
              f"arn:aws:events:{peer}:{PROD}:event-bus/default", region=region)
    aws("events", account=PROD).put_events(
        Entries=[{"Source": "app.test", "DetailType": "T", "Detail": "{}"}])
    _, fw = adm("GET", "/events/bus-forwards")
    statuses = [f["status"] for f in fw["forwards"]]
    assert statuses[:-1] == ["forwarded"] * (len(statuses) - 1)
    assert statuses[-1].startswith("dropped")


def test_alarm_state_change_reaches_the_failover_function(aws, adm, function_url):
    fn = "orders-failover-us-east-1"
    _register(adm, f"{function_url}/failover", function=fn, region="us-east-1")
    cw = aws("cloudwatch", account=PROD, region="us-east-1")
    for name in ("health-us", "health-eu"):
        cw.put_metric_alarm(AlarmName=name, Namespace="AWS/Route53",
                            MetricName="HealthCheckStatus",
                            Dimensions=[{"Name": "HealthCheckId", "Value": name}],
                            Statistic="Minimum", Period=60, EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="LessThanThreshold")
    _rule(aws, "health", {"source": ["aws.cloudwatch"],
                          "detail-type": ["CloudWatch Alarm State Change"],
                          "detail": {"alarmName": ["health-us", "health-eu"]}},
          f"arn:aws:lambda:us-east-1:{PROD}:function:{fn}", region="us-east-1")
    cw.put_metric_data(Namespace="AWS/Route53", MetricData=[
        {"MetricName": "HealthCheckStatus", "Value": 0,
         "Dimensions": [{"Name": "HealthCheckId", "Value": "health-us"}]}])
    status, out = adm("POST", "/cloudwatch/evaluate-alarms",
                      {"account": PROD, "region": "us-east-1", "alarmNames": ["health-us"]})
    assert status == 200
    assert [(c["alarmName"], c["state"]) for c in out["changes"]] == [("health-us", "ALARM")]
    [d] = _until(adm, "", lambda ds: ds and ds[0]["status"] != "pending")
    assert d["status"] == "delivered"
    [(path, event)] = _Function.received
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["detail"]["alarmName"] == "health-us"
    assert event["detail"]["state"]["value"] == "ALARM"
    assert adm("POST", "/cloudwatch/evaluate-alarms", {"alarmNames": "health-us"})[0] == 400
