"""Lambda provisioned concurrency (2019-09-30 API) and GetAccountSettings.

State lives here, keyed by (account, region, function name, qualifier); functions,
versions and aliases are read from moto's lambda backend. IN_PROGRESS -> READY
(or FAILED) is computed lazily from timestamps.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Response

from localaws.admin import AdminError, body_json, require
from localaws.awsreq import AwsCall
from localaws import timescale
from localaws.errors import error_response

# AWS (Lambda developer guide, "Understanding Lambda function scaling", How Lambda
# allocates provisioned concurrency): allocation starts "after a minute or two of
# preparation", then up to 6,000 execution environments a minute, and none is usable
# before all are. So a config is READY after 60..120 s of preparation (fixed per
# account, region, function, qualifier and amount: crc32, not random, so a run can be
# repeated) plus amount/6000 minutes, times the world's time scale (timescale.py).
# An admin readyDelaySeconds override is in real seconds and not scaled.
PREPARATION_SECONDS = (60, 120)
ENVIRONMENTS_PER_MINUTE = 6000
DEFAULT_ACCOUNT_LIMIT = 1000
MIN_UNRESERVED = 100


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class PcConfig:
    def __init__(self, requested: int, now: float, delay: float):
        self.requested = requested
        self.allocated = 0
        self.status = "IN_PROGRESS"
        self.reason: str | None = None
        self.changed_at = now
        self.requested_at = now
        self.ready_at = now + delay
        self.fail_reason: str | None = None

    def settle(self, now: float) -> None:
        if self.status == "IN_PROGRESS" and now >= self.ready_at:
            if self.fail_reason is not None:
                self.status = "FAILED"
                self.reason = self.fail_reason
                self.allocated = 0
            else:
                self.status = "READY"
                self.allocated = self.requested
            self.changed_at = self.ready_at

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": _ts(self.changed_at),
        }
        if self.reason:
            out["StatusReason"] = self.reason
        return out


class LambdaPc:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            self.configs: dict[tuple[str, str, str, str], PcConfig] = {}
            # None: AWS's timing (aws_ready_delay); a number: that many real seconds
            self.ready_delay: float | None = None
            # account -> override for that account only (None: AWS's timing even when
            # a world-wide override is set)
            self.account_delays: dict[str, float | None] = {}
            # (function, qualifier) -> reason; account/region optional in key
            self.failures: dict[tuple[str | None, str | None, str, str], str] = {}
            self.account_limits: dict[tuple[str, str], int] = {}

    # -- helpers -------------------------------------------------------------
    def limit(self, account: str, region: str) -> int:
        return self.account_limits.get((account, region),
                                       self.account_limits.get((account, "*"), DEFAULT_ACCOUNT_LIMIT))

    def failure_for(self, account: str, region: str, fn: str, qual: str) -> str | None:
        for key in ((account, region, fn, qual), (account, None, fn, qual),
                    (None, None, fn, qual)):
            if key in self.failures:
                return self.failures[key]
        return None

    def delay_for(self, account: str, region: str, fn: str, qual: str, requested: int) -> float:
        override = self.account_delays[account] if account in self.account_delays \
            else self.ready_delay
        if override is not None:
            return override
        return aws_ready_delay(account, region, fn, qual, requested)

    def settle_all(self, now: float | None = None) -> None:
        now = now or time.time()
        for (acct, region, fn, qual), cfg in self.configs.items():
            if cfg.status == "IN_PROGRESS" and cfg.fail_reason is None:
                cfg.fail_reason = self.failure_for(acct, region, fn, qual)
            cfg.settle(now)


def aws_ready_delay(account: str, region: str, fn: str, qual: str, requested: int) -> float:
    """Seconds from Put to READY as AWS documents it, scaled by the world's time scale."""
    low, high = PREPARATION_SECONDS
    key = f"{account}/{region}/{fn}/{qual}/{requested}".encode()
    preparation = low + zlib.crc32(key) % (high - low + 1)
    allocation = 60.0 * requested / ENVIRONMENTS_PER_MINUTE
    return timescale.scaled(preparation + allocation)


STATE = LambdaPc()


def _backend(call: AwsCall):
    from moto.awslambda.models import lambda_backends

    return lambda_backends[call.account][call.region]


