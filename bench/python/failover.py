"""The failover function written the usual Python way: boto3 clients built at
init (Route 53 in us-east-1; CloudWatch, EventBridge, Scheduler, SNS and the
metric reader in the home region; Lambda in every configured region), then the
event parsed and decided. The benchmark's event is a CloudWatch alarm state
change for an alarm that is not mapped to a region: refused, with one SNS notice
(as the Rust function sends)."""

from common import CONFIG, HOME, NonRetryable, client, now, record

ROUTE53 = client("route53", "us-east-1")
CLOUDWATCH = client("cloudwatch")
EVENTS = client("events")
SCHEDULER = client("scheduler")
SNS = client("sns")
METRIC_DATA = client("cloudwatch")
LAMBDA = {region: client("lambda", region) for region in CONFIG["regions"]}
REGION_ALARMS = CONFIG["failover"]["region_alarms"]


def handler(event, context):
    started = now()
    if not isinstance(event, dict):
        raise NonRetryable("the event is not a JSON object")
    if event.get("source") == "aws.cloudwatch" and event.get("detail-type") == "CloudWatch Alarm State Change":
        detail = event.get("detail") or {}
        name = detail.get("alarmName")
        state = (detail.get("state") or {}).get("value")
        if not isinstance(name, str) or state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            raise NonRetryable("alarm event without alarmName or state.value")
        trigger = f"alarm {name} {state}"
        region = REGION_ALARMS.get(name)
        if region is None:
            reason = f"alarm {name!r} is not mapped to any region (failover.region_alarms); nothing done"
            SNS.publish(TopicArn=CONFIG["alerts_topic_arns"][HOME], Subject=f"failover: {trigger}: refused"[:100],
                        Message=reason)
            return record("failover", "alarm", trigger, "refused",
                          f"alarm {name!r} is not mapped to any region (failover.region_alarms); nothing done", started)
        if state == "INSUFFICIENT_DATA":
            return record("failover", "alarm", trigger, "refused",
                          "INSUFFICIENT_DATA is not a verdict on the region's health; nothing done", started)
        raise NonRetryable("the benchmark peer handles only the refused alarm paths")
    raise NonRetryable("unrecognised event")
