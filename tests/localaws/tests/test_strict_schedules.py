"""As strict as AWS, in time: one time scale for every simulated AWS duration,
provisioned concurrency that takes AWS's minute or two (scaled), and EventBridge
Scheduler schedules that fire into their Lambda targets."""

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import PROD, SHARED, FunctionStandIn, make_function, serve_stand_in

HERE = os.path.dirname(os.path.abspath(__file__))
FN = "orders-failover-eu-central-1"
FN_ARN = f"arn:aws:lambda:eu-central-1:{PROD}:function:{FN}"
ROLE = f"arn:aws:iam::{PROD}:role/scheduler"


class _Function(FunctionStandIn):
    """Records every payload; `/broken` fails every call."""

    received: list = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with _Function.lock:
            _Function.received.append((self.path, payload))
        if self.path == "/broken":
            self.answer(200, {"errorType": "Boom", "errorMessage": "always"},
                        {"X-Amz-Function-Error": "Unhandled"})
        else:
            self.answer(200, {"outcome": "applied"})


@pytest.fixture(scope="module")
def function_url():
    yield from serve_stand_in(_Function)


@pytest.fixture(autouse=True)
def _fresh():
    with _Function.lock:
        _Function.received.clear()


def _scale(adm, value):
    status, body = adm("POST", "/time-scale", {"scale": value})
    assert status == 200, body
    return body


def _register(adm, url, function=FN, account=PROD, region="eu-central-1"):
    status, body = adm("POST", "/lambda/invoke-targets",
                       {"account": account, "region": region, "function": function, "url": url})
    assert status == 201, body


def _at(seconds_ahead, tz="UTC"):
    local = datetime.now(timezone.utc).astimezone(
        timezone.utc if tz == "UTC" else __import__("zoneinfo").ZoneInfo(tz))
    return f"at({(local + timedelta(seconds=seconds_ahead)).strftime('%Y-%m-%dT%H:%M:%S')})"


def _schedule(aws, name, expression, target, account=PROD, **extra):
    sch = aws("scheduler", account=account)
    sch.create_schedule(Name=name, ScheduleExpression=expression,
                        FlexibleTimeWindow={"Mode": "OFF"}, Target=target, **extra)
    return sch


def _firings(adm, query=""):
    return adm("GET", f"/scheduler/firings{query}")[1]["firings"]


def _until(adm, query, done, limit=10.0):
    deadline = time.monotonic() + limit
    while True:
        got = _firings(adm, query)
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _finished(fs):
    return bool(fs) and all(f["status"] not in ("pending", "invoked") for f in fs)


# -- time scale ---------------------------------------------------------------------------
def test_time_scale_admin_validation_and_reset(adm):
    status, body = adm("GET", "/time-scale")
    assert status == 200 and body["env"] == "LOCALAWS_TIME_SCALE"
    env = body["envScale"]
    assert body["scale"] == env
    assert _scale(adm, 0.02)["scale"] == 0.02
    from localaws import timescale

    assert timescale.scaled(60) == pytest.approx(1.2)
    for bad in (0, -1, "fast", None, 1000):
        assert adm("POST", "/time-scale", {"scale": bad})[0] == 400, bad
    assert adm("POST", "/time-scale", {})[0] == 400
    assert adm("GET", "/time-scale")[1]["scale"] == 0.02
    adm("POST", "/reset")
    assert adm("GET", "/time-scale")[1]["scale"] == env


def test_time_scale_comes_from_the_environment_and_a_bad_one_stops_the_start():
    code = "from localaws import timescale; print(timescale.scale(), timescale.scaled(60))"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE), LOCALAWS_TIME_SCALE="0.5")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["0.5", "30.0"]
    env["LOCALAWS_TIME_SCALE"] = ""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["1.0", "60.0"], "unset: AWS's own timing"
    env["LOCALAWS_TIME_SCALE"] = "zero"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "LOCALAWS_TIME_SCALE" in bad.stderr


