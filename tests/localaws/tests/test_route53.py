import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import SHARED


def _zone(r53, name="example.com"):
    return r53.create_hosted_zone(Name=name, CallerReference=str(time.time()))["HostedZone"]["Id"]


def _txt(name, value, ttl=60):
    return {"Name": name, "Type": "TXT", "TTL": ttl, "ResourceRecords": [{"Value": f'"{value}"'}]}


def _records(r53, zone, rtype="TXT"):
    return [r for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
            if r["Type"] == rtype]


def test_cas_delete_create_atomic(aws, adm):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    name = "lock.example.com."
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": _txt(name, "owner=a")}]})
    # compare-and-swap succeeds when the old value matches
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": _txt(name, "owner=a")},
        {"Action": "CREATE", "ResourceRecordSet": _txt(name, "owner=b")}]})
    assert _records(r53, zone)[0]["ResourceRecords"] == [{"Value": '"owner=b"'}]
    # a stale CAS fails as a whole, nothing applied
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": _txt("other.example.com.", "x")},
            {"Action": "DELETE", "ResourceRecordSet": _txt(name, "owner=a")},
            {"Action": "CREATE", "ResourceRecordSet": _txt(name, "owner=c")}]})
    err = exc.value.response
    assert err["Error"]["Code"] == "InvalidChangeBatch"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    msg = err["Error"]["Message"]
    assert "Tried to delete resource record set [name='lock.example.com.', type='TXT'] but the values provided do not match the current values" in msg
    assert "Tried to create resource record set [name='lock.example.com.', type='TXT'] but it already exists" in msg
    recs = _records(r53, zone)
    assert [r["Name"] for r in recs] == [name]
    assert recs[0]["ResourceRecords"] == [{"Value": '"owner=b"'}]
    # TTL mismatch is a mismatch too
    with pytest.raises(ClientError):
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "DELETE", "ResourceRecordSet": _txt(name, "owner=b", ttl=61)}]})
    # CREATE of an existing record
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": _txt(name, "owner=b")}]})
    assert exc.value.response["Error"]["Code"] == "InvalidChangeBatch"


def test_error_body_is_standard_route53_xml(server, aws):
    import botocore.session
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    captured = {}

    def grab(http_response, **kw):
        captured["body"] = http_response.content
    r53.meta.events.register("after-call.route53.ChangeResourceRecordSets",
                             lambda http_response, **kw: captured.update(body=http_response.content))
    with pytest.raises(ClientError):
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "DELETE", "ResourceRecordSet": _txt("nope.example.com.", "x")}]})
    body = captured["body"].decode()
    assert body.startswith('<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">')
    assert "<Type>Sender</Type><Code>InvalidChangeBatch</Code>" in body
    assert "but it was not found" in body and "<RequestId>" in body


def test_set_identifier_records_and_resolve(aws, adm):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    hc = {}
    for region, fqdn in (("eu-central-1", "api.eu.example.net"), ("us-east-1", "api.us.example.net")):
        hc[region] = r53.create_health_check(CallerReference=region, HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": fqdn, "Port": 443,
            "ResourcePath": "/health"})["HealthCheck"]["Id"]
    changes = [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "api.example.com.", "Type": "CNAME", "TTL": 60, "SetIdentifier": region,
        "Region": region, "HealthCheckId": hc[region],
        "ResourceRecords": [{"Value": f"api.{region}.example.net"}]}}
        for region in ("eu-central-1", "us-east-1")]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    assert len(_records(r53, zone, "CNAME")) == 2
    q = f"/route53/resolve?zone={urllib.parse.quote(zone)}&name=api.example.com&type=CNAME&region=eu-central-1"
    status, res = adm("GET", q)
    assert status == 200, res
    assert res["routing"] == "latency"
    assert res["answer"]["setIdentifier"] == "eu-central-1"
    adm("POST", "/route53/endpoints", {"endpoint": "api.eu.example.net", "healthy": False})
    status, res = adm("GET", q)
    assert res["answer"]["setIdentifier"] == "us-east-1"
    adm("POST", "/route53/endpoints", {"endpoint": "api.us.example.net", "healthy": False})
    status, res = adm("GET", q)
    assert res["allUnhealthyFallback"] is True
    assert res["answer"]["setIdentifier"] == "eu-central-1"
    # deleting one set-identifier record needs its exact values
    bad = dict(changes[0]["ResourceRecordSet"], TTL=300)
    with pytest.raises(ClientError):
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "DELETE", "ResourceRecordSet": bad}]})
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": changes[0]["ResourceRecordSet"]}]})
    assert [r["SetIdentifier"] for r in _records(r53, zone, "CNAME")] == ["us-east-1"]


