"""Route 53 health checks as AWS judges them: GetHealthCheckStatus refuses calculated checks,
checkers disagree (healthy above 18%), CLOUDWATCH_METRIC checks follow their alarm."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import SHARED

ALL_CHECKERS = ["us-east-1", "us-west-1", "us-west-2", "eu-west-1",
                "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"]


def _endpoint_check(r53, fqdn, **extra):
    cfg = {"Type": "HTTPS", "FullyQualifiedDomainName": fqdn, "Port": 443,
           "ResourcePath": "/health", **extra}
    return r53.create_health_check(CallerReference=f"{fqdn}-{time.time()}",
                                   HealthCheckConfig=cfg)["HealthCheck"]["Id"]


def _calculated(r53, children, threshold):
    return r53.create_health_check(CallerReference=f"calc-{time.time()}", HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": children,
        "HealthThreshold": threshold})["HealthCheck"]["Id"]


def _health(adm, hc_id):
    status, out = adm("GET", "/route53/health-checks")
    assert status == 200
    return next(h for h in out["healthChecks"] if h["id"] == hc_id)


def _observations(r53, hc_id):
    return r53.get_health_check_status(HealthCheckId=hc_id)["HealthCheckObservations"]


def _successes(obs):
    return sum(1 for o in obs if o["StatusReport"]["Status"].startswith("Success"))


def _invalid_input(exc):
    err = exc.value.response
    assert err["Error"]["Code"] == "InvalidInput", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Error"]["Message"]


# -- GetHealthCheckStatus and calculated checks ------------------------------------------
def test_get_health_check_status_refuses_a_calculated_check(aws, adm):
    r53 = aws("route53", region="us-east-1")
    child = _endpoint_check(r53, "ep.calc.example.net")
    calc = _calculated(r53, [child], 1)
    captured = {}
    r53.meta.events.register("after-call.route53.GetHealthCheckStatus",
                             lambda http_response, **kw: captured.update(body=http_response.content))
    with pytest.raises(ClientError) as exc:
        r53.get_health_check_status(HealthCheckId=calc)
    assert "calculated health check" in _invalid_input(exc)
    body = captured["body"].decode()
    assert '<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">' in body
    assert "<Type>Sender</Type><Code>InvalidInput</Code>" in body
    # the child (an endpoint check) answers; the parent's health is still computed
    assert len(_observations(r53, child)) == 8
    assert _health(adm, calc)["healthy"] is True
    # an unknown id is still NoSuchHealthCheck
    with pytest.raises(ClientError) as exc:
        r53.get_health_check_status(HealthCheckId="00000000-0000-0000-0000-000000000000")
    assert exc.value.response["Error"]["Code"] == "NoSuchHealthCheck"


def test_a_check_without_regions_is_checked_from_every_checker_region(aws):
    r53 = aws("route53", region="us-east-1")
    hc = _endpoint_check(r53, "all.example.net")
    obs = _observations(r53, hc)
    assert [o["Region"] for o in obs] == ALL_CHECKERS
    assert len({o["IPAddress"] for o in obs}) == 8
    three = ["us-east-1", "eu-west-1", "ap-northeast-1"]
    hc3 = _endpoint_check(r53, "three.example.net", Regions=three)
    assert [o["Region"] for o in _observations(r53, hc3)] == three


def test_fewer_than_three_checker_regions_is_invalid_input(aws):
    # botocore checks the minimum itself; the Rust SDK does not: AWS answers
    r53 = aws("route53", region="us-east-1", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        _endpoint_check(r53, "two.example.net", Regions=["us-east-1", "eu-west-1"])
    assert "at least 3" in _invalid_input(exc)
    hc = _endpoint_check(r53, "three.example.net", Regions=["us-east-1", "eu-west-1", "sa-east-1"])
    with pytest.raises(ClientError) as exc:
        r53.update_health_check(HealthCheckId=hc, Regions=["us-east-1"])
    _invalid_input(exc)
    assert r53.get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckVersion"] == 1


# -- checkers disagree: the 18% rule ---------------------------------------------------------
def test_endpoint_is_healthy_when_more_than_18_percent_of_checkers_say_so(aws, adm):
    r53 = aws("route53", region="us-east-1")
    mostly_down = _endpoint_check(r53, "a.split.example.net")
    quarter_up = _endpoint_check(r53, "b.split.example.net")
    status, _ = adm("POST", "/route53/endpoints", {"endpoints": [
        {"endpoint": "a.split.example.net", "failingCheckers": 0.85},
        {"endpoint": "b.split.example.net", "failingCheckers": 0.75}]})
    assert status == 200
    a, b = _observations(r53, mostly_down), _observations(r53, quarter_up)
    assert (len(a), _successes(a)) == (8, 1)  # 12.5% healthy: unhealthy
    assert (len(b), _successes(b)) == (8, 2)  # 25% healthy: healthy
    # the failing checkers come first: a reader of the first observation only is wrong for b
    assert a[0]["StatusReport"]["Status"].startswith("Failure")
    assert b[0]["StatusReport"]["Status"].startswith("Failure")
    ha, hb = _health(adm, mostly_down), _health(adm, quarter_up)
    assert (ha["healthy"], ha["healthyCheckers"], ha["checkers"]) == (False, 1, 8)
    assert (hb["healthy"], hb["healthyCheckers"], hb["checkers"]) == (True, 2, 8)
    assert "2 of 8 health checkers" in hb["status"] and hb["status"].startswith("Success")
    # calculated parents count the children as Route 53 judges them
    both = _calculated(r53, [mostly_down, quarter_up], 2)
    one = _calculated(r53, [mostly_down, quarter_up], 1)
    assert _health(adm, both)["healthy"] is False
    assert _health(adm, one)["healthy"] is True
    # exactly 18% is not enough: 3 regions, 2 failing = 33% healthy; all failing = 0%
    regions = ["us-east-1", "us-west-1", "eu-west-1"]
    small = _endpoint_check(r53, "c.split.example.net", Regions=regions)
    adm("POST", "/route53/endpoints", {"endpoint": "c.split.example.net",
                                       "failingRegions": ["us-east-1", "us-west-1", "sa-east-1"]})
    obs = _observations(r53, small)
    assert [o["StatusReport"]["Status"].split(":")[0] for o in obs] == ["Failure", "Failure", "Success"]
    assert _health(adm, small)["healthy"] is True
    adm("POST", "/route53/endpoints", {"endpoint": "c.split.example.net", "failingRegions": regions})
    assert _health(adm, small)["healthy"] is False


def test_resolver_follows_the_18_percent_rule(aws, adm):
    r53 = aws("route53", region="us-east-1")
    zone = r53.create_hosted_zone(Name="split.example.com",
                                  CallerReference=str(time.time()))["HostedZone"]["Id"]
    hc = {"eu-central-1": _endpoint_check(r53, "api.eu.split.example.com"),
          "us-east-1": _endpoint_check(r53, "api.us.split.example.com")}
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.split.example.com.", "Type": "CNAME", "TTL": 60, "SetIdentifier": region,
            "Region": region, "HealthCheckId": hc[region],
            "ResourceRecords": [{"Value": f"api.{region}.split.example.com"}]}}
        for region in hc]})
    q = "/route53/resolve?zone=split.example.com&name=api.split.example.com&type=CNAME&region=eu-central-1"
    adm("POST", "/route53/endpoints", {"endpoint": "api.eu.split.example.com", "failingCheckers": 0.75})
    assert adm("GET", q)[1]["answer"]["setIdentifier"] == "eu-central-1"
    adm("POST", "/route53/endpoints", {"endpoint": "api.eu.split.example.com", "failingCheckers": 0.85})
    assert adm("GET", q)[1]["answer"]["setIdentifier"] == "us-east-1"


def test_inverted_applies_to_the_check_not_to_what_checkers_saw(aws, adm):
    r53 = aws("route53", region="us-east-1")
    hc = _endpoint_check(r53, "inv.example.net", Inverted=True)
    adm("POST", "/route53/endpoints", {"endpoint": "inv.example.net", "healthy": False})
    assert _successes(_observations(r53, hc)) == 0
    assert _health(adm, hc)["healthy"] is True


@pytest.mark.parametrize("body, needle", [
    ({"endpoint": "x.example.net", "failingCheckers": 1.5}, "from 0 to 1"),
    ({"endpoint": "x.example.net", "failingCheckers": "half"}, "from 0 to 1"),
    ({"endpoint": "x.example.net", "failingCheckers": 0.5, "failingRegions": []}, "not both"),
    ({"endpoint": "x.example.net", "failingCheckers": 0.5, "healthy": True}, "leave it out"),
    ({"endpoint": "x.example.net", "failingRegions": ["eu-central-1"]}, "checker regions"),
    ({"endpoint": "x.example.net"}, "missing field: healthy"),
])
def test_admin_endpoint_state_is_validated(adm, body, needle):
    status, out = adm("POST", "/route53/endpoints", body)
    assert status == 400 and needle in out["error"], out


def test_admin_endpoint_state_lists_the_failing_share(adm):
    adm("POST", "/route53/endpoints", {"endpoint": "Y.example.net.", "failingCheckers": 0.85})
    status, out = adm("GET", "/route53/endpoints")
    entry = next(e for e in out["endpoints"] if e["endpoint"] == "y.example.net")
    # "healthy" is the verdict over all eight checker regions
    assert entry["failingCheckers"] == 0.85 and entry["healthy"] is False


# -- CLOUDWATCH_METRIC checks ------------------------------------------------------------------
def _alarm(cw, name, **extra):
    args = {"AlarmName": name, "Namespace": "Orders", "MetricName": "Errors",
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 5.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Dimensions": [{"Name": "Service", "Value": "orders"}], **extra}
    if "ExtendedStatistic" in extra:
        args.pop("Statistic")
    cw.put_metric_alarm(**args)


def _metric_check(r53, name, region="us-east-1", **extra):
    cfg = {"Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": region, "Name": name},
           **extra}
    return r53.create_health_check(CallerReference=f"{name}-{time.time()}",
                                   HealthCheckConfig=cfg)["HealthCheck"]


def _set(cw, name, state):
    # SetAlarmState's quota is 3 requests a second: wait for the bucket, as an SDK would
    for _ in range(20):
        try:
            return cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "Throttling":
                raise
            time.sleep(0.35)
    raise AssertionError("SetAlarmState stayed throttled")


def test_metric_check_stores_its_alarm_and_follows_its_state(aws, adm):
    r53 = aws("route53", region="us-east-1")
    cw = aws("cloudwatch", region="eu-central-1")
    _alarm(cw, "orders-errors")
    created = _metric_check(r53, "orders-errors", region="eu-central-1",
                            InsufficientDataHealthStatus="Unhealthy")
    hc = created["Id"]
    for got in (created, r53.get_health_check(HealthCheckId=hc)["HealthCheck"],
                next(h for h in r53.list_health_checks()["HealthChecks"] if h["Id"] == hc)):
        cfg = got["HealthCheckConfig"]
        assert cfg["Type"] == "CLOUDWATCH_METRIC"
        assert cfg["AlarmIdentifier"] == {"Region": "eu-central-1", "Name": "orders-errors"}
        assert cfg["InsufficientDataHealthStatus"] == "Unhealthy"
        assert "Port" not in cfg and "IPAddress" not in cfg
        alarm_cfg = got["CloudWatchAlarmConfiguration"]
        assert alarm_cfg["MetricName"] == "Errors" and alarm_cfg["Namespace"] == "Orders"
        assert alarm_cfg["Statistic"] == "Sum" and alarm_cfg["Period"] == 60
        assert alarm_cfg["Threshold"] == 5.0 and alarm_cfg["EvaluationPeriods"] == 1
        assert alarm_cfg["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm_cfg["Dimensions"] == [{"Name": "Service", "Value": "orders"}]
    _set(cw, "orders-errors", "OK")
    assert _health(adm, hc)["healthy"] is True
    obs = _observations(r53, hc)  # a metric check is not refused
    assert len(obs) == 8 and _successes(obs) == 8
    _set(cw, "orders-errors", "ALARM")
    h = _health(adm, hc)
    assert h["healthy"] is False and h["alarm"]["state"] == "ALARM"
    assert _successes(_observations(r53, hc)) == 0
    _set(cw, "orders-errors", "INSUFFICIENT_DATA")
    assert _health(adm, hc)["healthy"] is False  # InsufficientDataHealthStatus: Unhealthy
    r53.update_health_check(HealthCheckId=hc, InsufficientDataHealthStatus="Healthy")
    assert _health(adm, hc)["healthy"] is True
    got = r53.get_health_check(HealthCheckId=hc)["HealthCheck"]
    assert got["HealthCheckConfig"]["InsufficientDataHealthStatus"] == "Healthy"
    assert got["HealthCheckVersion"] == 2
    # Inverted flips the alarm's verdict
    r53.update_health_check(HealthCheckId=hc, Inverted=True)
    _set(cw, "orders-errors", "ALARM")
    assert _health(adm, hc)["healthy"] is True


def test_last_known_status_is_the_state_before_insufficient_data(aws, adm):
    r53 = aws("route53", region="us-east-1")
    cw = aws("cloudwatch", region="us-east-1")
    _alarm(cw, "lks")
    hc = _metric_check(r53, "lks")["Id"]  # InsufficientDataHealthStatus defaults to LastKnownStatus
    cfg = r53.get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckConfig"]
    assert cfg["InsufficientDataHealthStatus"] == "LastKnownStatus"
    _set(cw, "lks", "ALARM")
    _set(cw, "lks", "INSUFFICIENT_DATA")
    assert _health(adm, hc)["healthy"] is False
    _set(cw, "lks", "OK")
    _set(cw, "lks", "INSUFFICIENT_DATA")
    assert _health(adm, hc)["healthy"] is True
    # a new check whose alarm was in ALARM only before it existed: no last known status
    _alarm(cw, "lks-new")
    _set(cw, "lks-new", "ALARM")
    _set(cw, "lks-new", "INSUFFICIENT_DATA")
    fresh = _metric_check(r53, "lks-new")["Id"]
    h = _health(adm, fresh)
    assert h["healthy"] is True and "no last known status" in h["status"]
    # the alarm deleted: insufficient data, the check keeps its last known status
    _set(cw, "lks", "ALARM")
    assert _health(adm, hc)["healthy"] is False
    cw.delete_alarms(AlarmNames=["lks"])
    h = _health(adm, hc)
    assert h["healthy"] is False and "the alarm does not exist" in h["status"], h
    assert h["alarm"]["state"] is None


def test_metric_check_is_a_child_of_a_calculated_gate_and_drives_the_resolver(aws, adm):
    r53 = aws("route53", region="us-east-1")
    cw = aws("cloudwatch", region="us-east-1")
    _alarm(cw, "gate-eu")
    metric = _metric_check(r53, "gate-eu")["Id"]
    gate = _calculated(r53, [metric], 1)
    zone = r53.create_hosted_zone(Name="metric.example.com",
                                  CallerReference=str(time.time()))["HostedZone"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.metric.example.com.", "Type": "CNAME", "TTL": 60, "SetIdentifier": sid,
            "Failover": sid, **({"HealthCheckId": gate} if sid == "PRIMARY" else {}),
            "ResourceRecords": [{"Value": f"{sid.lower()}.metric.example.com"}]}}
        for sid in ("PRIMARY", "SECONDARY")]})
    q = "/route53/resolve?zone=metric.example.com&name=api.metric.example.com&type=CNAME"
    _set(cw, "gate-eu", "OK")
    assert adm("GET", q)[1]["answer"]["setIdentifier"] == "PRIMARY"
    _set(cw, "gate-eu", "ALARM")
    assert _health(adm, gate)["healthy"] is False
    assert adm("GET", q)[1]["answer"]["setIdentifier"] == "SECONDARY"


def test_metric_check_follows_alarm_evaluation(aws, adm):
    r53 = aws("route53", region="us-east-1")
    cw = aws("cloudwatch", region="us-east-1")
    _alarm(cw, "evaluated")
    hc = _metric_check(r53, "evaluated")["Id"]
    cw.put_metric_data(Namespace="Orders", MetricData=[{
        "MetricName": "Errors", "Value": 9.0,
        "Dimensions": [{"Name": "Service", "Value": "orders"}]}])
    adm("POST", "/cloudwatch/evaluate-alarms", {"account": SHARED, "region": "us-east-1",
                                                "alarmNames": ["evaluated"]})
    assert _health(adm, hc)["alarm"]["state"] == "ALARM"
    assert _health(adm, hc)["healthy"] is False


@pytest.mark.parametrize("alarm, needle", [
    (None, "does not exist"),
    ({"Period": 10}, "high-resolution"),
    ({"ExtendedStatistic": "p99"}, "unsupported statistic"),
])
def test_metric_check_needs_a_supported_existing_alarm(aws, alarm, needle):
    r53 = aws("route53", region="us-east-1")
    cw = aws("cloudwatch", region="us-east-1")
    if alarm is not None:
        _alarm(cw, "unsupported", **alarm)
    with pytest.raises(ClientError) as exc:
        _metric_check(r53, "unsupported")
    assert needle in _invalid_input(exc)
    assert r53.list_health_checks()["HealthChecks"] == []


def test_metric_check_needs_an_alarm_of_its_own_account(aws):
    _alarm(aws("cloudwatch", account="222222222222", region="us-east-1"), "elsewhere")
    with pytest.raises(ClientError) as exc:
        _metric_check(aws("route53", region="us-east-1"), "elsewhere")
    assert "does not exist" in _invalid_input(exc)


def test_metric_check_refuses_metric_math_and_missing_identifier(aws):
    r53 = aws("route53", region="us-east-1")
    cw = aws("cloudwatch", region="us-east-1")
    cw.put_metric_alarm(AlarmName="math", EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanThreshold", Metrics=[
                            {"Id": "m1", "ReturnData": False, "MetricStat": {
                                "Metric": {"Namespace": "Orders", "MetricName": "Errors"},
                                "Period": 60, "Stat": "Sum"}},
                            {"Id": "e1", "Expression": "m1 * 2", "ReturnData": True}])
    with pytest.raises(ClientError) as exc:
        _metric_check(r53, "math")
    assert "single metric" in _invalid_input(exc)
    with pytest.raises(ClientError) as exc:
        r53.create_health_check(CallerReference="no-alarm",
                                HealthCheckConfig={"Type": "CLOUDWATCH_METRIC"})
    assert "AlarmIdentifier" in _invalid_input(exc)


def test_endpoint_check_with_an_alarm_identifier_is_invalid_input(aws):
    r53 = aws("route53", region="us-east-1")
    with pytest.raises(ClientError) as exc:
        _endpoint_check(r53, "basic.example.net",
                        AlarmIdentifier={"Region": "us-east-1", "Name": "any"})
    assert _invalid_input(exc) == ("Invalid parameter : Basic health checks must not have an "
                                   "metric region specified.")