# -- provisioned concurrency --------------------------------------------------------------
def _alias(lam, name="fn"):
    v = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v)


def _config(adm, fn="fn", account=SHARED):
    _, pc = adm("GET", "/lambda/provisioned-concurrency")
    [cfg] = [c for c in pc["configs"] if c["functionName"] == fn and c["account"] == account]
    return cfg


def test_provisioned_concurrency_takes_a_minute_or_two_scaled(aws, adm):
    from localaws import lambda_pc

    _scale(adm, 0.02)  # a minute lasts 1.2 s
    lam = make_function(aws)
    _alias(lam)
    put_at = time.time()
    resp = lam.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="live",
                                                  ProvisionedConcurrentExecutions=600)
    assert resp["Status"] == "IN_PROGRESS"
    cfg = _config(adm)
    delay = cfg["readyAt"] - put_at
    expected = lambda_pc.aws_ready_delay(SHARED, "eu-central-1", "fn", "live", 600)
    assert delay == pytest.approx(expected, abs=0.2)
    # a minute or two of preparation plus 600/6000 of a minute of allocation, scaled
    assert 0.02 * (60 + 6) - 0.2 <= delay <= 0.02 * (120 + 6) + 0.2
    # the same config always takes the same time; another amount may not
    assert expected == lambda_pc.aws_ready_delay(SHARED, "eu-central-1", "fn", "live", 600)
    time.sleep(max(0.0, put_at + 0.02 * 60 * 0.9 - time.time()))
    got = lam.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert got["Status"] == "IN_PROGRESS" and got["AllocatedProvisionedConcurrentExecutions"] == 0
    time.sleep(max(0.0, cfg["readyAt"] + 0.05 - time.time()))
    got = lam.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert (got["Status"], got["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 600)


def test_at_real_aws_timing_a_config_is_not_ready_for_a_minute(aws, adm):
    _scale(adm, 1.0)  # AWS's own timing, whatever LOCALAWS_TIME_SCALE says
    lam = make_function(aws)
    _alias(lam)
    put_at = time.time()
    lam.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="live",
                                           ProvisionedConcurrentExecutions=1)
    assert 60 <= _config(adm)["readyAt"] - put_at <= 121
    time.sleep(0.3)
    got = lam.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert got["Status"] == "IN_PROGRESS"


def test_ready_delay_overrides_are_real_seconds_world_wide_or_per_account(aws, adm):
    _scale(adm, 0.02)
    status, settings = adm("POST", "/lambda/provisioned-concurrency/settings",
                           {"readyDelaySeconds": 0.3})
    assert status == 200 and settings["readyDelaySeconds"] == 0.3
    assert settings["awsReadyDelay"] == {"preparationSeconds": [60, 120],
                                         "environmentsPerMinute": 6000, "timeScale": 0.02}
    # PROD keeps AWS's timing despite the world-wide override; DEV gets its own
    adm("POST", "/lambda/provisioned-concurrency/settings",
        {"account": PROD, "readyDelaySeconds": None})
    for account in (SHARED, PROD):
        lam = make_function(aws, account=account)
        _alias(lam)
        put_at = time.time()
        lam.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="live",
                                               ProvisionedConcurrentExecutions=2)
        delay = _config(adm, account=account)["readyAt"] - put_at
        if account == SHARED:
            assert delay == pytest.approx(0.3, abs=0.1), "an override is not scaled"
        else:
            assert delay >= 0.02 * 60 - 0.1, "the account pinned AWS's timing"
    assert adm("POST", "/lambda/provisioned-concurrency/settings",
               {"readyDelaySeconds": -1})[0] == 400
    adm("POST", "/reset")
    _, settings = adm("GET", "/lambda/provisioned-concurrency")
    assert settings["readyDelaySeconds"] is None and settings["accountReadyDelaySeconds"] == []


