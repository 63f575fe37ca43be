import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import DEV, PROD, FunctionStandIn, make_function, serve_stand_in


class _Target(FunctionStandIn):
    """A function process stand-in: echoes, fails, or fails with its own header."""

    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Target.received.append((self.path, json.loads(body)))
        event = json.loads(body)
        if self.path == "/crash":
            self.answer(502, {"errorMessage": "the process exited"})
        elif event.get("fail"):
            self.answer(200, {"errorType": "NonRetryable", "errorMessage": "bad event"},
                         {"X-Amz-Function-Error": "Unhandled"})
        else:
            self.answer(200, {"echo": event, "path": self.path})


@pytest.fixture(scope="module")
def target():
    yield from serve_stand_in(_Target)


def _register(adm, url, function="orders-failover-eu-central-1", account=PROD,
              region="eu-central-1", **extra):
    status, body = adm("POST", "/lambda/invoke-targets",
                       {"account": account, "region": region, "function": function, "url": url,
                        **extra})
    assert status == 201, body
    return body


def test_invoke_forwards_payload_and_returns_result(aws, adm, target):
    _register(adm, f"{target}/invoke")
    lam = aws("lambda", account=PROD)
    out = lam.invoke(FunctionName="orders-failover-eu-central-1",
                     Payload=json.dumps({"action": "status"}))
    assert out["StatusCode"] == 200
    assert "FunctionError" not in out
    assert out["ExecutedVersion"] == "$LATEST"
    assert json.loads(out["Payload"].read()) == {"echo": {"action": "status"}, "path": "/invoke"}
    # by ARN too, and the counter follows
    arn = f"arn:aws:lambda:eu-central-1:{PROD}:function:orders-failover-eu-central-1"
    out = lam.invoke(FunctionName=arn, Payload=b'{"n":2}')
    assert json.loads(out["Payload"].read())["echo"] == {"n": 2}
    _, listed = adm("GET", "/lambda/invoke-targets")
    assert [(t["function"], t["invocations"]) for t in listed["targets"]] == [
        ("orders-failover-eu-central-1", 2)]


def test_function_error_is_unhandled_with_the_error_document(aws, adm, target):
    _register(adm, f"{target}/invoke")
    lam = aws("lambda", account=PROD)
    out = lam.invoke(FunctionName="orders-failover-eu-central-1", Payload=b'{"fail":true}')
    assert out["StatusCode"] == 200
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read()) == {"errorType": "NonRetryable",
                                                 "errorMessage": "bad event"}
    # a target that answers non-2xx without the header is a function error too
    _register(adm, f"{target}/crash", function="crashing")
    out = lam.invoke(FunctionName="crashing", Payload=b"{}")
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorMessage"] == "the process exited"


def test_unreachable_target_is_a_runtime_error(aws, adm):
    _register(adm, "http://127.0.0.1:9/invoke", function="gone", timeoutSeconds=2)
    out = aws("lambda", account=PROD).invoke(FunctionName="gone", Payload=b"{}")
    assert out["FunctionError"] == "Unhandled"
    err = json.loads(out["Payload"].read())
    assert err["errorType"] == "Runtime.Unavailable"
    assert "http://127.0.0.1:9/invoke" in err["errorMessage"]


def test_unknown_function_account_or_region_is_404(aws, adm, target):
    _register(adm, f"{target}/invoke")
    cases = [
        aws("lambda", account=PROD).invoke,                        # other name
        aws("lambda", account=DEV).invoke,                         # other account
        aws("lambda", account=PROD, region="us-east-1").invoke,    # other region
    ]
    names = ["orders-monitor-eu-central-1", "orders-failover-eu-central-1",
             "orders-failover-eu-central-1"]
    for call, name in zip(cases, names):
        with pytest.raises(ClientError) as exc:
            call(FunctionName=name, Payload=b"{}")
        err = exc.value.response
        assert err["Error"]["Code"] == "ResourceNotFoundException"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert err["Error"]["Message"].startswith("Function not found: arn:aws:lambda:")
        assert name in err["Error"]["Message"]


def test_event_and_dry_run_invocation_types(aws, adm, target):
    _register(adm, f"{target}/async")
    _Target.received.clear()
    lam = aws("lambda", account=PROD)
    out = lam.invoke(FunctionName="orders-failover-eu-central-1", InvocationType="DryRun",
                     Payload=b'{"dry":1}')
    assert out["StatusCode"] == 204
    out = lam.invoke(FunctionName="orders-failover-eu-central-1", InvocationType="Event",
                     Payload=b'{"later":1}')
    assert out["StatusCode"] == 202
    deadline = time.time() + 5
    while not _Target.received and time.time() < deadline:
        time.sleep(0.02)
    assert _Target.received == [("/async", {"later": 1})]


def test_moto_function_without_target_is_left_to_moto_and_targets_win(aws, adm, target):
    lam = make_function(aws, name="known", account=PROD)
    _register(adm, f"{target}/invoke", function="known")
    out = lam.invoke(FunctionName="known", Payload=b'{"k":1}')
    assert json.loads(out["Payload"].read())["echo"] == {"k": 1}


def test_admin_validation_delete_and_reset(adm, target):
    status, body = adm("POST", "/lambda/invoke-targets", {"account": PROD, "region": "eu-central-1"})
    assert status == 400 and "function" in body["error"] and "url" in body["error"]
    status, body = adm("POST", "/lambda/invoke-targets",
                       {"account": PROD, "region": "eu-central-1", "function": "f", "url": "ftp://x"})
    assert status == 400 and "url" in body["error"]
    _register(adm, f"{target}/a", function="a")
    _register(adm, f"{target}/b", function="b", region="us-east-1")
    status, body = adm("DELETE", "/lambda/invoke-targets?region=us-east-1")
    assert (status, body) == (200, {"removed": 1})
    _, listed = adm("GET", "/lambda/invoke-targets")
    assert [t["function"] for t in listed["targets"]] == ["a"]
    adm("POST", "/reset")
    _, listed = adm("GET", "/lambda/invoke-targets")
    assert listed["targets"] == []
