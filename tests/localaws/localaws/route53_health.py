"""Route 53 health checks as AWS judges them.

* Health checkers disagree: an endpoint's admin state may fail only some checker regions
  (`failingCheckers` fraction or `failingRegions`); Route 53 considers the endpoint healthy
  when MORE THAN 18% of its checkers report it healthy.
* `CLOUDWATCH_METRIC` checks follow a CloudWatch alarm of the check's account
  (`AlarmIdentifier` {Region, Name}, `InsufficientDataHealthStatus`); moto 5.2.5 stores
  neither, so they are kept on moto's HealthCheck object and serialized from there.
  Route 53 judges such a check by the alarm's data stream: OK healthy, ALARM unhealthy,
  and when CloudWatch has insufficient data to determine the state, the check's
  `InsufficientDataHealthStatus` (Healthy, Unhealthy, or LastKnownStatus: the status from
  the last time CloudWatch had sufficient data; healthy for a check with none) ("How Route 53
  determines the status of health checks that monitor CloudWatch alarms" —
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html ;
  HealthCheckConfig.InsufficientDataHealthStatus —
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html).
  An alarm whose Region is dark (outage.py) sends no data stream: Route 53 has
  insufficient data for it, so `InsufficientDataHealthStatus` decides (with
  LastKnownStatus, the state the alarm had when its Region went dark) — a dark alarm Region
  neither opens nor closes a gate built on it.
* `GetHealthCheckStatus` refuses `CALCULATED` checks (`InvalidInput`).

route53_ext.evaluate() asks this module for endpoint and alarm verdicts; the resolver,
calculated parents and the admin listing all go through evaluate().
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Response

from localaws import outage
from localaws.admin import AdminError
from localaws.awsreq import AwsCall
from localaws.errors import error_response
from localaws.serialize import serialize

# HealthCheckConfig.Regions, "Valid Values"; a check without Regions is checked from all.
ALL_CHECKER_REGIONS = ["us-east-1", "us-west-1", "us-west-2", "eu-west-1",
                       "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"]
CHECKER_IPS = {"us-east-1": "15.177.2.12", "us-west-1": "15.177.10.9",
               "us-west-2": "15.177.18.7", "eu-west-1": "15.177.50.3",
               "ap-southeast-1": "15.177.34.2", "ap-southeast-2": "15.177.42.5",
               "ap-northeast-1": "15.177.26.8", "sa-east-1": "15.177.58.4"}
# "If more than 18% of health checkers report that an endpoint is healthy, Route 53
# considers it healthy."
HEALTHY_SHARE = 0.18
MIN_REGIONS = 3  # HealthCheckRegionList: minimum 3 items
ENDPOINT_TYPES = {"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"}
# AlarmIdentifier.Name: Route 53 supports these statistics, standard-resolution metrics only.
ALARM_STATISTICS = {"Average", "Minimum", "Maximum", "Sum", "SampleCount"}
INSUFFICIENT_DATA_STATUSES = ("Healthy", "Unhealthy", "LastKnownStatus")
DEFAULT_INSUFFICIENT_DATA = "LastKnownStatus"
CALCULATED_REFUSAL = ("Invalid parameter : GetHealthCheckStatus can't get the status of a "
                      "calculated health check ({id}); use the Route 53 console or the "
                      "CloudWatch console.")
BASIC_WITH_ALARM = ("Invalid parameter : Basic health checks must not have an metric "
                    "region specified.")


# -- endpoint checks: one verdict per checker ------------------------------------------
def checker_regions(hc) -> list[str]:
    return list(hc.regions or ALL_CHECKER_REGIONS)


def endpoint_entry(item: dict[str, Any]) -> dict[str, Any]:
    """An admin endpoint state from POST /route53/endpoints (raises AdminError)."""
    fraction = item.get("failingCheckers")
    regions = item.get("failingRegions")
    if fraction is not None and regions is not None:
        raise AdminError("give failingCheckers or failingRegions, not both")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0 <= fraction <= 1:
            raise AdminError("failingCheckers must be a number from 0 to 1")
        fraction = float(fraction)
    if regions is not None:
        if not isinstance(regions, list) or any(r not in ALL_CHECKER_REGIONS for r in regions):
            raise AdminError(f"failingRegions must list checker regions of {ALL_CHECKER_REGIONS}")
    if fraction is None and regions is None:
        if "healthy" not in item:
            raise AdminError("missing field: healthy (or failingCheckers / failingRegions)")
        healthy = bool(item["healthy"])
    else:
        if "healthy" in item:
            raise AdminError("healthy follows from failingCheckers / failingRegions: leave it out")
        state = {"healthy": True, "failingCheckers": fraction, "failingRegions": regions}
        failing = failing_checkers(state, ALL_CHECKER_REGIONS)
        healthy = _share_healthy(len(ALL_CHECKER_REGIONS) - len(failing),
                                 len(ALL_CHECKER_REGIONS))
    return {"healthy": healthy, "reason": item.get("reason"),
            "failingCheckers": fraction, "failingRegions": regions}


def failing_checkers(state: dict[str, Any] | None, regions: list[str]) -> list[str]:
    """The checker regions (of `regions`, in order) that see the endpoint fail."""
    if state is None:
        return []
    if state.get("failingRegions") is not None:
        wanted = set(state["failingRegions"])
        return [r for r in regions if r in wanted]
    if state.get("failingCheckers") is not None:
        n = int(math.floor(state["failingCheckers"] * len(regions) + 0.5))
        return regions[:n]
    return [] if state.get("healthy", True) else list(regions)


def _share_healthy(healthy: int, total: int) -> bool:
    return total > 0 and healthy / total > HEALTHY_SHARE


def _checker_text(hc, ok: bool, state: dict[str, Any] | None) -> str:
    if hc.type_ == "TCP":
        return "Success: TCP connection established" if ok else "Failure: Connection timed out"
    if ok:
        return "Success: HTTP Status Code 200, OK"
    reason = (state or {}).get("reason") or "HTTP Status Code 503, Service Unavailable"
    return f"Failure: {reason}"


def endpoint_observations(hc, state: dict[str, Any] | None) -> list[tuple[str, bool, str]]:
    """(checker region, endpoint healthy as that checker sees it, status text) per checker."""
    regions = checker_regions(hc)
    failing = set(failing_checkers(state, regions))
    return [(r, r not in failing, _checker_text(hc, r not in failing, state)) for r in regions]


def endpoint_verdict(hc, state: dict[str, Any] | None) -> tuple[bool, str]:
    """(healthy before Inverted, detail) for an endpoint check: the 18% rule."""
    obs = endpoint_observations(hc, state)
    ok = sum(1 for _, healthy, _ in obs if healthy)
    healthy = _share_healthy(ok, len(obs))
    if ok == len(obs) or ok == 0:
        return healthy, obs[0][2].split(": ", 1)[1]
    return healthy, (f"{ok} of {len(obs)} health checkers ({100 * ok // len(obs)}%) report "
                     f"the endpoint healthy; Route 53 needs more than 18%")


# -- CLOUDWATCH_METRIC checks ------------------------------------------------------------
def _alarm(account: str, region: str, name: str):
    from moto.cloudwatch.models import cloudwatch_backends

    try:
        return cloudwatch_backends[account][region].alarms.get(name)
    except KeyError:
        return None


def _alarm_problem(account: str, ident: Any) -> str | None:
    """Why `ident` cannot be monitored by Route 53, or None."""
    if not isinstance(ident, dict) or not ident.get("Region") or not ident.get("Name"):
        return ("Invalid parameter : A health check of type CLOUDWATCH_METRIC needs an "
                "AlarmIdentifier with Region and Name.")
    region, name = ident["Region"], ident["Name"]
    alarm = _alarm(account, region, name)
    if alarm is None:
        return f"Invalid parameter : The CloudWatch alarm {name} does not exist in {region}."
    if getattr(alarm, "rule", None) or not alarm.metric_name or alarm.metric_data_queries:
        return (f"Invalid parameter : The CloudWatch alarm {name} must watch a single metric "
                "(no metric math, no composite alarm).")
    if alarm.extended_statistic or alarm.statistic not in ALARM_STATISTICS:
        return (f"Invalid parameter : The CloudWatch alarm {name} uses an unsupported statistic; "
                "Route 53 supports Average, Minimum, Maximum, Sum and SampleCount.")
    if int(alarm.period or 0) < 60:
        return (f"Invalid parameter : The CloudWatch alarm {name} is a high-resolution alarm "
                f"(Period {alarm.period}); Route 53 supports standard-resolution metrics only.")
    return None


def _alarm_configuration(alarm) -> dict[str, Any]:
    dims = [{"Name": d.name, "Value": d.value} for d in (alarm.dimensions or [])]
    return {"EvaluationPeriods": int(alarm.evaluation_periods), "Threshold": float(alarm.threshold),
            "ComparisonOperator": alarm.comparison_operator, "Period": int(alarm.period),
            "MetricName": alarm.metric_name, "Namespace": alarm.namespace,
            "Statistic": alarm.statistic, "Dimensions": dims or None}


def _attach_alarm(account: str, hc, ident: dict[str, Any] | None, status: str | None) -> None:
    from moto.core.utils import utcnow

    if ident is not None:
        hc.alarm_identifier = {"Region": ident["Region"], "Name": ident["Name"]}
        hc.cloud_watch_alarm_configuration = _alarm_configuration(
            _alarm(account, ident["Region"], ident["Name"]))
        hc.alarm_attached_at = utcnow()
    if status is not None:
        hc.insufficient_data_health_status = status
    elif getattr(hc, "insufficient_data_health_status", None) is None:
        hc.insufficient_data_health_status = DEFAULT_INSUFFICIENT_DATA


def _last_known(alarm, since: datetime | None) -> str | None:
    """The alarm's last OK/ALARM state that the health check saw (moto keeps the history of
    states an alarm left: (kind, reason, data, state, entered at))."""
    states = [h for h in alarm.history if h[0] == "StateUpdate"]
    ends = [s[4] for s in states[1:]] + [alarm.state_updated_timestamp]
    for entry, ended in reversed(list(zip(states, ends))):
        if since is not None and ended < since:
            break
        if entry[3] in ("OK", "ALARM"):
            return entry[3]
    return None


def alarm_verdict(account: str, hc) -> tuple[bool, str]:
    """(healthy before Inverted, detail) for a CLOUDWATCH_METRIC check."""
    ident = getattr(hc, "alarm_identifier", None) or {}
    name, region = ident.get("Name"), ident.get("Region")
    setting = getattr(hc, "insufficient_data_health_status", None) or DEFAULT_INSUFFICIENT_DATA
    alarm = _alarm(account, region, name) if name and region else None
    dark = alarm is not None and outage.is_dark(region)
    state = alarm.state_value if alarm is not None and not dark else "INSUFFICIENT_DATA"
    label = f"CloudWatch alarm {name} ({region})"
    if state in ("OK", "ALARM"):
        hc.alarm_last_known = state  # kept for when the alarm is deleted
    if state == "OK":
        return True, f"{label} is in state OK"
    if state == "ALARM":
        return False, f"{label} is in state ALARM"
    missing = "" if alarm is not None else " (the alarm does not exist)"
    if dark:  # no data stream from a dark Region: CloudWatch has no data for Route 53
        missing = f" (Region {region} is unavailable)"
    if setting == "Healthy":
        return True, f"{label} has insufficient data{missing}; InsufficientDataHealthStatus is Healthy"
    if setting == "Unhealthy":
        return False, f"{label} has insufficient data{missing}; InsufficientDataHealthStatus is Unhealthy"
    if dark and alarm.state_value in ("OK", "ALARM"):
        last = alarm.state_value  # the state it had when its Region went dark
    elif alarm is not None:
        last = _last_known(alarm, getattr(hc, "alarm_attached_at", None))
    else:
        last = getattr(hc, "alarm_last_known", None)
    healthy = last != "ALARM"
    known = f"last known state {last}" if last else "no last known status: healthy"
    return healthy, f"{label} has insufficient data{missing}; LastKnownStatus ({known})"


def describe(account: str, hc) -> dict[str, Any]:
    """Extra fields for GET /route53/health-checks."""
    from localaws.route53_ext import endpoint_state

    if hc.type_ == "CLOUDWATCH_METRIC":
        ident = getattr(hc, "alarm_identifier", None) or {}
        alarm = _alarm(account, ident.get("Region"), ident.get("Name")) if ident else None
        return {"alarm": dict(ident, state=alarm.state_value if alarm is not None else None),
                "insufficientDataHealthStatus": getattr(hc, "insufficient_data_health_status", None)}
    if hc.type_ in ENDPOINT_TYPES:
        state = endpoint_state(hc.id) or endpoint_state(hc.fqdn) or endpoint_state(hc.ip_address)
        obs = endpoint_observations(hc, state)
        return {"checkers": len(obs), "healthyCheckers": sum(1 for o in obs if o[1])}
    return {}


# -- API hooks -----------------------------------------------------------------------------
def get_health_check_status(call: AwsCall) -> Response | None:
    from localaws.route53_ext import _backend, endpoint_state

    hc_id = call.params().get("HealthCheckId") or call.uri_params.get("HealthCheckId")
    hc = _backend(call.account).health_checks.get(hc_id)
    if hc is None:
        return None  # moto answers NoSuchHealthCheck
    if hc.type_ == "CALCULATED":
        return error_response(call, "InvalidInput", CALCULATED_REFUSAL.format(id=hc_id), 400)
    if hc.disabled:
        text = "Success: Health checking is disabled; Route 53 considers the health check healthy."
        reports = [(r, text) for r in checker_regions(hc)]
    elif hc.type_ == "CLOUDWATCH_METRIC":
        healthy, detail = alarm_verdict(call.account, hc)
        text = f"{'Success' if healthy else 'Failure'}: {detail}"
        reports = [(r, text) for r in ALL_CHECKER_REGIONS]
    else:
        state = endpoint_state(hc_id) or endpoint_state(hc.fqdn) or endpoint_state(hc.ip_address)
        reports = [(r, text) for r, _, text in endpoint_observations(hc, state)]
    now = datetime.now(timezone.utc)
    observations = [{"Region": r, "IPAddress": CHECKER_IPS.get(r, "15.177.0.1"),
                     "StatusReport": {"Status": text, "CheckedTime": now}}
                    for r, text in reports]
    return serialize("route53", "GetHealthCheckStatus",
                     {"HealthCheckObservations": observations})


def _config_problem(call: AwsCall, cfg: dict[str, Any], hc_type: str | None) -> str | None:
    regions = cfg.get("Regions")
    if regions:
        bad = [r for r in regions if r not in ALL_CHECKER_REGIONS]
        if bad:
            return f"Invalid parameter : Invalid health checker region(s): {', '.join(bad)}."
        if len(regions) < MIN_REGIONS:
            return (f"Invalid parameter : Specify at least {MIN_REGIONS} health checker "
                    f"regions (got {len(regions)}).")
    status = cfg.get("InsufficientDataHealthStatus")
    if status is not None and status not in INSUFFICIENT_DATA_STATUSES:
        return (f"Invalid parameter : InsufficientDataHealthStatus must be one of "
                f"{', '.join(INSUFFICIENT_DATA_STATUSES)}.")
    if hc_type == "CLOUDWATCH_METRIC":
        if "AlarmIdentifier" in cfg or call.operation == "CreateHealthCheck":
            return _alarm_problem(call.account, cfg.get("AlarmIdentifier"))
    elif cfg.get("AlarmIdentifier") is not None and hc_type in ENDPOINT_TYPES:
        return BASIC_WITH_ALARM
    return None


def validate_create(call: AwsCall) -> Response | None:
    cfg = call.params().get("HealthCheckConfig") or {}
    problem = _config_problem(call, cfg, cfg.get("Type"))
    if problem:
        return error_response(call, "InvalidInput", problem, 400)
    return None


def finish_create(call: AwsCall, result) -> Response | None:
    """moto created the check: attach the alarm and answer with it."""
    from localaws.route53_ext import _backend

    cfg = call.params().get("HealthCheckConfig") or {}
    if cfg.get("Type") != "CLOUDWATCH_METRIC" or result.status >= 300:
        return None
    m = re.search(rb"<HealthCheck>\s*<Id>([^<]+)</Id>", result.body)
    hc = _backend(call.account).health_checks.get(m.group(1).decode()) if m else None
    if hc is None:
        return None
    _attach_alarm(call.account, hc, cfg["AlarmIdentifier"], cfg.get("InsufficientDataHealthStatus"))
    resp = serialize("route53", "CreateHealthCheck", {"HealthCheck": hc}, status=result.status)
    for k, v in result.headers:
        if k.lower() == "location":
            resp.headers["Location"] = v
    return resp


def validate_update(call: AwsCall) -> Response | None:
    """Runs before route53_ext.update_health_check: checks the alarm elements and, unless the
    version does not match (route53_ext answers that), applies them."""
    from localaws.route53_ext import _backend

    p = call.params()
    hc = _backend(call.account).health_checks.get(
        p.get("HealthCheckId") or call.uri_params.get("HealthCheckId"))
    if hc is None:
        return None
    problem = _config_problem(call, p, hc.type_)
    if problem:
        return error_response(call, "InvalidInput", problem, 400)
    version = p.get("HealthCheckVersion")
    if version is not None and int(version) != int(hc.health_check_version):
        return None
    if hc.type_ == "CLOUDWATCH_METRIC" and (p.get("AlarmIdentifier") is not None
                                           or p.get("InsufficientDataHealthStatus") is not None):
        _attach_alarm(call.account, hc, p.get("AlarmIdentifier"), p.get("InsufficientDataHealthStatus"))
    return None


def _patch_health_check_config() -> None:
    """moto's HealthCheckConfig has no AlarmIdentifier/InsufficientDataHealthStatus and gives
    every non-calculated check endpoint elements (Port 80, ...): a metric check has none."""
    from moto.route53.models import HealthCheck

    if getattr(HealthCheck, "_localaws_alarm_config", False):
        return
    original = HealthCheck.health_check_config.fget

    def health_check_config(self) -> dict[str, Any]:
        config = original(self)
        if self.type_ == "CLOUDWATCH_METRIC":
            config = {k: config.get(k) for k in ("Type", "Inverted", "Disabled")}
            config["AlarmIdentifier"] = getattr(self, "alarm_identifier", None)
            config["InsufficientDataHealthStatus"] = getattr(
                self, "insufficient_data_health_status", None)
        return config

    HealthCheck.health_check_config = property(health_check_config)
    HealthCheck.cloud_watch_alarm_configuration = None
    HealthCheck._localaws_alarm_config = True


def register(app) -> None:
    _patch_health_check_config()
    app.on("route53", "CreateHealthCheck", validate_create)
    app.after("route53", "CreateHealthCheck", finish_create)
    # before route53_ext's UpdateHealthCheck, which answers every update itself
    app.pre[("route53", "UpdateHealthCheck")].insert(0, validate_update)
