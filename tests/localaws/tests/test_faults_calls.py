import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from conftest import DEV, SHARED

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_call_log_and_counters(aws, adm):
    aws("sns", account=DEV).list_topics()
    aws("route53", region="us-east-1").list_hosted_zones()
    status, out = adm("GET", "/calls?service=sns")
    assert [(c["account"], c["region"], c["operation"]) for c in out["calls"]] == [
        (DEV, "eu-central-1", "ListTopics")]
    status, out = adm("GET", "/calls/counters")
    assert {"account": SHARED, "region": "us-east-1", "service": "route53",
            "operation": "ListHostedZones", "count": 1} in out["counters"]
    adm("POST", "/calls/reset")
    assert adm("GET", "/calls/counters")[1]["total"] == 0


def test_fault_kinds(aws, adm):
    r53 = aws("route53", region="us-east-1")
    status, f = adm("POST", "/faults", {"service": "route53", "operation": "ListHostedZones",
                                        "kind": "throttle", "count": 1})
    assert status == 201
    with pytest.raises(ClientError) as exc:
        r53.list_hosted_zones()
    assert exc.value.response["Error"]["Code"] == "Throttling"
    assert exc.value.response["Error"]["Message"] == "Rate exceeded"
    r53.list_hosted_zones()  # count exhausted
    adm("POST", "/faults", {"service": "lambda", "kind": "error5xx", "status": 503, "count": 1})
    with pytest.raises(ClientError) as exc:
        aws("lambda").list_functions()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    adm("POST", "/faults", {"service": "sns", "kind": "latency", "latencyMs": 200, "count": 1})
    t0 = time.time()
    aws("sns").list_topics()
    assert time.time() - t0 >= 0.2
    adm("POST", "/faults", {"service": "sts", "kind": "drop", "count": 1})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        aws("sts").get_caller_identity()
    aws("sts").get_caller_identity()
    status, out = adm("GET", "/faults")
    assert out["injectedByKind"] == {"throttle": 1, "error5xx": 1, "latency": 1, "drop": 1}
    assert all(f["injected"] == 1 for f in out["faults"])
    adm("DELETE", "/faults")
    assert adm("GET", "/faults")[1]["faults"] == []


def test_cbor_throttle_fault(aws, adm):
    adm("POST", "/faults", {"service": "cloudwatch", "kind": "throttle", "probability": 1.0})
    with pytest.raises(ClientError) as exc:
        aws("cloudwatch").list_metrics()
    assert exc.value.response["Error"]["Code"] == "Throttling"


def test_lambda_invoke_throttle_fault_is_a_reserved_concurrency_throttle(aws, adm):
    # Lambda throttles invocations by concurrency: 429 TooManyRequestsException with the
    # Reason it gives when the function's reserved concurrency is exhausted.
    adm("POST", "/faults", {"service": "lambda", "operation": "Invoke", "kind": "throttle",
                            "count": 1})
    with pytest.raises(ClientError) as exc:
        aws("lambda").invoke(FunctionName="orders-failover-eu-central-1", Payload=b"{}")
    err = exc.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Error"]["Message"] == "Rate Exceeded."
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err["Type"] == "User"
    # a control-plane action's throttle fault stays a request-rate answer
    adm("POST", "/faults", {"service": "lambda", "operation": "ListFunctions", "kind": "throttle",
                            "count": 1})
    with pytest.raises(ClientError) as exc:
        aws("lambda").list_functions()
    assert exc.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert exc.value.response["Error"]["Message"] == "Rate exceeded"
    assert "Reason" not in exc.value.response
    adm("DELETE", "/faults")


