"""The failover function written the usual Python way: boto3 clients built at
init (Route 53 in us-east-1; CloudWatch, EventBridge, Scheduler, SNS and the
metric reader in the home region; Lambda in every configured region), then the
event parsed and decided. The benchmark's event is a CloudWatch alarm state
change for an alarm that is not mapped to a region (failover.region_alarms is keyed
by alarm ARN): refused, with one SNS notice (as the Rust function sends)."""

from common import CONFIG, HOME, NonRetryable, client, now, record

ROUTE53 = client("route53", "us-east-1")
CLOUDWATCH = client("cloudwatch")
EVENTS = client("events")
SCHEDULER = client("scheduler")
SNS = client("sns")
METRIC_DATA = client("cloudwatch")
LAMBDA = {region: client("lambda", region) for region in CONFIG["regions"]}
REGION_ALARMS = CONFIG["failover"]["region_alarms"]


def _alarm(event):
    """(ARN, name, state, envelope account, envelope region) of an alarm event, or None:
    EventBridge carries the ARN in resources[0], an alarm action in alarmArn."""
    if event.get("source") == "aws.cloudwatch" and event.get("detail-type") == "CloudWatch Alarm State Change":
        data, resources = event.get("detail") or {}, event.get("resources") or []
        arn, account, region = (resources[0] if resources else None), event.get("account"), event.get("region")
    elif isinstance(event.get("alarmData"), dict):
        data, arn = event["alarmData"], event.get("alarmArn")
        account, region = event.get("accountId"), event.get("region")
    else:
        return None
    return arn, data.get("alarmName"), (data.get("state") or {}).get("value"), account, region


def _refusal(arn, name, account, region):
    """Why the alarm speaks for no region (shared::config::FailoverConfig::watched_region)."""
    if not isinstance(arn, str):
        return f"the event for alarm {name!r} carries no alarm ARN, and failover.region_alarms identifies alarms by ARN"
    if arn not in REGION_ALARMS:
        return f"alarm {arn!r} is not mapped to any region (failover.region_alarms)"
    _, _, _, arn_region, arn_account, resource = arn.split(":", 5)
    if account is not None and account != arn_account:
        return f"the event for {arn} is from account {account!r}, but the mapped alarm is in account {arn_account}"
    if region is not None and region != arn_region:
        return f"the event for {arn} is from region {region!r}, but the mapped alarm is in region {arn_region}"
    if resource != f"alarm:{name}":
        return f"the event for {arn} names alarm {name!r}, but the mapped alarm is {resource}"
    return None


def handler(event, context):
    started = now()
    if not isinstance(event, dict):
        raise NonRetryable("the event is not a JSON object")
    alarm = _alarm(event)
    if alarm is not None:
        arn, name, state, account, region = alarm
        if not isinstance(name, str) or state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            raise NonRetryable("alarm event without alarmName or state.value")
        trigger = f"alarm {name} {state}"
        refusal = _refusal(arn, name, account, region)
        if refusal is not None:
            reason = f"{refusal}; nothing done"
            SNS.publish(TopicArn=CONFIG["alerts_topic_arns"][HOME], Subject=f"failover: {trigger}: refused"[:100],
                        Message=reason)
            return record("failover", "alarm", trigger, "refused", reason, started)
        if state == "INSUFFICIENT_DATA":
            return record("failover", "alarm", trigger, "refused",
                          "INSUFFICIENT_DATA is not a verdict on the region's health; nothing done", started)
        raise NonRetryable("the benchmark peer handles only the refused alarm paths")
    raise NonRetryable("unrecognised event")
