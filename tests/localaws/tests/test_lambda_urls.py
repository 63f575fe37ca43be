"""Function URLs: configured through the Lambda API, served with SigV4 verification, the
caller resolved and handed to the function in the URL event."""

import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import PROD, FunctionStandIn, serve_stand_in

FUNCTION = "orders-failover-eu-central-1"
HARNESS_KEY, HARNESS_SECRET = f"LK{PROD}XX", "local-secret"


class _Function(FunctionStandIn):
    """A function process stand-in: answers with the event it got, as an HTTP response,
    or fails."""

    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        _Function.received.append(event)
        body = json.loads(event.get("body") or "{}")
        if body.get("fail"):
            self.answer(200, {"errorType": "NonRetryable", "errorMessage": "bad"},
                        {"X-Amz-Function-Error": "Unhandled"})
        elif body.get("plain"):
            self.answer(200, {"caller": event["requestContext"]["authorizer"]["iam"]["userArn"]})
        else:
            self.answer(200, {"statusCode": 418, "headers": {"content-type": "application/json"},
                              "body": json.dumps({"event": event}), "isBase64Encoded": False})


@pytest.fixture(scope="module")
def function():
    yield from serve_stand_in(_Function)


@pytest.fixture
def url(aws, adm, function):
    status, body = adm("POST", "/lambda/invoke-targets",
                       {"account": PROD, "region": "eu-central-1", "function": FUNCTION,
                        "url": f"{function}/invoke"})
    assert status == 201, body
    lam = aws("lambda", account=PROD)
    created = lam.create_function_url_config(FunctionName=FUNCTION, AuthType="AWS_IAM")
    return created["FunctionUrl"]


def post(url, body, key=HARNESS_KEY, secret=HARNESS_SECRET, token=None, region="eu-central-1",
         service="lambda", tamper=None):
    request = AWSRequest(method="POST", url=url, data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    headers = dict(request.headers.items())
    data = request.body
    if tamper:
        data = tamper(data)
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_the_url_config_points_into_the_local_world(aws, server, url):
    lam = aws("lambda", account=PROD)
    assert url.startswith(f"{server}/_localaws/lambda-url/"), url
    got = lam.get_function_url_config(FunctionName=FUNCTION)
    assert (got["FunctionUrl"], got["AuthType"]) == (url, "AWS_IAM")
    assert got["FunctionArn"] == f"arn:aws:lambda:eu-central-1:{PROD}:function:{FUNCTION}"
    with pytest.raises(ClientError) as again:
        lam.create_function_url_config(FunctionName=FUNCTION, AuthType="AWS_IAM")
    assert again.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(ClientError) as missing:
        lam.get_function_url_config(FunctionName="no-such-function")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # the URL lives in its own account and region
    with pytest.raises(ClientError) as elsewhere:
        aws("lambda", account=PROD, region="us-east-1").get_function_url_config(
            FunctionName=FUNCTION)
    assert elsewhere.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.delete_function_url_config(FunctionName=FUNCTION)
    with pytest.raises(ClientError):
        lam.get_function_url_config(FunctionName=FUNCTION)


def test_a_signed_request_reaches_the_function_with_its_caller(url):
    status, body = post(url, {"action": "status"})
    assert status == 418, body  # the function's own status code
    event = body["event"]
    assert event["version"] == "2.0"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["authorizer"]["iam"]["userArn"] == f"arn:aws:iam::{PROD}:root"
    assert event["requestContext"]["authorizer"]["iam"]["accountId"] == PROD
    assert json.loads(event["body"]) == {"action": "status"}
    assert event["isBase64Encoded"] is False
    # an answer without statusCode is a 200 JSON body
    assert post(url, {"plain": True}) == (200, {"caller": f"arn:aws:iam::{PROD}:root"})
    # a function error is Lambda's 502
    assert post(url, {"fail": True}) == (502, {"Message": "Internal Server Error"})


def test_an_assumed_role_session_is_the_caller(aws, url):
    iam = aws("iam", account=PROD)
    role = iam.create_role(RoleName="orders-operator", Path="/teams/sre/",
                           AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    creds = aws("sts", account=PROD).assume_role(RoleArn=role, RoleSessionName="alice")[
        "Credentials"]
    status, body = post(url, {"plain": True}, key=creds["AccessKeyId"],
                        secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    assert status == 200, body
    # the session ARN carries the role's name, not its path
    assert body == {"caller": f"arn:aws:sts::{PROD}:assumed-role/orders-operator/alice"}
    # without its session token the key is not valid
    status, body = post(url, {"plain": True}, key=creds["AccessKeyId"],
                        secret=creds["SecretAccessKey"])
    assert status == 403, body


def test_bad_or_missing_signatures_are_refused_and_run_nothing(url):
    _Function.received.clear()
    cases = {
        "wrong secret": dict(secret="not-the-secret"),
        "unknown key": dict(key="AKIAUNKNOWNKEY000000"),
        "other service": dict(service="execute-api"),
        "other region": dict(region="us-east-1"),
        "body changed after signing": dict(tamper=lambda d: d.replace(b"status", b"evacuate")),
    }
    for name, kwargs in cases.items():
        status, body = post(url, {"action": "status"}, **kwargs)
        assert status == 403, (name, body)
        assert body.get("Message"), (name, body)
    req = urllib.request.Request(url, data=b'{"action":"status"}', method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(req)
    assert unsigned.value.code == 403
    assert _Function.received == []
