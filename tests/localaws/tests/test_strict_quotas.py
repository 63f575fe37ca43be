"""AWS request-rate quotas are enforced by default (localaws/quotas.py)."""

import itertools
import time

import pytest
from botocore.exceptions import ClientError

from conftest import DEV, SHARED


def _outcomes(call, n):
    """Runs `call` n times; returns (codes, seconds taken): "ok" or the error code."""
    codes = []
    t0 = time.monotonic()
    for _ in range(n):
        try:
            call()
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    return codes, time.monotonic() - t0


def _until_throttled(call, limit):
    """Calls until the first refusal; returns (successes, the ClientError)."""
    for n in range(limit):
        try:
            call()
        except ClientError as exc:
            return n, exc
    pytest.fail(f"no throttling within {limit} calls")


def _health_check(r53, ref):
    return r53.create_health_check(CallerReference=ref, HealthCheckConfig={
        "Type": "HTTP", "FullyQualifiedDomainName": f"{ref}.example.net", "Port": 80,
        "ResourcePath": "/"})["HealthCheck"]["Id"]


def test_quotas_are_on_without_being_switched_on(adm):
    status, out = adm("GET", "/throttling")
    assert status == 200
    for service in ("route53", "lambda", "cloudwatch", "ssm"):
        assert out["services"][service]["enabled"] is True
        assert out["services"][service]["source"] == "aws"
    r53 = {q["name"]: q for q in out["services"]["route53"]["quotas"]}
    assert r53["every action (account)"]["burst"] == 50 and r53["every action (account)"]["rate"] == 10
    assert r53["GetHealthCheckStatus"]["burst"] == 4 and r53["GetHealthCheckStatus"]["rate"] == 1
    assert r53["every action (account)"]["scope"] == "account"
    cw = {q["name"]: q["rate"] for q in out["services"]["cloudwatch"]["quotas"]}
    assert cw["PutMetricAlarm"] == 3 and cw["DescribeAlarms"] == 9 and cw["GetMetricData"] == 500


def test_route53_get_health_check_status_bucket_is_4_then_1_per_second(aws, adm):
    r53 = aws("route53", region="us-east-1")
    hc = _health_check(r53, "q-gs")
    codes, _ = _outcomes(lambda: r53.get_health_check_status(HealthCheckId=hc), 6)
    assert codes[:4] == ["ok"] * 4, codes
    assert codes[4] == "Throttling", codes
    # Route 53 is global: a client signing for another Region shares the account's bucket.
    with pytest.raises(ClientError) as exc:
        aws("route53", region="eu-central-1").get_health_check_status(HealthCheckId=hc)
    err = exc.value.response
    assert err["Error"]["Code"] == "Throttling"
    assert err["Error"]["Message"] == "Rate exceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    # another action has its own bucket; another account has its own buckets
    r53.get_health_check(HealthCheckId=hc)
    aws("route53", account=DEV, region="us-east-1").list_hosted_zones()
    time.sleep(1.1)  # one token back
    r53.get_health_check_status(HealthCheckId=hc)
    _, out = adm("GET", "/throttling")
    # calls 5 and 6, and the one signed for eu-central-1
    assert {"service": "route53", "account": SHARED, "quota": "GetHealthCheckStatus",
            "count": 3} in out["throttledByQuota"]
    _, calls = adm("GET", "/calls?service=route53&operation=GetHealthCheckStatus&outcome=throttled")
    assert calls["count"] == 3 and {c["status"] for c in calls["calls"]} == {400}


def test_route53_account_bucket_spans_actions(aws):
    r53 = aws("route53", region="us-east-1")
    t0 = time.monotonic()
    ok, exc = _until_throttled(r53.list_hosted_zones, 200)
    elapsed = time.monotonic() - t0
    assert exc.response["Error"]["Code"] == "Throttling"
    # 50 tokens at once, 10 more a second
    assert 50 <= ok <= 50 + 10 * elapsed + 1, (ok, elapsed)
    # the account bucket is empty: another action (its own bucket full) is refused too
    codes, _ = _outcomes(r53.get_hosted_zone_count, 5)
    assert "Throttling" in codes, codes


