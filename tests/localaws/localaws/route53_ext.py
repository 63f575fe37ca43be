"""Route 53: endpoint-driven health checks, atomic change batches, PENDING changes, resolve."""

from __future__ import annotations

import random
import string
import threading
import time
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Response

from localaws import route53_health
from localaws.admin import AdminError, body_json, require
from localaws.awsreq import AwsCall
from localaws.errors import error_response
from localaws.serialize import serialize

# checkers of a check without Regions: all of them (route53_health)
CHECKER_REGIONS = route53_health.ALL_CHECKER_REGIONS
CHECKER_IPS = route53_health.CHECKER_IPS


class Route53State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            self.endpoints: dict[str, dict[str, Any]] = {}
            self.change_delay = 0.0
            self.changes: dict[str, dict[str, Any]] = {}


STATE = Route53State()


def _backend(account: str):
    from moto.route53.models import route53_backends

    return route53_backends[account]["aws"]


def _norm(name: str) -> str:
    name = (name or "").strip().lower()
    return name if name.endswith(".") else name + "."


# -- health ------------------------------------------------------------------------
def endpoint_state(key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    return STATE.endpoints.get(key.lower().rstrip("."))


def evaluate(account: str, hc_id: str, depth: int = 0) -> tuple[bool, str]:
    """(healthy, Route 53-style status text) for a health check, as Route 53 decides."""
    backend = _backend(account)
    hc = backend.health_checks.get(hc_id)
    if hc is None:
        return False, "Failure: The health check was deleted."
    by_id = endpoint_state(hc_id)
    if hc.disabled:
        return True, "Success: Health checking is disabled; Route 53 considers the health check healthy."
    if hc.type_ == "CALCULATED":
        children = hc.children or []
        healthy = 0
        if depth < 8:
            healthy = sum(1 for c in children if evaluate(account, c, depth + 1)[0])
        threshold = int(hc.health_threshold or 0)
        raw = healthy >= threshold if threshold <= len(children) else False
        if threshold == 0:
            raw = True
        detail = (f"{healthy} of {len(children)} child health checks are healthy "
                  f"(HealthThreshold {threshold})")
    elif hc.type_ == "CLOUDWATCH_METRIC":
        raw, detail = route53_health.alarm_verdict(account, hc)
    else:
        # one verdict per checker region; healthy when more than 18% of them say so
        state = by_id or endpoint_state(hc.fqdn) or endpoint_state(hc.ip_address)
        raw, detail = route53_health.endpoint_verdict(hc, state)
    result = (not raw) if hc.inverted else raw
    note = " (health check is inverted)" if hc.inverted else ""
    if hc.type_ == "CALCULATED":
        text = f"{'Success' if result else 'Failure'}: Calculated health check: {detail}{note}."
    else:
        text = f"{'Success' if result else 'Failure'}: {detail}{note}"
    return result, text


def get_health_check_status(call: AwsCall) -> Response | None:
    # one observation per checker; CALCULATED refused with InvalidInput (route53_health)
    return route53_health.get_health_check_status(call)


# moto's UpdateHealthCheck wipes ChildHealthChecks/Regions when they are not in the
# request; AWS keeps every element that is not sent (ResetElements clears some).
_UPDATE_FIELDS = {
    "IPAddress": "ip_address", "Port": "port", "ResourcePath": "resource_path",
    "FullyQualifiedDomainName": "fqdn", "SearchString": "search_string",
    "FailureThreshold": "failure_threshold", "HealthThreshold": "health_threshold",
    "Inverted": "inverted", "Disabled": "disabled", "EnableSNI": "enable_sni",
}


def update_health_check(call: AwsCall) -> Response | None:
    p = call.params()
    hc_id = p.get("HealthCheckId") or call.uri_params.get("HealthCheckId")
    hc = _backend(call.account).health_checks.get(hc_id)
    if hc is None:
        return None  # moto answers NoSuchHealthCheck
    version = p.get("HealthCheckVersion")
    if version is not None and int(version) != int(hc.health_check_version):
        return error_response(call, "HealthCheckVersionMismatch",
                              "The value of HealthCheckVersion in the request doesn't match the value of HealthCheckVersion in the health check.",
                              409)
    with STATE.lock:
        for field, attr in _UPDATE_FIELDS.items():
            if p.get(field) is not None:
                setattr(hc, attr, p[field])
        if p.get("ChildHealthChecks") is not None:
            hc.set_children(p["ChildHealthChecks"])
        if p.get("Regions") is not None:
            hc.set_regions(p["Regions"])
        for element in p.get("ResetElements") or []:
            if element == "ChildHealthChecks":
                hc.children = None
            elif element == "Regions":
                hc.regions = None
            elif element == "ResourcePath":
                hc.resource_path = None
            elif element == "FullyQualifiedDomainName":
                hc.fqdn = None
        hc.health_check_version += 1
    return serialize("route53", "UpdateHealthCheck", {"HealthCheck": hc})


# -- change batches -------------------------------------------------------------------
def _label(rr: dict[str, Any]) -> str:
    s = f"[name='{_norm(rr.get('Name', ''))}', type='{rr.get('Type')}'"
    if rr.get("SetIdentifier"):
        s += f", set-identifier='{rr['SetIdentifier']}'"
    return s + "]"


def _key(rr: dict[str, Any]) -> tuple[str, str, str | None]:
    return (_norm(rr.get("Name", "")), rr.get("Type", ""), rr.get("SetIdentifier"))


def _values(rr: dict[str, Any]) -> list[str]:
    out = []
    for r in rr.get("ResourceRecords") or []:
        out.append(r["Value"] if isinstance(r, dict) else r)
    return sorted(out)


def _alias_cmp(a: dict[str, Any] | None) -> tuple | None:
    if not a:
        return None
    return (str(a.get("HostedZoneId", "")).replace("/hostedzone/", ""),
            _norm(a.get("DNSName", "")), bool(a.get("EvaluateTargetHealth", False)))


def _same(existing: dict[str, Any], requested: dict[str, Any]) -> bool:
    def ttl(v):
        return None if v is None else int(v)

    return (
        ttl(existing.get("TTL")) == ttl(requested.get("TTL"))
        and _values(existing) == _values(requested)
        and _alias_cmp(existing.get("AliasTarget")) == _alias_cmp(requested.get("AliasTarget"))
        and existing.get("Weight") == requested.get("Weight")
        and existing.get("Region") == requested.get("Region")
        and existing.get("Failover") == requested.get("Failover")
        and existing.get("HealthCheckId") == requested.get("HealthCheckId")
        and existing.get("MultiValueAnswer") == requested.get("MultiValueAnswer")
        and (existing.get("GeoLocation") or None) == (requested.get("GeoLocation") or None)
    )


def _as_dict(rs) -> dict[str, Any]:
    d = {
        "Name": rs.name, "Type": rs.type, "TTL": rs.ttl,
        "ResourceRecords": [{"Value": v} for v in (rs.records or [])],
        "SetIdentifier": rs.set_identifier, "Weight": rs.weight, "Region": rs.region,
        "HealthCheckId": rs.health_check_id, "AliasTarget": rs.alias_target,
        "Failover": rs.failover, "GeoLocation": rs.geo_location,
        "MultiValueAnswer": rs.multi_value_answer,
    }
    return {k: v for k, v in d.items() if v is not None}


def _to_moto_kwargs(rr: dict[str, Any]) -> dict[str, Any]:
    kw = dict(rr)
    name = kw.get("Name", "")
    kw["Name"] = name if name.endswith(".") else name + "."
    if "ResourceRecords" in kw:
        kw["ResourceRecords"] = [r["Value"] if isinstance(r, dict) else r
                                 for r in kw["ResourceRecords"]]
    return kw


def _change_id() -> str:
    return "C" + "".join(random.choices(string.ascii_uppercase + string.digits, k=13))


def _change_info(change_id: str) -> dict[str, Any]:
    rec = STATE.changes[change_id]
    status = "INSYNC" if time.time() >= rec["insync_at"] else "PENDING"
    info = {"Id": f"/change/{change_id}", "Status": status,
            "SubmittedAt": datetime.fromtimestamp(rec["submitted"], timezone.utc)}
    if rec.get("comment"):
        info["Comment"] = rec["comment"]
    return info


def invalid_change_batch(call: AwsCall, messages: list[str]) -> Response:
    # Route 53's current wire form: a standard ErrorResponse whose Message lists
    # every problem in brackets, comma separated.
    return error_response(call, "InvalidChangeBatch", "[" + ", ".join(messages) + "]", 400)


def change_resource_record_sets(call: AwsCall) -> Response | None:
    from moto.route53.models import RecordSet

    params = call.params()
    zone_id = params.get("HostedZoneId") or call.uri_params.get("Id") or ""
    batch = params.get("ChangeBatch") or {}
    changes = batch.get("Changes") or []
    backend = _backend(call.account)
    try:
        zone = backend.get_hosted_zone(zone_id)
    except Exception:
        return None  # moto answers NoSuchHostedZone
    if not changes:
        return None  # moto validates the empty batch
    zone_name = _norm(zone.name)
    with STATE.lock:
        current: dict[tuple, dict[str, Any]] = {}
        order: list[tuple] = []
        objects: dict[tuple, Any] = {}
        for rs in zone.rrsets:
            k = _key(_as_dict(rs))
            current[k] = _as_dict(rs)
            objects[k] = rs
            order.append(k)
        errors: list[str] = []
        for change in changes:
            action = change.get("Action")
            rr = change.get("ResourceRecordSet") or {}
            name = _norm(rr.get("Name", ""))
            if not (name == zone_name or name.endswith("." + zone_name)):
                errors.append(f"RRSet with DNS name {name} is not permitted in zone {zone_name}")
                continue
            k = _key(rr)
            if action == "CREATE":
                if k in current:
                    errors.append(f"Tried to create resource record set {_label(rr)} but it already exists")
                    continue
                current[k] = rr
                objects[k] = None
                order.append(k)
            elif action == "DELETE":
                if k not in current:
                    errors.append(f"Tried to delete resource record set {_label(rr)} but it was not found")
                    continue
                if not _same(current[k], rr):
                    errors.append(f"Tried to delete resource record set {_label(rr)} but the values provided do not match the current values")
                    continue
                del current[k]
                order.remove(k)
            elif action == "UPSERT":
                if k not in current:
                    order.append(k)
                current[k] = rr
                objects[k] = None
            else:
                return error_response(call, "InvalidInput",
                                      f"Invalid XML ; Invalid Action value: {action}", 400)
        if errors:
            return invalid_change_batch(call, errors)
        new_rrsets = []
        for k in order:
            obj = objects.get(k)
            new_rrsets.append(obj if obj is not None else RecordSet(_to_moto_kwargs(current[k])))
        zone.rrsets = new_rrsets  # one assignment: the batch is applied atomically
        cid = _change_id()
        now = time.time()
        STATE.changes[cid] = {"submitted": now, "insync_at": now + STATE.change_delay,
                              "comment": batch.get("Comment")}
        info = _change_info(cid)
    return serialize("route53", "ChangeResourceRecordSets", {"ChangeInfo": info})


def get_change(call: AwsCall) -> Response | None:
    cid = (call.params().get("Id") or call.uri_params.get("Id") or "").split("/")[-1]
    with STATE.lock:
        if cid not in STATE.changes:
            return None  # moto: INSYNC
        return serialize("route53", "GetChange", {"ChangeInfo": _change_info(cid)})


# -- resolve ------------------------------------------------------------------------------
def _find_zone(zone_ref: str):
    from moto.route53.models import route53_backends

    ref = zone_ref.replace("/hostedzone/", "")
    for account, parts in list(route53_backends.items()):
        backend = parts["aws"]
        if ref in backend.zones:
            return account, backend.zones[ref]
    for account, parts in list(route53_backends.items()):
        for zone in parts["aws"].zones.values():
            if _norm(zone.name) == _norm(ref):
                return account, zone
    return None, None


def _zone_for_name(account: str, name: str):
    best = None
    for zone in _backend(account).zones.values():
        zn = _norm(zone.name)
        if (name == zn or name.endswith("." + zn)) and (best is None or len(zn) > len(_norm(best.name))):
            best = zone
    return best


def _distance(caller: str, region: str | None) -> tuple[int, str]:
    if not region:
        return (3, "")
    if region == caller:
        return (0, region)
    if region.split("-")[0] == caller.split("-")[0]:
        return (1, region)
    return (2, region)


def _record_health(account: str, rr: dict[str, Any], depth: int) -> bool:
    healthy = True
    if rr.get("HealthCheckId"):
        healthy = evaluate(account, rr["HealthCheckId"])[0]
    alias = rr.get("AliasTarget")
    if healthy and alias and alias.get("EvaluateTargetHealth"):
        target = _norm(alias.get("DNSName", ""))
        zone = _zone_for_name(account, target)
        if zone is not None and depth < 8:
            res = _resolve(account, zone, target, rr.get("Type"), None, depth + 1)
            healthy = res["anyHealthy"]
        else:
            st = endpoint_state(target)
            healthy = True if st is None else bool(st["healthy"])
    return healthy


def _resolve(account: str, zone, name: str, rtype: str, caller: str | None,
             depth: int = 0) -> dict[str, Any]:
    name = _norm(name)
    records = [_as_dict(rs) for rs in zone.rrsets
               if _norm(rs.name) == name and rs.type == rtype]
    rows = []
    for rr in records:
        rows.append({
            "setIdentifier": rr.get("SetIdentifier"), "region": rr.get("Region"),
            "failover": rr.get("Failover"), "weight": rr.get("Weight"),
            "values": [v["Value"] for v in rr.get("ResourceRecords", [])],
            "aliasTarget": rr.get("AliasTarget"), "healthCheckId": rr.get("HealthCheckId"),
            "healthy": _record_health(account, rr, depth),
        })
    any_healthy = any(r["healthy"] for r in rows)
    routing = "simple"
    if any(r["region"] for r in rows):
        routing = "latency"
    elif any(r["failover"] for r in rows):
        routing = "failover"
    elif any(r["weight"] is not None for r in rows):
        routing = "weighted"
    candidates = [r for r in rows if r["healthy"]] or list(rows)
    if routing == "latency" and caller:
        candidates.sort(key=lambda r: _distance(caller, r["region"]))
    elif routing == "failover":
        candidates.sort(key=lambda r: 0 if r["failover"] == "PRIMARY" else 1)
    return {
        "zoneId": zone.resource_id, "name": name, "type": rtype, "callerRegion": caller,
        "routing": routing, "answer": candidates[0] if candidates else None,
        "candidates": candidates, "records": rows, "anyHealthy": any_healthy,
        "allUnhealthyFallback": bool(rows) and not any_healthy,
    }


def admin_resolve(req) -> dict[str, Any] | tuple[int, dict[str, Any]]:
    args = dict(req.args)
    if req.method == "POST":
        args.update(body_json(req))
    zone_ref, name = require(args, "zone", "name")
    rtype = args.get("type", "A")
    caller = args.get("region") or args.get("callerRegion") or "us-east-1"
    account, zone = _find_zone(zone_ref)
    if zone is None:
        raise AdminError(f"no hosted zone {zone_ref}", 404)
    with STATE.lock:
        out = _resolve(account, zone, name, rtype, caller)
    out["account"] = account
    return out


# -- admin ---------------------------------------------------------------------------------
def admin_list_endpoints(req) -> dict[str, Any]:
    with STATE.lock:
        return {"endpoints": [dict(endpoint=k, **v) for k, v in STATE.endpoints.items()],
                "default": "healthy"}


def admin_set_endpoint(req) -> dict[str, Any]:
    data = body_json(req)
    items = data.get("endpoints") if isinstance(data.get("endpoints"), list) else [data]
    with STATE.lock:
        for item in items:
            (endpoint,) = require(item, "endpoint")
            # healthy, or failingCheckers (fraction) / failingRegions: checkers disagree
            STATE.endpoints[str(endpoint).lower().rstrip(".")] = route53_health.endpoint_entry(item)
    return admin_list_endpoints(req)


def admin_clear_endpoints(req) -> dict[str, Any]:
    with STATE.lock:
        STATE.endpoints.clear()
    return admin_list_endpoints(req)


def admin_change_delay(req) -> dict[str, Any]:
    if req.method == "POST":
        data = body_json(req)
        if "seconds" not in data:
            raise AdminError("missing field: seconds")
        STATE.change_delay = max(0.0, float(data["seconds"]))
    return {"seconds": STATE.change_delay}


def admin_health_checks(req) -> dict[str, Any]:
    from moto.route53.models import route53_backends

    out = []
    for account, parts in list(route53_backends.items()):
        for hc_id, hc in parts["aws"].health_checks.items():
            healthy, text = evaluate(account, hc_id)
            out.append({"account": account, "id": hc_id, "type": hc.type_,
                        "fqdn": hc.fqdn, "ipAddress": hc.ip_address,
                        "healthy": healthy, "status": text,
                        **route53_health.describe(account, hc)})
    return {"healthChecks": out}


def register(app) -> None:
    app.on("route53", "GetHealthCheckStatus", get_health_check_status)
    app.on("route53", "ChangeResourceRecordSets", change_resource_record_sets)
    app.on("route53", "GetChange", get_change)
    app.on("route53", "UpdateHealthCheck", update_health_check)
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/route53/endpoints", admin_list_endpoints)
    app.admin.route("POST", "/route53/endpoints", admin_set_endpoint)
    app.admin.route("DELETE", "/route53/endpoints", admin_clear_endpoints)
    app.admin.route("GET", "/route53/health-checks", admin_health_checks)
    app.admin.route("GET", "/route53/resolve", admin_resolve)
    app.admin.route("POST", "/route53/resolve", admin_resolve)
    app.admin.route("GET", "/route53/change-delay", admin_change_delay)
    app.admin.route("POST", "/route53/change-delay", admin_change_delay)