def _free_port() -> int:
    # A port the kernel just handed out and released: a fixed one may be some other
    # connection's ephemeral port at that moment.
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_process_starts_fast_and_answers_health():
    port = _free_port()
    env = dict(os.environ, LOCALAWS_PORT=str(port), PYTHONPATH=HERE)
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "localaws"], cwd=HERE, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"localaws ready on http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localaws/health") as resp:
            assert resp.status == 200
        assert time.time() - t0 < 5
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_fault_skip_targets_the_nth_call(aws, adm):
    # skip=2: the first two ListTopics pass, the third and fourth are throttled, then it is spent.
    adm("POST", "/faults", {"service": "sns", "operation": "ListTopics", "kind": "throttle",
                            "skip": 2, "count": 2})
    sns = aws("sns")
    sns.list_topics()
    sns.list_topics()
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            sns.list_topics()
        assert exc.value.response["Error"]["Code"] == "Throttling"
    sns.list_topics()
    status, out = adm("GET", "/faults")
    assert out["faults"][0]["matched"] == 4 and out["faults"][0]["injected"] == 2
    assert out["faults"][0]["skip"] == 0
    status, out = adm("POST", "/faults", {"service": "sns", "kind": "throttle", "count": 1,
                                          "skip": -1})
    assert status == 400
    adm("DELETE", "/faults")


def test_drop_after_applies_the_call_and_loses_the_answer(aws, adm):
    sns = aws("sns")
    adm("POST", "/faults", {"service": "sns", "operation": "CreateTopic", "kind": "drop",
                            "after": True, "count": 1})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        sns.create_topic(Name="lost-answer")
    # The topic was created although the caller never heard so.
    arns = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert any(a.endswith(":lost-answer") for a in arns)
    status, out = adm("GET", "/calls?service=sns&operation=CreateTopic")
    assert out["calls"][-1]["outcome"] == "fault:drop-after"
    status, out = adm("POST", "/faults", {"service": "sns", "kind": "throttle", "count": 1,
                                          "after": True})
    assert status == 400
    adm("DELETE", "/faults")


def test_clearing_faults_returns_what_each_did_and_on_which_calls(aws, adm):
    # The per-fault counters name the calls a fault hit (their call-log seq), so a test can
    # check that a fault fired on the very call it targets, not merely somewhere.
    sns = aws("sns")
    adm("POST", "/faults", {"service": "sns", "operation": "ListTopics", "kind": "throttle",
                            "skip": 1, "count": 1})
    adm("POST", "/faults", {"service": "sns", "operation": "CreateTopic", "kind": "throttle",
                            "count": 1})
    sns.list_topics()
    with pytest.raises(ClientError):
        sns.list_topics()
    sns.list_topics()
    calls = adm("GET", "/calls?service=sns&operation=ListTopics")[1]["calls"][-3:]
    status, out = adm("DELETE", "/faults")
    assert status == 200 and out["cleared"] == 2
    hit, unused = out["faults"]
    assert (hit["matched"], hit["injected"]) == (2, 1)
    assert hit["injectedSeqs"] == [calls[1]["seq"]]
    assert calls[1]["outcome"] == "fault:throttle"
    assert (unused["injected"], unused["injectedSeqs"]) == (0, [])
    assert adm("GET", "/faults")[1]["faults"] == []
    assert adm("DELETE", "/faults")[1] == {"cleared": 0, "faults": []}


def test_latency_after_applies_the_call_then_holds_the_answer_until_cleared(aws, adm):
    sns = aws("sns")
    adm("POST", "/faults", {"service": "sns", "operation": "CreateTopic", "kind": "latency",
                            "latencyMs": 30000, "after": True, "count": 1})
    answered = []
    t = threading.Thread(target=lambda: answered.append(sns.create_topic(Name="held-answer")))
    t0 = time.time()
    t.start()
    # The effect lands first, and the call log says so, while the caller still waits.
    for _ in range(100):
        calls = adm("GET", "/calls?service=sns&operation=CreateTopic")[1]["calls"]
        if calls and calls[-1]["outcome"] == "fault:latency-after":
            break
        time.sleep(0.05)
    assert calls[-1]["outcome"] == "fault:latency-after"
    assert any(x["TopicArn"].endswith(":held-answer")
               for x in sns.list_topics()["Topics"])
    assert answered == []
    # Clearing the fault releases the held answer at once.
    out = adm("DELETE", "/faults")[1]
    assert out["faults"][0]["injectedSeqs"] == [calls[-1]["seq"]]
    t.join(timeout=10)
    assert answered and time.time() - t0 < 10
