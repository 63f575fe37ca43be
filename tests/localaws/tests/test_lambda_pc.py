import time

import pytest
from botocore.exceptions import ClientError

from conftest import DEV, SHARED, make_function


def _publish_alias(lam, name="fn", alias="live", weights=None):
    v = lam.publish_version(FunctionName=name)["Version"]
    kwargs = {}
    if weights:
        kwargs["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=v, **kwargs)
    return v


def test_put_in_progress_then_ready(aws, adm):
    adm("POST", "/lambda/provisioned-concurrency/settings", {"readyDelaySeconds": 0.3})
    lam = make_function(aws)
    _publish_alias(lam)
    resp = lam.put_provisioned_concurrency_config(
        FunctionName="fn", Qualifier="live", ProvisionedConcurrentExecutions=5)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert resp["Status"] == "IN_PROGRESS"
    assert resp["RequestedProvisionedConcurrentExecutions"] == 5
    # a second change while IN_PROGRESS conflicts
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(
            FunctionName="fn", Qualifier="live", ProvisionedConcurrentExecutions=6)
    assert exc.value.response["Error"]["Code"] == "ResourceConflictException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(ClientError) as exc:
        lam.delete_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert exc.value.response["Error"]["Code"] == "ResourceConflictException"
    time.sleep(0.35)
    got = lam.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert got["Status"] == "READY"
    assert got["AllocatedProvisionedConcurrentExecutions"] == 5
    listed = lam.list_provisioned_concurrency_configs(FunctionName="fn")
    assert [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]] == [
        f"arn:aws:lambda:eu-central-1:{SHARED}:function:fn:live"]
    lam.delete_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert exc.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"


def test_errors_latest_missing_alias_missing_function_weighted(aws):
    lam = make_function(aws)
    v = _publish_alias(lam)
    lam.create_alias(FunctionName="fn", Name="canary", FunctionVersion=v,
                     RoutingConfig={"AdditionalVersionWeights": {v: 0.1}})
    cases = [
        ({"FunctionName": "fn", "Qualifier": "$LATEST"}, "InvalidParameterValueException", 400),
        ({"FunctionName": "fn", "Qualifier": "nope"}, "ResourceNotFoundException", 404),
        ({"FunctionName": "missing", "Qualifier": "live"}, "ResourceNotFoundException", 404),
        ({"FunctionName": "fn", "Qualifier": "canary"}, "InvalidParameterValueException", 400),
        ({"FunctionName": "fn", "Qualifier": "99"}, "ResourceNotFoundException", 404),
    ]
    for kwargs, code, status in cases:
        with pytest.raises(ClientError) as exc:
            lam.put_provisioned_concurrency_config(ProvisionedConcurrentExecutions=1, **kwargs)
        err = exc.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), kwargs
        assert err["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
        assert err["Error"]["Message"]


def test_failure_injection(aws, adm):
    adm("POST", "/lambda/provisioned-concurrency/settings", {"readyDelaySeconds": 0.2})
    lam = make_function(aws)
    _publish_alias(lam)
    adm("POST", "/lambda/provisioned-concurrency/failures",
        {"functionName": "fn", "qualifier": "live", "reason": "FUNCTION_ERROR_INIT_FAILURE"})
    lam.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="live",
                                           ProvisionedConcurrentExecutions=2)
    time.sleep(0.25)
    got = lam.get_provisioned_concurrency_config(FunctionName="fn", Qualifier="live")
    assert got["Status"] == "FAILED"
    assert got["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"


def test_account_headroom_and_settings(aws, adm):
    adm("POST", "/lambda/provisioned-concurrency/settings",
        {"readyDelaySeconds": 0, "accountConcurrency": {"account": SHARED, "concurrentExecutions": 300}})
    lam = make_function(aws)
    _publish_alias(lam)
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 300
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 300
    lam.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="live",
                                           ProvisionedConcurrentExecutions=200)
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName="fn", Qualifier="1",
                                               ProvisionedConcurrentExecutions=1)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "UnreservedConcurrentExecution" in exc.value.response["Error"]["Message"]
    # other account unaffected
    dev = make_function(aws, account=DEV)
    assert dev.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
