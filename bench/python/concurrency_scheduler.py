"""The concurrency-scheduler written the usual Python way: boto3 clients built
at init (Lambda, Resource Groups Tagging, the CloudWatch metric reader, Route 53,
SSM, CloudWatch and SNS, all in the home region), then the event handled. The
benchmark's event is {"action": "plan"}: it reads the scheduler state, the
routing state, the account's headroom and each target alias's provisioned
concurrency (utilisation when enabled), decides the levels and changes nothing. The
benchmark checks that it makes the same AWS calls as the Rust function."""

import json
from datetime import timedelta

from common import CONFIG, HOME, NonRetryable, client, now, record

LAMBDA = client("lambda")
TAGGING = client("resourcegroupstaggingapi")
METRIC_DATA = client("cloudwatch")
ROUTE53 = client("route53")
SSM = client("ssm")
CLOUDWATCH = client("cloudwatch")
SNS = client("sns")
C = CONFIG["concurrency"]
F = CONFIG["failover"]
BASELINE = {"prod": 2, "dev": 1}[CONFIG["environment"]]


def state():
    try:
        return json.loads(SSM.get_parameter(Name=C["state_parameter"])["Parameter"]["Value"])
    except SSM.exceptions.ParameterNotFound:
        return {}


def routing():
    name = F["state_record_name"].rstrip(".") + "."
    out = ROUTE53.list_resource_record_sets(HostedZoneId=F["state_zone_id"], StartRecordName=name,
                                            StartRecordType="TXT", MaxItems="1")
    for rrs in out["ResourceRecordSets"]:
        if rrs["Name"] == name and rrs["Type"] == "TXT":
            text = "".join(r["Value"] for r in rrs["ResourceRecords"]).strip('"')
            try:
                return json.loads(text.replace('\\"', '"'))
            except ValueError:
                return {}
    return {}


def pc(function, alias):
    try:
        out = LAMBDA.get_provisioned_concurrency_config(FunctionName=function, Qualifier=alias)
        return out.get("RequestedProvisionedConcurrentExecutions"), out.get("Status")
    except LAMBDA.exceptions.ProvisionedConcurrencyConfigNotFoundException:
        return None, None


def handler(event, context):
    started = now()
    if not isinstance(event, dict) or event.get("action") != "plan":
        raise NonRetryable("the benchmark peer handles only {\"action\": \"plan\"}")
    overrides = state().get("overrides", {})
    evacuated = routing().get("evacuated", {})
    unreserved = LAMBDA.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    alias = C.get("alias", "live")
    rows, queries = [], []
    for i, t in enumerate(C["targets"]):
        if HOME not in t.get("regions", CONFIG["regions"]):
            continue
        a = t.get("alias", alias)
        requested, status = pc(t["function"], a)
        level = t.get("baseline", BASELINE)
        if any(r != HOME for r in evacuated):
            level = max(level, t.get("surge", level * 2))
        override = overrides.get(f"{t['function']}:{a}:{HOME}")
        if override:
            level = override["level"]
        level = min(level, max(unreserved - 100, 0))
        rows.append({"function": t["function"], "alias": a, "current": requested, "status": status, "level": level})
        queries.append({"Id": f"u{i}", "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "ProvisionedConcurrencyUtilization",
            "Dimensions": [{"Name": "FunctionName", "Value": t["function"]}, {"Name": "Resource", "Value": f"{t['function']}:{a}"}]},
            "Period": 60, "Stat": "Maximum"}})
    if queries and (C.get("utilization") or {}).get("enabled"):
        end = now()
        METRIC_DATA.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(minutes=15), EndTime=end)
    changes = [r for r in rows if r["current"] != r["level"]]
    return record("concurrency-scheduler", "plan", "manual", "dry_run",
                  f"plan: {len(changes)} of {len(rows)} alias(es) would change", started,
                  state={"rows": rows, "targets": len(rows)})