# -- scheduler: one-time schedules --------------------------------------------------------
def test_a_one_time_schedule_fires_its_input_then_deletes_itself(aws, adm, function_url):
    _scale(adm, 0.02)  # the 60-second precision lasts at most 1.2 s
    _register(adm, f"{function_url}/ok")
    expression = _at(1)
    sch = _schedule(aws, "end-drill", expression, {
        "Arn": FN_ARN, "RoleArn": ROLE,
        "Input": json.dumps({"task": "end_drill", "drill_id": "d1",
                             "schedule_arn": "<aws.scheduler.schedule-arn>",
                             "at": "<aws.scheduler.scheduled-time>",
                             "execution": "<aws.scheduler.execution-id>",
                             "attempt": "<aws.scheduler.attempt-number>"})},
        ScheduleExpressionTimezone="UTC", ActionAfterCompletion="DELETE")
    created = time.time()
    [f] = _until(adm, "?name=end-drill", _finished)
    assert f["status"] == "delivered", f
    assert f["firedAt"] >= created + 0.0 and f["firedAt"] - created < 3.5
    arn = f"arn:aws:scheduler:eu-central-1:{PROD}:schedule/default/end-drill"
    [(path, payload)] = _Function.received
    assert payload == {"task": "end_drill", "drill_id": "d1", "schedule_arn": arn,
                       "at": expression[3:-1] + "Z", "execution": f["executionId"],
                       "attempt": "1"}
    assert len(f["executionId"]) == 16
    assert (f["attempts"], f["functionAttempts"], f["trigger"]) == (1, 1, "timer")
    assert f["deleted"] is True
    with pytest.raises(ClientError) as exc:
        sch.get_schedule(Name="end-drill")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_time_is_read_in_the_schedules_time_zone(aws, adm, function_url):
    _scale(adm, 0.02)
    _register(adm, f"{function_url}/ok")
    target = {"Arn": FN_ARN, "RoleArn": ROLE, "Input": "{\"tz\": true}"}
    # the wall-clock time of now+1s in UTC is hours ahead in Los Angeles: not yet
    _schedule(aws, "la", _at(1), target, ScheduleExpressionTimezone="America/Los_Angeles")
    _schedule(aws, "tokyo", _at(1, "Asia/Tokyo"), target,
              ScheduleExpressionTimezone="Asia/Tokyo")
    [f] = _until(adm, "", _finished)
    assert f["name"] == "tokyo" and f["status"] == "delivered"
    time.sleep(1.5)
    assert [x["name"] for x in _firings(adm)] == ["tokyo"]


def test_disabled_never_fires_and_none_keeps_the_schedule_firing_once(aws, adm, function_url):
    _scale(adm, 0.02)
    _register(adm, f"{function_url}/ok")
    target = {"Arn": FN_ARN, "RoleArn": ROLE}
    _schedule(aws, "off", _at(0), target, State="DISABLED")
    sch = _schedule(aws, "keep", _at(0), target)  # ActionAfterCompletion NONE, no Input
    [f] = _until(adm, "", _finished)
    assert (f["name"], f["status"], f["actionAfterCompletion"]) == ("keep", "delivered", "NONE")
    assert [p for _, p in _Function.received] == [{}], "no Input: an empty JSON object"
    time.sleep(1.5)
    assert len(_firings(adm)) == 1, "a one-time schedule fires once"
    assert sch.get_schedule(Name="keep")["Name"] == "keep" and f["deleted"] is False
    assert adm("POST", "/scheduler/fire",
               {"account": PROD, "region": "eu-central-1", "name": "off"})[0] == 409


def test_the_precision_offset_is_within_the_minute_and_scaled(adm):
    from localaws import scheduler_ext

    sig = ("at(2026-01-01T00:00:00)",)
    offsets = {scheduler_ext.precision_offset(f"arn:{i}", sig, {"Mode": "OFF"}) for i in range(200)}
    assert min(offsets) >= 0 and max(offsets) <= 59 and len(offsets) > 30
    flex = {scheduler_ext.precision_offset(f"arn:{i}", sig,
                                           {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15})
            for i in range(200)}
    assert max(flex) > 60 and max(flex) < 15 * 60
    assert scheduler_ext.at_time("at(2026-07-01T12:00:00)", "Europe/Berlin") == \
        datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc).timestamp()
    assert scheduler_ext.rate_seconds("rate(5 minutes)") == 300
    assert scheduler_ext.rate_seconds("cron(0 * * * ? *)") is None


