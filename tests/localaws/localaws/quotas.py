"""AWS API request-rate quotas, enforced by default.

Each signed request is charged against the token buckets AWS documents for its
service: a bucket holds at most `burst` tokens, refills at `rate` tokens a second,
and a request takes one token from every bucket that covers its operation. If any
of them is empty the request is refused (nothing is taken) with the service's
throttling error, before it reaches moto. Buckets are per account, and per Region
for regional services (Route 53 is global: one set of buckets per account).

Documented quotas (request rates only; see tests/localaws/README.md for the pages):

* Route 53: an account bucket (50 tokens, 10/s) for every action, plus a bucket per
  action (50, 10/s unless the action has its own size, e.g. GetHealthCheckStatus 4, 1/s).
* Lambda: GetFunction 100/s, GetPolicy 15/s, every other control-plane action 15/s
  in all (invocations are not rate-limited here); throttled with
  `429 TooManyRequestsException`, `Reason: CallerRateLimitExceeded`, `Retry-After`.
* CloudWatch: the per-action rates of its quota table (PutMetricAlarm 3/s,
  DescribeAlarms 9/s, GetMetricData 500/s, ...).
* Systems Manager Parameter Store: 40/s shared by GetParameter, GetParameters and
  GetParametersByPath (standard throughput).

Where AWS documents a rate but no burst, the bucket holds one second's worth. Rates
are per real second, whatever the world's time scale (timescale.py): clients pace and
back off in real time.
The admin API (`POST /throttling`) switches quotas off or replaces them, for every
account or one; `POST /reset` restores the documented ones.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from localaws.awsreq import AwsCall
from localaws.errors import request_id, throttle_response

# Services whose quotas are per account only (no Region in the bucket key).
GLOBAL_SERVICES = frozenset({"route53", "iam", "cloudfront", "organizations"})


@dataclass(frozen=True)
class Quota:
    """One token bucket per scope; a request it covers takes one token."""

    name: str
    rate: float
    burst: float
    # Operations the bucket covers: None = every operation not in `exclude`.
    operations: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    # One bucket per operation (Route 53's per-action buckets), not one for all of them.
    per_operation: bool = False
    regional: bool = True

    def covers(self, operation: str | None) -> bool:
        if operation in self.exclude:
            return False
        return self.operations is None or operation in self.operations

    def bucket_key(self, service: str, account: str, region: str,
                   operation: str | None) -> tuple[str, str, str, str, str]:
        return (service, self.name, account, region if self.regional else "",
                (operation or "") if self.per_operation else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "rate": self.rate, "burst": self.burst,
            "operations": sorted(self.operations) if self.operations is not None else None,
            "exclude": sorted(self.exclude), "perOperation": self.per_operation,
            "scope": "account+region" if self.regional else "account",
        }


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


# -- Route 53 ("Throttling for Amazon Route 53 API requests") -------------------------
# action -> (bucket maximum capacity, refill per second)
ROUTE53_ACTIONS: dict[str, tuple[float, float]] = {
    "AssociateVPCWithHostedZone": (20, 5),
    "ChangeCidrCollection": (40, 5),
    "CreateCidrCollection": (40, 5),
    "CreateHealthCheck": (50, 0.5),
    "CreateHostedZone": (40, 2),
    "CreateReusableDelegationSet": (40, 2),
    "CreateTrafficPolicyInstance": (1, 1),
    "DeleteCidrCollection": (40, 5),
    "DeleteHealthCheck": (15, 3),
    "DeleteHostedZone": (40, 5),
    "DeleteReusableDelegationSet": (40, 5),
    "DeleteTrafficPolicyInstance": (1, 1),
    "DisassociateVPCFromHostedZone": (10, 5),
    "GetHealthCheckLastFailureReason": (4, 1),
    "GetHealthCheckStatus": (4, 1),
}
ROUTE53 = [
    Quota("every action (account)", rate=10, burst=50, regional=False),
    *(Quota(op, rate=rate, burst=burst, operations=_ops(op), regional=False)
      for op, (burst, rate) in ROUTE53_ACTIONS.items()),
    Quota("any other action (per action)", rate=10, burst=50,
          exclude=frozenset(ROUTE53_ACTIONS), per_operation=True, regional=False),
]

# -- Lambda ("Lambda quotas", API requests) ---------------------------------------------
LAMBDA_INVOCATIONS = _ops("Invoke", "InvokeAsync", "InvokeWithResponseStream")
LAMBDA = [
    Quota("GetFunction", rate=100, burst=100, operations=_ops("GetFunction")),
    Quota("GetPolicy", rate=15, burst=15, operations=_ops("GetPolicy")),
    Quota("control plane (every other action but invocations)", rate=15, burst=15,
          exclude=LAMBDA_INVOCATIONS | _ops("GetFunction", "GetPolicy")),
]

# -- CloudWatch ("Amazon CloudWatch endpoints and quotas") ------------------------------
CLOUDWATCH_RATES: dict[str, float] = {
    "DeleteAlarms": 3, "DeleteAnomalyDetector": 5, "DeleteDashboards": 10,
    "DeleteInsightRules": 5, "DeleteMetricStream": 10, "DescribeAlarmHistory": 20,
    "DescribeAlarms": 9, "DescribeAlarmsForMetric": 9, "DescribeAnomalyDetectors": 10,
    "DescribeInsightRules": 20, "DisableAlarmActions": 3, "DisableInsightRules": 1,
    "EnableAlarmActions": 3, "EnableInsightRules": 1, "GetDashboard": 10,
    "GetInsightRuleReport": 20, "GetMetricData": 500, "GetMetricStatistics": 400,
    "GetMetricStream": 10, "GetMetricWidgetImage": 20, "ListDashboards": 10,
    "ListMetricStreams": 10, "ListMetrics": 25, "ListTagsForResource": 10,
    "PutAnomalyDetector": 10, "PutCompositeAlarm": 3, "PutDashboard": 10,
    "PutInsightRule": 5, "PutMetricAlarm": 3, "PutMetricData": 500, "PutMetricStream": 10,
    "SetAlarmState": 3, "StartMetricStreams": 10, "StopMetricStreams": 10,
    "TagResource": 20, "UntagResource": 20,
}
CLOUDWATCH = [Quota(op, rate=rate, burst=rate, operations=_ops(op))
              for op, rate in CLOUDWATCH_RATES.items()]

# -- Systems Manager Parameter Store ("AWS Systems Manager endpoints and quotas") -------
SSM = [
    Quota("Parameter Store throughput (standard)", rate=40, burst=40,
          operations=_ops("GetParameter", "GetParameters", "GetParametersByPath")),
]

DOCUMENTED: dict[str, list[Quota]] = {
    "route53": ROUTE53, "lambda": LAMBDA, "cloudwatch": CLOUDWATCH, "ssm": SSM,
}

ACCOUNT_RE = re.compile(r"^\d{12}$")


class QuotaThrottler:
    """Token buckets per service, quota, account (and Region); AWS's quotas unless overridden.

    Overrides are keyed (service or "*", account or None); `None` as the value means
    "no quotas". The most specific override wins: (service, account), ("*", account),
    (service, every account), ("*", every account), then the documented quotas.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._overrides: dict[tuple[str, str | None], list[Quota] | None] = {}
        self._buckets: dict[tuple[str, str, str, str, str], list[float]] = {}
        self.throttled: Counter = Counter()

    # -- enforcement ---------------------------------------------------------------
    def _quotas_for(self, service: str, account: str | None) -> list[Quota]:
        for key in ((service, account), ("*", account), (service, None), ("*", None)):
            if key in self._overrides:
                return self._overrides[key] or []
        return DOCUMENTED.get(service, [])

    def check(self, service: str | None, operation: str | None, account: str,
              region: str) -> Quota | None:
        """Charges one request; returns the quota that refuses it, or None if it may go on."""
        if not service:
            return None
        now = time.monotonic()
        with self._lock:
            quotas = [q for q in self._quotas_for(service, account) if q.covers(operation)]
            if not quotas:
                return None
            levels = []
            for q in quotas:
                key = q.bucket_key(service, account, region, operation)
                tokens, last = self._buckets.get(key, (q.burst, now))
                levels.append((key, q, min(q.burst, tokens + (now - last) * q.rate)))
            refused = next((q for _, q, tokens in levels if tokens < 1.0), None)
            taken = 0.0 if refused else 1.0
            for key, _, tokens in levels:
                self._buckets[key] = [tokens - taken, now]
            if refused is not None:
                self.throttled[(service, account, refused.name)] += 1
            return refused

    # -- admin -----------------------------------------------------------------------
    def configure(self, spec: dict[str, Any]) -> dict[str, Any]:
        """`{"service", "enabled"?: true, "rate"?, "burst"?, "account"?}` (ValueError if invalid)."""
        service = spec.get("service")
        if not isinstance(service, str) or not service:
            raise ValueError("service is required (a service name, or \"*\" for all)")
        account = spec.get("account")
        if account is not None and not (isinstance(account, str) and ACCOUNT_RE.match(account)):
            raise ValueError("account must be a 12-digit account id")
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError("enabled must be true or false")
        quotas = self._requested_quotas(service, enabled, spec.get("rate"), spec.get("burst"))
        with self._lock:
            if service == "*" and enabled:
                for key in [k for k in self._overrides if account is None or k[1] == account]:
                    del self._overrides[key]
            else:
                self._overrides[(service, account)] = quotas
            for key in [k for k in self._buckets if service in ("*", k[0])
                        and (account is None or k[2] == account)]:
                del self._buckets[key]
        return self.status()

    @staticmethod
    def _requested_quotas(service: str, enabled: bool, rate: Any,
                          burst: Any) -> list[Quota] | None:
        if not enabled:
            if rate is not None or burst is not None:
                raise ValueError("rate and burst need enabled: true")
            return None
        if rate is None:
            if burst is not None:
                raise ValueError("burst needs a rate")
            if service != "*" and service not in DOCUMENTED:
                raise ValueError(
                    f"no documented request-rate quota for {service!r} "
                    f"(documented: {', '.join(sorted(DOCUMENTED))}); give a rate")
            return DOCUMENTED.get(service)
        if service == "*":
            raise ValueError("a rate needs one service, not \"*\"")
        try:
            r = float(rate)
            b = float(burst) if burst is not None else max(r, 1.0)
        except (TypeError, ValueError):
            raise ValueError("rate and burst must be numbers") from None
        if r <= 0 or b < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        return [Quota("custom", rate=r, burst=b, regional=service not in GLOBAL_SERVICES)]

    def status(self) -> dict[str, Any]:
        with self._lock:
            services = sorted(set(DOCUMENTED) | {s for s, _ in self._overrides if s != "*"})
            effective = {}
            for service in services:
                quotas = self._quotas_for(service, None)
                source = "aws" if quotas is DOCUMENTED.get(service) else "custom"
                effective[service] = {"enabled": bool(quotas),
                                      "source": source if quotas else "off",
                                      "quotas": [q.to_dict() for q in quotas]}
            overrides = [{"service": s, "account": a, "enabled": q is not None,
                          "quotas": [x.to_dict() for x in q or []]}
                         for (s, a), q in sorted(self._overrides.items(),
                                                 key=lambda kv: (kv[0][0], kv[0][1] or ""))]
            by_account: Counter = Counter()
            for (service, account, _), n in self.throttled.items():
                by_account[f"{service}/{account}"] += n
            return {
                "services": effective,
                "overrides": overrides,
                "throttled": dict(by_account),
                "throttledByQuota": [
                    {"service": s, "account": a, "quota": q, "count": n}
                    for (s, a, q), n in sorted(self.throttled.items())],
            }

    def reset(self) -> None:
        with self._lock:
            self._overrides.clear()
            self._buckets.clear()
            self.throttled.clear()


def throttle_answer(call: AwsCall, quota: Quota) -> Response:
    """The service's throttling error. Lambda says which limit (`CallerRateLimitExceeded`)
    and when a token is back (`Retry-After`, whole seconds)."""
    if call.service != "lambda":
        return throttle_response(call)
    body = {"Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate exceeded"}
    headers = {"x-amzn-RequestId": request_id(), "x-amzn-errortype": "TooManyRequestsException",
               "Retry-After": str(max(1, math.ceil(1.0 / quota.rate)))}
    return Response(json.dumps(body), status=429, headers=headers, content_type="application/json")