def _status(r53, hc_id):
    obs = r53.get_health_check_status(HealthCheckId=hc_id)["HealthCheckObservations"]
    assert obs
    return obs[0]["StatusReport"]["Status"].split(":")[0]


def _judged(adm, hc_id):
    """The check's status as Route 53 judges it (GetHealthCheckStatus refuses calculated
    checks, and its observations are what each checker saw, before Inverted)."""
    checks = adm("GET", "/route53/health-checks")[1]["healthChecks"]
    return next(c for c in checks if c["id"] == hc_id)["status"].split(":")[0]


def test_health_checks_follow_endpoints_and_calculated(aws, adm):
    # A dozen GetHealthCheckStatus calls at once: more than Route 53's quota (4, 1/s)
    # allows one account, and this test is about health, not quotas.
    adm("POST", "/throttling", {"service": "route53", "enabled": False, "account": SHARED})
    r53 = aws("route53", region="us-east-1")
    ids = []
    for i in range(3):
        ids.append(r53.create_health_check(CallerReference=f"c{i}", HealthCheckConfig={
            "Type": "HTTP", "FullyQualifiedDomainName": f"ep{i}.example.net", "Port": 80,
            "ResourcePath": "/"})["HealthCheck"]["Id"])
    calc = r53.create_health_check(CallerReference="calc", HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": ids, "HealthThreshold": 2})["HealthCheck"]["Id"]
    assert _status(r53, ids[0]) == "Success"
    assert _judged(adm, calc) == "Success"
    adm("POST", "/route53/endpoints", {"endpoints": [
        {"endpoint": "ep0.example.net", "healthy": False},
        {"endpoint": "ep1.example.net", "healthy": False}]})
    assert _status(r53, ids[0]) == "Failure"
    assert _judged(adm, calc) == "Failure"
    r53.update_health_check(HealthCheckId=calc, HealthThreshold=1)
    assert _judged(adm, calc) == "Success"
    r53.update_health_check(HealthCheckId=calc, HealthThreshold=0)
    assert _judged(adm, calc) == "Success"
    r53.update_health_check(HealthCheckId=calc, HealthThreshold=4)
    assert _judged(adm, calc) == "Failure"
    r53.update_health_check(HealthCheckId=calc, HealthThreshold=1, Inverted=True)
    assert _judged(adm, calc) == "Failure"
    r53.update_health_check(HealthCheckId=ids[0], Inverted=True)
    assert _judged(adm, ids[0]) == "Success"
    r53.update_health_check(HealthCheckId=ids[1], Disabled=True)
    assert _status(r53, ids[1]) == "Success"
    r53.update_health_check(HealthCheckId=calc, ChildHealthChecks=[ids[2]], Inverted=False,
                            HealthThreshold=1)
    assert r53.get_health_check(HealthCheckId=calc)["HealthCheck"]["HealthCheckConfig"]["ChildHealthChecks"] == [ids[2]]
    assert _judged(adm, calc) == "Success"


def test_change_pending_then_insync(aws, adm):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    adm("POST", "/route53/change-delay", {"seconds": 0.3})
    info = r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": _txt("a.example.com.", "1")}]})["ChangeInfo"]
    assert info["Status"] == "PENDING"
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"
    time.sleep(0.35)
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"


def test_resolve_alias_evaluate_target_health(aws, adm):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    changes = []
    for region, target in (("eu-central-1", "d-eu.execute-api.eu-central-1.amazonaws.com."),
                           ("us-east-1", "d-us.execute-api.us-east-1.amazonaws.com.")):
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.example.com.", "Type": "A", "SetIdentifier": region, "Region": region,
            "AliasTarget": {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": target,
                            "EvaluateTargetHealth": True}}})
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    q = "/route53/resolve?zone=example.com&name=api.example.com&type=A&region=us-east-1"
    assert adm("GET", q)[1]["answer"]["setIdentifier"] == "us-east-1"
    adm("POST", "/route53/endpoints", {"endpoint": "d-us.execute-api.us-east-1.amazonaws.com",
                                       "healthy": False})
    res = adm("GET", q)[1]
    assert res["answer"]["setIdentifier"] == "eu-central-1"
    assert [r["healthy"] for r in res["records"]] == [True, False]
