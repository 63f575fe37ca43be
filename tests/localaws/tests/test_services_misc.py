import json

import pytest
from botocore.exceptions import ClientError

from conftest import DEV, PROD, SHARED, make_function


def test_accounts_are_separate_by_access_key(aws):
    for account in (SHARED, DEV, PROD):
        aws("sns", account=account).create_topic(Name=f"t-{account}")
    for account in (SHARED, DEV, PROD):
        arns = [t["TopicArn"] for t in aws("sns", account=account).list_topics()["Topics"]]
        assert arns == [f"arn:aws:sns:eu-central-1:{account}:t-{account}"]
    ident = aws("sts", account=DEV).get_caller_identity()
    assert ident["Account"] == DEV


def test_akia_style_key_embedding_account(server):
    import boto3
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=server,
                       aws_access_key_id="AKIA333333333333TEST", aws_secret_access_key="x")
    assert sts.get_caller_identity()["Account"] == PROD


def test_secrets_replica_status(aws, adm):
    sm = aws("secretsmanager", region="eu-central-1")
    arn = sm.create_secret(Name="db", SecretString="x",
                           AddReplicaRegions=[{"Region": "us-east-1"}])["ARN"]
    st = sm.describe_secret(SecretId="db")["ReplicationStatus"]
    assert st[0]["Region"] == "us-east-1" and st[0]["Status"] == "InSync"
    adm("POST", "/secretsmanager/replica-status",
        {"secretId": "db", "region": "us-east-1", "status": "InProgress"})
    assert sm.describe_secret(SecretId=arn)["ReplicationStatus"][0]["Status"] == "InProgress"
    adm("POST", "/secretsmanager/replica-status",
        {"secretId": arn, "region": "us-east-1", "status": "Failed", "message": "KMS key denied"})
    st = sm.describe_secret(SecretId="db")["ReplicationStatus"][0]
    assert (st["Status"], st["StatusMessage"]) in {("Failed", "KMS key denied"), ("InProgress", "Replication in progress")}
    sm.replicate_secret_to_regions(SecretId="db", AddReplicaRegions=[{"Region": "eu-west-1"}])
    regions = {s["Region"] for s in sm.describe_secret(SecretId="db")["ReplicationStatus"]}
    assert regions == {"us-east-1", "eu-west-1"}


def test_eventbridge_records_events_and_lambda_deliveries(aws, adm):
    lam = make_function(aws, name="handler")
    fn_arn = lam.get_function(FunctionName="handler")["Configuration"]["FunctionArn"]
    ev = aws("events")
    ev.put_rule(Name="r", EventPattern=json.dumps({"source": ["app.test"]}))
    ev.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": fn_arn}])
    out = ev.put_events(Entries=[{"Source": "app.test", "DetailType": "Thing",
                                  "Detail": json.dumps({"k": 1})},
                                 {"Source": "other", "DetailType": "X", "Detail": "{}"}])
    assert out["FailedEntryCount"] == 0
    status, got = adm("GET", "/events/put-events?source=app.test")
    assert [(e["detailType"], e["detail"], e["account"]) for e in got["events"]] == [("Thing", {"k": 1}, SHARED)]
    status, got = adm("GET", "/events/lambda-deliveries")
    assert len(got["deliveries"]) == 1
    d = got["deliveries"][0]
    assert d["rule"] == "r" and d["targetArn"] == fn_arn and d["event"]["detail"] == {"k": 1}


def test_sns_publish_recorded(aws, adm):
    sns = aws("sns")
    arn = sns.create_topic(Name="alerts")["TopicArn"]
    sns.publish(TopicArn=arn, Subject="s", Message="m",
                MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    status, got = adm("GET", "/sns/messages")
    m = got["messages"][0]
    assert (m["topicArn"], m["subject"], m["message"]) == (arn, "s", "m")
    assert m["attributes"]["k"]["StringValue"] == "v"
    assert m["messageId"]


def test_scheduler_crud(aws):
    sch = aws("scheduler")
    sch.create_schedule(Name="s1", ScheduleExpression="rate(5 minutes)",
                        FlexibleTimeWindow={"Mode": "OFF"},
                        Target={"Arn": "arn:aws:lambda:eu-central-1:111111111111:function:f",
                                "RoleArn": "arn:aws:iam::111111111111:role/r"})
    assert sch.get_schedule(Name="s1")["ScheduleExpression"] == "rate(5 minutes)"
    sch.delete_schedule(Name="s1")
    with pytest.raises(ClientError) as exc:
        sch.get_schedule(Name="s1")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
