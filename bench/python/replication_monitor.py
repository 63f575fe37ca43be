"""The replication-monitor written the usual Python way: boto3 clients built at
init (STS and ECR in the source region for the shared-services role, CloudWatch
readers per S3 rule source region, Secrets Manager, SSM, SNS and CloudWatch at
home), then the event parsed and classified. The benchmark's event is an ECR
push to a repository the monitor does not watch: ignored, no AWS call."""

from common import CONFIG, HOME, NonRetryable, client, now, record

R = CONFIG["replication"]
ECR_CONF = R.get("ecr")
STS = client("sts", ECR_CONF["source_region"]) if ECR_CONF else None
ECR = client("ecr", ECR_CONF["source_region"]) if ECR_CONF else None
READERS = {rule["source_region"]: client("cloudwatch", rule["source_region"])
           for rule in (R.get("s3") or {}).get("rules", [])}
SECRETS = client("secretsmanager", R["secrets"]["source_region"]) if R.get("secrets") else None
SSM = client("ssm")
SNS = client("sns")
CLOUDWATCH = client("cloudwatch")


def handler(event, context):
    started = now()
    if not isinstance(event, dict):
        raise NonRetryable("the event is not a JSON object")
    if event.get("source") == "aws.ecr" and event.get("detail-type") == "ECR Image Action":
        d = event.get("detail") or {}
        repo, action, result = d.get("repository-name"), d.get("action-type"), d.get("result")
        if not all(isinstance(v, str) for v in (repo, action, result)):
            raise NonRetryable("ECR Image Action without repository-name, action-type or result")
        if action != "PUSH" or result != "SUCCESS":
            return record("replication-monitor", "ignore", "ecr_image_action", "noop",
                          f"ECR {action} {result} of {repo}: only successful pushes start replication", started)
        if repo not in (ECR_CONF or {}).get("repositories", []):
            return record("replication-monitor", "ignore", "ecr_image_action", "noop",
                          f"repository {repo} is not in replication.ecr.repositories", started)
        raise NonRetryable("the benchmark peer handles only the ignored ECR paths")
    raise NonRetryable("unrecognised event")