# -- scheduler: retries and Lambda's asynchronous invocation ------------------------------
def test_a_missing_function_is_retried_per_the_retry_policy(aws, adm):
    _scale(adm, 0.01)
    _schedule(aws, "nobody", _at(0), {
        "Arn": f"arn:aws:lambda:eu-central-1:{PROD}:function:missing", "RoleArn": ROLE,
        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}},
        ActionAfterCompletion="DELETE")
    _schedule(aws, "once", _at(0), {
        "Arn": f"arn:aws:lambda:eu-central-1:{PROD}:function:missing", "RoleArn": ROLE,
        "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}})
    fs = _until(adm, "", lambda fs: len(fs) == 2 and _finished(fs))
    by = {f["name"]: f for f in fs}
    assert (by["nobody"]["status"], by["nobody"]["attempts"]) == ("undelivered", 3)
    assert by["nobody"]["error"].startswith("ResourceNotFoundException: Function not found: "
                                            f"arn:aws:lambda:eu-central-1:{PROD}:function:missing")
    assert by["nobody"]["deleted"] is True, "the last invocation completed (it failed)"
    assert (by["once"]["status"], by["once"]["attempts"]) == ("undelivered", 1)


def test_a_throttled_invoke_is_retried_with_the_next_attempt_number(aws, adm, function_url):
    _scale(adm, 0.01)
    _register(adm, f"{function_url}/ok")
    status, _ = adm("POST", "/faults", {"service": "lambda", "operation": "Invoke",
                                        "kind": "throttle", "count": 2, "account": PROD})
    assert status == 201
    _schedule(aws, "busy", _at(0), {"Arn": FN_ARN, "RoleArn": ROLE,
                                    "Input": "{\"attempt\": \"<aws.scheduler.attempt-number>\"}"})
    [f] = _until(adm, "", _finished)
    assert (f["status"], f["attempts"]) == ("delivered", 3), f
    assert [p for _, p in _Function.received] == [{"attempt": "3"}]


def test_a_function_error_is_lambdas_async_retry_not_schedulers(aws, adm, function_url):
    _scale(adm, 0.01)
    adm("POST", "/events/lambda-delivery-settings", {"retryDelaySeconds": 0})
    _register(adm, f"{function_url}/broken")
    _schedule(aws, "boom", _at(0), {"Arn": FN_ARN, "RoleArn": ROLE, "Input": "{}",
                                    "RetryPolicy": {"MaximumRetryAttempts": 5,
                                                    "MaximumEventAgeInSeconds": 60}})
    [f] = _until(adm, "", _finished)
    assert (f["status"], f["attempts"], f["functionAttempts"]) == ("failed", 1, 3), f
    assert f["error"] == "Boom: always"
    assert len(_Function.received) == 3


def test_a_function_without_invoke_target_is_recorded(aws, adm):
    _scale(adm, 0.01)
    make_function(aws, name="quiet", account=PROD)
    _schedule(aws, "quiet", _at(0), {
        "Arn": f"arn:aws:lambda:eu-central-1:{PROD}:function:quiet", "RoleArn": ROLE})
    _schedule(aws, "to-sqs", _at(0), {
        "Arn": f"arn:aws:sqs:eu-central-1:{PROD}:q", "RoleArn": ROLE, "Input": "hello"})
    fs = _until(adm, "", lambda fs: len(fs) == 2 and _finished(fs))
    assert sorted((f["name"], f["status"], f["input"]) for f in fs) == [
        ("quiet", "recorded", {}), ("to-sqs", "recorded", "hello")]


# -- scheduler: rate() and cron() ---------------------------------------------------------
def test_cron_schedules_fire_on_demand(aws, adm, function_url):
    _register(adm, f"{function_url}/ok")
    _schedule(aws, "hourly", "cron(0 * * * ? *)", {
        "Arn": FN_ARN, "RoleArn": ROLE,
        "Input": "{\"task\": \"tick\", \"schedule_arn\": \"<aws.scheduler.schedule-arn>\"}"})
    time.sleep(0.5)
    assert _firings(adm) == [], "cron() is not evaluated by the timer"
    status, f = adm("POST", "/scheduler/fire",
                    {"account": PROD, "region": "eu-central-1", "name": "hourly"})
    assert status == 202 and f["trigger"] == "admin"
    [f] = _until(adm, "", _finished)
    assert f["status"] == "delivered"
    assert _Function.received[0][1]["schedule_arn"].endswith(":schedule/default/hourly")
    assert adm("POST", "/scheduler/fire",
               {"account": PROD, "region": "eu-central-1", "name": "nope"})[0] == 404
    assert adm("POST", "/scheduler/fire", {"account": PROD})[0] == 400
    assert adm("DELETE", "/scheduler/firings")[1] == {"cleared": 1}


def test_rate_schedules_fire_on_their_scaled_period_until_end_date(aws, adm, function_url):
    _scale(adm, 0.01)  # rate(1 minute): every 0.6 s
    _register(adm, f"{function_url}/ok")
    end = datetime.now(timezone.utc) + timedelta(seconds=2)
    _schedule(aws, "tick", "rate(1 minute)", {"Arn": FN_ARN, "RoleArn": ROLE,
                                              "Input": "{\"task\": \"tick\"}"}, EndDate=end)
    time.sleep(3.0)
    fs = _firings(adm, "?name=tick")
    assert 3 <= len(fs) <= 5, [f["firedAt"] for f in fs]
    assert all(f["trigger"] == "rate" for f in fs)
    assert fs[-1]["firedAt"] < end.timestamp() + 0.3
    time.sleep(0.8)
    assert len(_firings(adm, "?name=tick")) == len(fs), "no firing after EndDate"


def test_reset_forgets_firings(aws, adm, function_url):
    _register(adm, f"{function_url}/ok")
    _schedule(aws, "x", "cron(0 * * * ? *)", {"Arn": FN_ARN, "RoleArn": ROLE})
    adm("POST", "/scheduler/fire", {"account": PROD, "region": "eu-central-1", "name": "x"})
    _until(adm, "", _finished)
    adm("POST", "/reset")
    assert _firings(adm) == []


def test_a_dark_region_fails_the_invoke_and_holds_its_own_schedules(aws, adm, function_url):
    _scale(adm, 0.01)
    us_fn = "orders-failover-us-east-1"
    us_arn = f"arn:aws:lambda:us-east-1:{PROD}:function:{us_fn}"
    _register(adm, f"{function_url}/ok", function=us_fn, region="us-east-1")
    # us-east-1's own schedule (due in a second or two) waits for the Region, then fires
    sch = aws("scheduler", account=PROD, region="us-east-1")
    sch.create_schedule(Name="in-dark", ScheduleExpression=_at(2),
                        FlexibleTimeWindow={"Mode": "OFF"},
                        Target={"Arn": us_arn, "RoleArn": ROLE})
    assert adm("POST", "/regions/outage", {"region": "us-east-1", "dark": True})[0] == 200
    _schedule(aws, "to-dark", _at(0), {
        "Arn": us_arn, "RoleArn": ROLE,
        "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60}})
    [f] = _until(adm, "?name=to-dark", _finished)
    assert (f["status"], f["attempts"]) == ("undelivered", 2), f
    assert f["error"].startswith("ServiceUnavailable: Region us-east-1 is unavailable")
    time.sleep(3.0)
    assert _firings(adm, "?name=in-dark") == []
    adm("POST", "/regions/outage", {"region": "us-east-1", "dark": False})
    [f] = _until(adm, "?name=in-dark", _finished)
    assert f["status"] == "delivered"
