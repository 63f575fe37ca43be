"""AWS API request-rate quotas, enforced by default.

Each signed request is charged against the token buckets AWS documents for its
service: a bucket holds at most `burst` tokens, refills at `rate` tokens a second,
and a request takes one token from every bucket that covers its operation (SNS's
publish bucket: one per message of a PublishBatch). If any of them has too few the
request is refused (nothing is taken) with the service's
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
* EventBridge Scheduler: CreateSchedule 5,000/s in its eleven large Regions, 250/s
  elsewhere; Delete/Get/UpdateSchedule 1,000/s and 250/s; ListSchedules 50/s; the
  schedule-group actions and ListTagsForResource 10/s.
* SNS: the messages published per second (Publish and PublishBatch together, a batch
  counting its entries), by Region: 30,000 us-east-1, 9,000 us-west-2 and eu-west-1,
  1,500 in eight more (eu-central-1 among them), 300 elsewhere.
* EventBridge: PutEvents by Region (10,000 us-east-1, 2,400 eu-central-1, 400 elsewhere
  unless listed).
* Secrets Manager: DescribeSecret 40,000/s, ListSecrets 100/s. ECR: BatchGetImage
  2,000/s (DescribeImages, DescribeImageReplicationStatus and ListImages have no
  documented rate and are not limited). STS, the Resource Groups Tagging API and SSM
  PutParameter have no documented rate: not limited.

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
from urllib.parse import parse_qs
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from localaws.awsreq import AwsCall
from localaws.errors import request_id, throttle_response

# Services whose quotas are per account only (no Region in the bucket key).
GLOBAL_SERVICES = frozenset({"route53", "iam", "cloudfront", "organizations"})


@dataclass(frozen=True)
class Quota:
    """One token bucket per scope; a request it covers takes one token (`per_entry`: one
    per entry of that list parameter)."""

    name: str
    rate: float
    burst: float
    # Operations the bucket covers: None = every operation not in `exclude`.
    operations: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    # One bucket per operation (Route 53's per-action buckets), not one for all of them.
    per_operation: bool = False
    regional: bool = True
    # Region -> rate where AWS documents the quota per Region (`rate`, `burst` in the
    # Regions not listed); a listed Region's bucket holds one second's worth.
    by_region: tuple[tuple[str, float], ...] = ()
    # A list parameter whose entries each take a token (PublishBatch's messages); a
    # request takes at least one, and at most what the bucket holds.
    per_entry: str | None = None

    def covers(self, operation: str | None) -> bool:
        if operation in self.exclude:
            return False
        return self.operations is None or operation in self.operations

    def limits(self, region: str) -> tuple[float, float]:
        """(rate, burst) in `region`."""
        for listed, rate in self.by_region:
            if listed == region:
                return rate, rate
        return self.rate, self.burst

    def cost(self, call: AwsCall | None) -> float:
        if self.per_entry is None or call is None:
            return 1.0
        return float(max(1, _entries(call, self.per_entry)))

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
            "byRegion": dict(self.by_region), "perEntry": self.per_entry,
        }


def _entries(call: AwsCall, name: str) -> int:
    """How many entries the request's list parameter `name` has (query: `name.member.N.…`)."""
    if call.content_type.startswith("application/x-www-form-urlencoded"):
        try:
            form = parse_qs(call.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return 1
        prefix = f"{name}.member."
        return len({k[len(prefix):].split(".", 1)[0] for k in form if k.startswith(prefix)})
    value = call.params().get(name)
    return len(value) if isinstance(value, list) else 1


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


def _by_region(tiers: dict[float, tuple[str, ...]]) -> tuple[tuple[str, float], ...]:
    return tuple((region, rate) for rate, regions in tiers.items() for region in regions)


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

# -- EventBridge Scheduler ("Quotas for Amazon EventBridge Scheduler") ------------------
# The Regions its quota table lists by name; every other Region has the lower rate.
SCHEDULER_LARGE_REGIONS = (
    "us-east-1", "us-east-2", "us-west-2", "ap-northeast-1", "ap-south-1", "ap-southeast-1",
    "ap-southeast-2", "eu-central-1", "eu-west-1", "eu-west-2", "sa-east-1",
)
SCHEDULER = [
    Quota("CreateSchedule", rate=250, burst=250, operations=_ops("CreateSchedule"),
          by_region=_by_region({5000: SCHEDULER_LARGE_REGIONS})),
    *(Quota(op, rate=250, burst=250, operations=_ops(op),
            by_region=_by_region({1000: SCHEDULER_LARGE_REGIONS}))
      for op in ("DeleteSchedule", "GetSchedule", "UpdateSchedule")),
    Quota("ListSchedules", rate=50, burst=50, operations=_ops("ListSchedules")),
    *(Quota(op, rate=10, burst=10, operations=_ops(op))
      for op in ("CreateScheduleGroup", "DeleteScheduleGroup", "GetScheduleGroup",
                 "ListScheduleGroups", "ListTagsForResource")),
]

# -- SNS ("Amazon SNS endpoints and quotas": Publish API throttling per account) ----------
SNS = [
    Quota("messages published (Publish, PublishBatch)", rate=300, burst=300,
          operations=_ops("Publish", "PublishBatch"), per_entry="PublishBatchRequestEntries",
          by_region=_by_region({
              30000: ("us-east-1",),
              9000: ("us-west-2", "eu-west-1"),
              1500: ("us-east-2", "us-west-1", "ap-south-1", "ap-northeast-2", "ap-southeast-1",
                     "ap-southeast-2", "ap-northeast-1", "eu-central-1"),
          })),
]

# -- EventBridge ("Amazon EventBridge quotas": PutEvents throttle limit) ------------------
EVENTS = [
    Quota("PutEvents", rate=400, burst=400, operations=_ops("PutEvents"),
          by_region=_by_region({
              10000: ("us-east-1", "us-west-2", "eu-west-1"),
              2400: ("us-east-2", "eu-central-1", "eu-south-2"),
              1200: ("us-west-1", "ap-northeast-1", "ap-southeast-1", "ap-southeast-2",
                     "eu-west-2"),
              600: ("ap-east-1", "ap-northeast-2", "ap-south-1", "ca-central-1", "eu-north-1",
                    "eu-west-3", "sa-east-1"),
          })),
]

# -- Secrets Manager ("AWS Secrets Manager quotas") ---------------------------------------
SECRETSMANAGER = [
    Quota("DescribeSecret", rate=40000, burst=40000, operations=_ops("DescribeSecret")),
    Quota("ListSecrets", rate=100, burst=100, operations=_ops("ListSecrets")),
]

# -- ECR ("Amazon ECR service quotas"; no rate for DescribeImages & co.) ------------------
ECR = [
    Quota("BatchGetImage", rate=2000, burst=2000, operations=_ops("BatchGetImage")),
]

DOCUMENTED: dict[str, list[Quota]] = {
    "route53": ROUTE53, "lambda": LAMBDA, "cloudwatch": CLOUDWATCH, "ssm": SSM,
    "scheduler": SCHEDULER, "sns": SNS, "events": EVENTS, "secretsmanager": SECRETSMANAGER,
    "ecr": ECR,
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
              region: str, call: AwsCall | None = None) -> Quota | None:
        """Charges one request (`call`, if given, for quotas counting its entries);
        returns the quota that refuses it, or None if it may go on."""
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
                rate, burst = q.limits(region)
                tokens, last = self._buckets.get(key, (burst, now))
                tokens = min(burst, tokens + (now - last) * rate)
                levels.append((key, q, tokens, min(q.cost(call), burst)))
            refused = next((q for _, q, tokens, cost in levels if tokens < cost), None)
            for key, _, tokens, cost in levels:
                self._buckets[key] = [tokens - (0.0 if refused else cost), now]
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
