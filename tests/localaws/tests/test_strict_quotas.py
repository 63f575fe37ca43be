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
    for service in ("route53", "lambda", "cloudwatch", "ssm", "scheduler", "sns", "events",
                    "secretsmanager", "ecr"):
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
    # a rate where AWS documents none (STS) must be given
    status, out = adm("POST", "/throttling", {"service": "sts", "enabled": True})
    assert status == 400 and "rate" in out["error"]
    assert adm("POST", "/throttling", {"service": "sts", "rate": 2})[0] == 200
    sts = aws("sts")
    codes, _ = _outcomes(sts.get_caller_identity, 3)
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


# -- EventBridge Scheduler, SNS, EventBridge, Secrets Manager, ECR -------------------------
#
# Their documented rates are hundreds to tens of thousands a second, more than a test's
# client sends, so the world's clock is held still (no refill): exactly the bucket's
# size goes through, then the service's throttling error.

class _StillClock:
    """Stands in for `time` in quotas.py: buckets never refill while a test holds it."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


@pytest.fixture
def still(monkeypatch):
    from localaws import quotas

    clock = _StillClock()
    monkeypatch.setattr(quotas, "time", clock)
    return clock


def _burst(check, limit):
    """How many calls `check` lets through before the first refusal (at most `limit`)."""
    for n in range(limit):
        if check() is not None:
            return n
    return limit


@pytest.mark.parametrize("service, operation, region, burst", [
    ("scheduler", "CreateSchedule", "eu-central-1", 5000),
    ("scheduler", "CreateSchedule", "us-east-1", 5000),
    ("scheduler", "CreateSchedule", "ca-central-1", 250),
    ("scheduler", "DeleteSchedule", "eu-central-1", 1000),
    ("scheduler", "DeleteSchedule", "ca-central-1", 250),
    ("scheduler", "GetSchedule", "us-east-1", 1000),
    ("scheduler", "UpdateSchedule", "eu-central-1", 1000),
    ("scheduler", "ListSchedules", "eu-central-1", 50),
    ("scheduler", "CreateScheduleGroup", "eu-central-1", 10),
    ("sns", "Publish", "us-east-1", 30000),
    ("sns", "Publish", "us-west-2", 9000),
    ("sns", "Publish", "eu-central-1", 1500),
    ("sns", "Publish", "eu-west-3", 300),
    ("sns", "PublishBatch", "eu-central-1", 1500),
    ("events", "PutEvents", "us-east-1", 10000),
    ("events", "PutEvents", "eu-central-1", 2400),
    ("events", "PutEvents", "eu-west-2", 1200),
    ("events", "PutEvents", "sa-east-1", 600),
    ("events", "PutEvents", "af-south-1", 400),
    ("secretsmanager", "DescribeSecret", "eu-central-1", 40000),
    ("secretsmanager", "ListSecrets", "eu-central-1", 100),
    ("ecr", "BatchGetImage", "eu-central-1", 2000),
])
def test_documented_rates_are_the_default_buckets(still, service, operation, region, burst):
    from localaws.quotas import QuotaThrottler

    throttler = QuotaThrottler()
    check = lambda: throttler.check(service, operation, SHARED, region)  # noqa: E731
    assert _burst(check, burst + 5) == burst
    # one second's worth comes back in a second; another account has its own bucket
    still.now += 1.0
    assert _burst(check, burst + 5) == burst
    assert throttler.check(service, operation, DEV, region) is None


@pytest.mark.parametrize("service, operation", [
    ("ecr", "DescribeImages"), ("ecr", "DescribeImageReplicationStatus"),
    ("ecr", "ListImages"), ("sts", "AssumeRole"), ("sts", "GetCallerIdentity"),
    ("resourcegroupstaggingapi", "GetResources"), ("ssm", "PutParameter"),
])
def test_operations_without_a_documented_rate_are_not_limited(still, service, operation):
    from localaws.quotas import QuotaThrottler

    throttler = QuotaThrottler()
    assert _burst(lambda: throttler.check(service, operation, SHARED, "eu-central-1"),
                  5000) == 5000


def test_scheduler_refuses_past_its_bucket_with_429_throttling_exception(aws, adm, still):
    scheduler = aws("scheduler")
    ok, exc = _until_throttled(scheduler.list_schedules, 60)
    assert ok == 50
    err = exc.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["Error"]["Message"] == "Rate exceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ThrottlingException"
    # other actions have buckets of their own; so has another Region
    scheduler.create_schedule_group(Name="q-group")
    aws("scheduler", region="us-east-1").list_schedules()
    _, out = adm("GET", "/throttling")
    assert {"service": "scheduler", "account": SHARED, "quota": "ListSchedules",
            "count": 1} in out["throttledByQuota"]
    assert adm("POST", "/throttling", {"service": "scheduler", "enabled": False})[0] == 200
    codes, _ = _outcomes(scheduler.list_schedules, 5)
    assert codes == ["ok"] * 5


def test_sns_publish_is_messages_per_region_a_batch_counting_its_entries(aws, adm, still):
    sns = aws("sns", region="eu-west-3")  # "All other supported Regions": 300 a second
    topic = sns.create_topic(Name="q-topic")["TopicArn"]
    batch = [{"Id": str(i), "Message": f"m{i}"} for i in range(10)]
    for _ in range(29):  # 290 messages in 29 requests
        assert not sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=batch)["Failed"]
    ok, exc = _until_throttled(lambda: sns.publish(TopicArn=topic, Message="one"), 20)
    assert ok == 10  # 300 messages in all
    err = exc.response
    assert err["Error"]["Code"] == "Throttling"
    assert err["Error"]["Message"] == "Rate exceeded"
    assert err["Error"]["Type"] == "Sender"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as refused:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=batch[:1])
    assert refused.value.response["Error"]["Code"] == "Throttling"
    # eu-central-1 has 1,500 of its own
    frankfurt = aws("sns")
    frankfurt.publish(TopicArn=frankfurt.create_topic(Name="q-topic")["TopicArn"], Message="m")
    _, out = adm("GET", "/throttling")
    sns_quota = out["services"]["sns"]["quotas"][0]
    assert sns_quota["rate"] == 300 and sns_quota["perEntry"] == "PublishBatchRequestEntries"
    assert sns_quota["byRegion"]["us-east-1"] == 30000
    assert sns_quota["byRegion"]["eu-central-1"] == 1500
    assert adm("POST", "/throttling", {"service": "sns", "enabled": False,
                                       "account": SHARED})[0] == 200
    sns.publish(TopicArn=topic, Message="after")


def test_eventbridge_put_events_is_refused_past_the_regions_rate(aws, adm, still):
    events = aws("events", region="af-south-1")  # "Each of the other supported Regions": 400
    entry = [{"Source": "q.test", "DetailType": "t", "Detail": "{}"}]
    ok, exc = _until_throttled(lambda: events.put_events(Entries=entry), 420)
    assert ok == 400
    err = exc.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["Error"]["Message"] == "Rate exceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    events.list_event_buses()  # PutEvents' quota only
    assert adm("POST", "/throttling", {"service": "events", "enabled": False})[0] == 200
    events.put_events(Entries=entry)


def test_secrets_manager_list_secrets_is_100_and_describe_secret_apart(aws, adm, still):
    sm = aws("secretsmanager")
    arn = sm.create_secret(Name="q/secret", SecretString="x")["ARN"]
    ok, exc = _until_throttled(sm.list_secrets, 120)
    assert ok == 100
    err = exc.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["Error"]["Message"] == "Rate exceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sm.describe_secret(SecretId=arn)["ARN"] == arn  # 40,000 of its own
    assert adm("POST", "/throttling", {"service": "secretsmanager", "enabled": False})[0] == 200
    sm.list_secrets()


def test_ecr_reads_the_product_makes_are_not_limited_batch_get_image_is(aws, adm, still):
    ecr = aws("ecr")
    ecr.create_repository(repositoryName="q/repo")
    for _ in range(150):  # no documented rate: never refused
        ecr.describe_images(repositoryName="q/repo")
        ecr.list_images(repositoryName="q/repo")
    # BatchGetImage's documented 2,000 a second is the default (the bucket test above);
    # here one account's custom bucket shows ECR's throttling error.
    adm("POST", "/throttling", {"service": "ecr", "rate": 1, "burst": 2, "account": DEV})
    dev = aws("ecr", account=DEV)
    dev.create_repository(repositoryName="q/repo")
    ok, exc = _until_throttled(
        lambda: dev.batch_get_image(repositoryName="q/repo", imageIds=[{"imageTag": "x"}]), 5)
    assert ok == 1  # the repository took the other token
    err = exc.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["Error"]["Message"] == "Rate exceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    _, out = adm("GET", "/throttling")
    assert [q["rate"] for q in out["services"]["ecr"]["quotas"]] == [2000]
    assert adm("POST", "/throttling", {"service": "ecr", "enabled": False,
                                       "account": DEV})[0] == 200
    dev.batch_get_image(repositoryName="q/repo", imageIds=[{"imageTag": "x"}])