def test_lambda_control_plane_is_15_per_second_in_all(aws):
    lam = aws("lambda")
    calls = itertools.cycle([lam.list_functions, lam.get_account_settings])
    t0 = time.monotonic()
    ok, exc = _until_throttled(lambda: next(calls)(), 100)
    elapsed = time.monotonic() - t0
    assert 15 <= ok <= 15 + 15 * elapsed + 1, (ok, elapsed)
    err = exc.response
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Reason"] == "CallerRateLimitExceeded"
    assert err["Type"] == "User"
    assert err["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    # GetFunction has its own 100/s; invocations are not rate-limited; quotas are per Region
    for call in (lambda: lam.get_function(FunctionName="nope"),
                 lambda: lam.invoke(FunctionName="nope")):
        with pytest.raises(ClientError) as other:
            call()
        assert other.value.response["Error"]["Code"] == "ResourceNotFoundException"
    aws("lambda", region="us-east-1").list_functions()


def test_cloudwatch_per_action_rates(aws):
    cw = aws("cloudwatch")

    def put_alarm():
        cw.put_metric_alarm(AlarmName="q-alarm", Namespace="Q", MetricName="m",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="GreaterThanThreshold")

    codes, _ = _outcomes(put_alarm, 5)
    assert codes[:3] == ["ok"] * 3 and "Throttling" in codes[3:], codes
    cw.describe_alarms()  # 9/s of its own
    codes, _ = _outcomes(cw.describe_alarms, 12)
    assert "Throttling" in codes and codes.count("ok") >= 8, codes
    aws("cloudwatch", region="us-east-1").describe_alarms()  # per Region


def test_ssm_parameter_store_throughput_is_shared(aws):
    ssm = aws("ssm")
    ssm.put_parameter(Name="/q/p", Value="v", Type="String")
    calls = itertools.cycle([lambda: ssm.get_parameter(Name="/q/p"),
                             lambda: ssm.get_parameters(Names=["/q/p"])])
    t0 = time.monotonic()
    ok, exc = _until_throttled(lambda: next(calls)(), 200)
    elapsed = time.monotonic() - t0
    assert 40 <= ok <= 40 + 40 * elapsed + 1, (ok, elapsed)
    assert exc.response["Error"]["Code"] == "ThrottlingException"
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # per Region: us-east-1 has its own throughput (and no such parameter)
    with pytest.raises(ClientError) as other:
        aws("ssm", region="us-east-1").get_parameter(Name="/q/p")
    assert other.value.response["Error"]["Code"] == "ParameterNotFound"


def test_admin_switches_off_per_account_replaces_and_resets(aws, adm):
    r53_shared = aws("route53", region="us-east-1")
    r53_dev = aws("route53", account=DEV, region="us-east-1")
    hc_shared, hc_dev = _health_check(r53_shared, "q-a"), _health_check(r53_dev, "q-b")
    status, _ = adm("POST", "/throttling", {"service": "route53", "enabled": False,
                                            "account": SHARED})
    assert status == 200
    codes, _ = _outcomes(lambda: r53_shared.get_health_check_status(HealthCheckId=hc_shared), 8)
    assert codes == ["ok"] * 8
    codes, _ = _outcomes(lambda: r53_dev.get_health_check_status(HealthCheckId=hc_dev), 6)
    assert "Throttling" in codes
    # a rate where AWS documents none must be given
    status, out = adm("POST", "/throttling", {"service": "sns", "enabled": True})
    assert status == 400 and "rate" in out["error"]
    assert adm("POST", "/throttling", {"service": "sns", "rate": 2})[0] == 200
    sns = aws("sns")
    codes, _ = _outcomes(sns.list_topics, 3)
    assert codes[:2] == ["ok", "ok"] and codes[2] == "Throttling", codes
    for bad in ({"service": "lambda", "rate": 0}, {"service": "*", "rate": 5},
                {"service": "lambda", "account": "12"}, {"service": "lambda", "enabled": "no"}):
        assert adm("POST", "/throttling", bad)[0] == 400, bad
    # everything off, then the documented quotas back for everyone
    adm("POST", "/throttling", {"service": "*", "enabled": False})
    codes, _ = _outcomes(lambda: r53_dev.get_health_check_status(HealthCheckId=hc_dev), 6)
    assert codes == ["ok"] * 6
    _, out = adm("POST", "/throttling", {"service": "*", "enabled": True})
    assert out["overrides"] == [] and out["services"]["route53"]["source"] == "aws"
    codes, _ = _outcomes(lambda: r53_shared.get_health_check_status(HealthCheckId=hc_shared), 6)
    assert "Throttling" in codes
    adm("POST", "/throttling", {"service": "lambda", "enabled": False})
    adm("POST", "/reset")
    _, out = adm("GET", "/throttling")
    assert out["overrides"] == [] and out["throttled"] == {}
    assert all(s["source"] == "aws" for s in out["services"].values())