def _fn_name(name_or_arn: str) -> tuple[str, str | None]:
    """Function name and qualifier embedded in a name / partial ARN / ARN."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        name = parts[6] if len(parts) > 6 else parts[-1]
        qual = parts[7] if len(parts) > 7 else None
        return name, qual
    if ":" in name_or_arn:
        parts = name_or_arn.split(":")
        if len(parts) == 3 and parts[1] == "function":  # 123456789012:function:name
            return parts[2], None
        if len(parts) == 4:
            return parts[2], parts[3]
        return parts[0], parts[1]
    return name_or_arn, None


def _arn(call: AwsCall, name: str, qual: str | None = None) -> str:
    base = f"arn:aws:lambda:{call.region}:{call.account}:function:{name}"
    return f"{base}:{qual}" if qual else base


def _err(call: AwsCall, code: str, message: str, status: int) -> Response:
    return error_response(call, code, message, status)


def _not_found(call: AwsCall, name: str, qual: str | None = None) -> Response:
    return _err(call, "ResourceNotFoundException",
                f"Function not found: {_arn(call, name, qual)}", 404)


def _resolve(call: AwsCall, require_qualifier: bool = True):
    """(function name, qualifier, error response)."""
    p = call.params()
    name, qual_in_name = _fn_name(p.get("FunctionName") or call.uri_params.get("FunctionName", ""))
    qual = p.get("Qualifier") or qual_in_name
    storage = _backend(call)._lambdas
    if name not in storage._functions:
        return name, qual, _not_found(call, name)
    if not require_qualifier:
        return name, qual, None
    if not qual:
        return name, qual, _err(call, "InvalidParameterValueException",
                                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.", 400)
    if qual.upper() == "$LATEST":
        return name, qual, _err(call, "InvalidParameterValueException",
                                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.", 400)
    if qual.isdigit():
        if storage._get_version(name, qual) is None:
            return name, qual, _not_found(call, name, qual)
        return name, qual, None
    aliases = storage._aliases.get(_arn(call, name), {})
    if qual not in aliases:
        return name, qual, _err(call, "ResourceNotFoundException",
                                f"Cannot find alias arn: {_arn(call, name, qual)}", 404)
    return name, qual, None


def _alias(call: AwsCall, name: str, qual: str):
    return _backend(call)._lambdas._aliases.get(_arn(call, name), {}).get(qual)


def _reserved_total(call: AwsCall) -> int:
    total = 0
    for fn in _backend(call).list_functions():
        if fn.reserved_concurrency:
            total += int(fn.reserved_concurrency)
    return total


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, content_type="application/json")


# -- API handlers ------------------------------------------------------------------
def put_config(call: AwsCall) -> Response:
    name, qual, err = _resolve(call)
    if err:
        return err
    requested = call.params().get("ProvisionedConcurrentExecutions")
    if not isinstance(requested, int) or requested < 1:
        return _err(call, "InvalidParameterValueException",
                    "1 validation error detected: Value at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1",
                    400)
    alias = None if qual.isdigit() else _alias(call, name, qual)
    if alias is not None:
        rc = alias.routing_config or {}
        if isinstance(rc, str):
            try:
                rc = json.loads(rc)
            except ValueError:
                rc = {}
        if rc.get("AdditionalVersionWeights"):
            return _err(call, "InvalidParameterValueException",
                        "Alias with weights can not be used with Provisioned Concurrency", 400)
    now = time.time()
    with STATE.lock:
        STATE.settle_all(now)
        key = (call.account, call.region, name, qual)
        current = STATE.configs.get(key)
        if current is not None and current.status == "IN_PROGRESS":
            return _err(call, "ResourceConflictException",
                        f"The operation cannot be performed at this time. An update is in progress for resource: {_arn(call, name, qual)}",
                        409)
        fn = _backend(call).get_function(name)
        if fn.reserved_concurrency and requested > int(fn.reserved_concurrency):
            return _err(call, "InvalidParameterValueException",
                        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
                        400)
        others = sum(c.requested for k, c in STATE.configs.items()
                     if k[0] == call.account and k[1] == call.region and k != key
                     and c.status != "FAILED")
        unreserved = STATE.limit(call.account, call.region) - _reserved_total(call)
        if others + requested > unreserved - MIN_UNRESERVED:
            return _err(call, "InvalidParameterValueException",
                        "Specified ProvisionedConcurrentExecutions for function decreases account's "
                        f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].",
                        400)
        cfg = PcConfig(requested, now,
                       STATE.delay_for(call.account, call.region, name, qual, requested))
        cfg.fail_reason = STATE.failure_for(call.account, call.region, name, qual)
        STATE.configs[key] = cfg
        cfg.settle(now)
        body = {k: v for k, v in cfg.to_json().items()
                if k != "AvailableProvisionedConcurrentExecutions"}
    return _json(body, 202)


def get_config(call: AwsCall) -> Response:
    name, qual, err = _resolve(call)
    if err:
        return err
    with STATE.lock:
        STATE.settle_all()
        cfg = STATE.configs.get((call.account, call.region, name, qual))
        if cfg is None:
            return _err(call, "ProvisionedConcurrencyConfigNotFoundException",
                        "No Provisioned Concurrency Config found for this function", 404)
        return _json(cfg.to_json())


def delete_config(call: AwsCall) -> Response:
    name, qual, err = _resolve(call)
    if err:
        return err
    with STATE.lock:
        STATE.settle_all()
        key = (call.account, call.region, name, qual)
        cfg = STATE.configs.get(key)
        if cfg is not None and cfg.status == "IN_PROGRESS":
            return _err(call, "ResourceConflictException",
                        f"The operation cannot be performed at this time. An update is in progress for resource: {_arn(call, name, qual)}",
                        409)
        STATE.configs.pop(key, None)
    return Response(b"", status=204)


def list_configs(call: AwsCall) -> Response:
    name, _, err = _resolve(call, require_qualifier=False)
    if err:
        return err
    p = call.params()
    max_items = int(p.get("MaxItems") or 50)
    start = int(p.get("Marker") or 0)
    with STATE.lock:
        STATE.settle_all()
        items = []
        for (acct, region, fn, qual), cfg in sorted(STATE.configs.items()):
            if acct == call.account and region == call.region and fn == name:
                row = {"FunctionArn": _arn(call, fn, qual)}
                row.update(cfg.to_json())
                items.append(row)
    page = items[start:start + max_items]
    out: dict[str, Any] = {"ProvisionedConcurrencyConfigs": page}
    if start + max_items < len(items):
        out["NextMarker"] = str(start + max_items)
    return _json(out)


def account_settings(call: AwsCall) -> Response:
    backend = _backend(call)
    functions = list(backend.list_functions())
    code_size = sum(int(getattr(f, "code_size", 0) or 0) for f in functions)
    limit = STATE.limit(call.account, call.region)
    return _json({
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": limit - _reserved_total(call),
        },
        "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": len(functions)},
    })


# -- admin -----------------------------------------------------------------------------
def admin_get(req) -> dict[str, Any]:
    with STATE.lock:
        STATE.settle_all()
        return {
            "readyDelaySeconds": STATE.ready_delay,
            "accountReadyDelaySeconds": [
                {"account": a, "readyDelaySeconds": d} for a, d in STATE.account_delays.items()],
            "awsReadyDelay": {"preparationSeconds": list(PREPARATION_SECONDS),
                              "environmentsPerMinute": ENVIRONMENTS_PER_MINUTE,
                              "timeScale": timescale.scale()},
            "accountConcurrency": [
                {"account": a, "region": r, "concurrentExecutions": n}
                for (a, r), n in STATE.account_limits.items()],
            "failures": [
                {"account": a, "region": r, "functionName": f, "qualifier": q, "reason": why}
                for (a, r, f, q), why in STATE.failures.items()],
            "configs": [
                dict(account=a, region=r, functionName=f, qualifier=q,
                     requestedAt=c.requested_at, readyAt=c.ready_at, **c.to_json())
                for (a, r, f, q), c in STATE.configs.items()],
        }


def admin_settings(req) -> dict[str, Any]:
    data = body_json(req)
    with STATE.lock:
        if "readyDelaySeconds" in data:
            delay = data["readyDelaySeconds"]
            if delay is not None:
                delay = float(delay)
                if delay < 0:
                    raise AdminError("readyDelaySeconds must be >= 0 (or null: AWS's timing)")
            if data.get("account"):  # this account only; null pins AWS's timing for it
                STATE.account_delays[str(data["account"])] = delay
            else:
                STATE.ready_delay = delay
        if "accountConcurrency" in data:
            ac = data["accountConcurrency"]
            (account, n) = require(ac, "account", "concurrentExecutions")
            STATE.account_limits[(str(account), ac.get("region", "*"))] = int(n)
    return admin_get(req)


def admin_add_failure(req) -> dict[str, Any]:
    data = body_json(req)
    fn, qual = require(data, "functionName", "qualifier")
    reason = data.get("reason") or "FUNCTION_ERROR_INIT_FAILURE"
    with STATE.lock:
        STATE.failures[(data.get("account"), data.get("region") if data.get("account") else None,
                        fn, str(qual))] = reason
        now = time.time()
        # IN_PROGRESS configs of this function+qualifier become FAILED when their delay
        # elapses; with "immediate": true they (and READY ones) fail right now.
        for (a, r, f, q), cfg in STATE.configs.items():
            if f == fn and q == str(qual) and (not data.get("account") or a == data["account"]) \
                    and (not data.get("region") or r == data["region"]):
                if cfg.status == "IN_PROGRESS":
                    cfg.fail_reason = reason
                if data.get("immediate") and cfg.status in ("IN_PROGRESS", "READY"):
                    cfg.status, cfg.reason, cfg.allocated = "FAILED", reason, 0
                    cfg.changed_at = now
    return admin_get(req)


def admin_clear_failures(req) -> dict[str, Any]:
    with STATE.lock:
        STATE.failures.clear()
    return admin_get(req)


def register(app) -> None:
    app.on("lambda", "PutProvisionedConcurrencyConfig", put_config)
    app.on("lambda", "GetProvisionedConcurrencyConfig", get_config)
    app.on("lambda", "DeleteProvisionedConcurrencyConfig", delete_config)
    app.on("lambda", "ListProvisionedConcurrencyConfigs", list_configs)
    app.on("lambda", "GetAccountSettings", account_settings)
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/lambda/provisioned-concurrency", admin_get)
    app.admin.route("POST", "/lambda/provisioned-concurrency/settings", admin_settings)
    app.admin.route("POST", "/lambda/provisioned-concurrency/failures", admin_add_failure)
    app.admin.route("DELETE", "/lambda/provisioned-concurrency/failures", admin_clear_failures)
