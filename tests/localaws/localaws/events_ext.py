"""EventBridge: record every PutEvents entry and every delivery to a Lambda target (moto
would try to run the function in docker). A delivery whose function has a registered
invoke target (`lambda_invoke.py`) is forwarded to it asynchronously, as EventBridge
invokes Lambda (async invocation, retried on a function error); other Lambda targets are
only recorded. Event-bus targets (cross-region or cross-account forwarding) deliver the
event itself, keeping its `region`, `account`, `id` and `time` as EventBridge does, to the
target bus's rules."""

from __future__ import annotations

import copy
import json
import threading
import time
from datetime import datetime, timezone
from typing import Any

from localaws import lambda_invoke, outage
from localaws.admin import AdminError, body_json
from localaws.awsreq import AwsCall

# Lambda's asynchronous invocation: the first attempt plus 2 retries on a function error
# (MaximumRetryAttempts' default). AWS waits about 1 and 2 minutes between attempts; the
# local world waits `retryDelaySeconds`.
DEFAULT_SETTINGS = {"maxAttempts": 3, "retryDelaySeconds": 0.5}
# Rules forwarding to buses that forward back would loop forever; stop after this many hops.
MAX_BUS_HOPS = 4


class EventsState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.entries: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.forwards: list[dict[str, Any]] = []
        self.settings: dict[str, Any] = dict(DEFAULT_SETTINGS)

    def reset(self) -> None:
        with self.lock:
            self.entries.clear()
            self.deliveries.clear()
            self.forwards.clear()
            self.settings = dict(DEFAULT_SETTINGS)


STATE = EventsState()
_HOPS = threading.local()


def _lambda_event(event: Any) -> Any:
    """The event as EventBridge hands it to Lambda: `time` as an ISO 8601 string, no
    moto-internal fields."""
    if not isinstance(event, dict):
        return event
    out = {k: v for k, v in event.items() if k != "ingestion-time"}
    when = out.get("time")
    if isinstance(when, (int, float)):
        out["time"] = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def _function_of(arn: str) -> tuple[str, str, str]:
    """(account, region, function name) of a Lambda function ARN (any qualifier)."""
    parts = arn.split(":")
    name, _ = lambda_invoke._function_name(arn)
    return parts[4], parts[3], name


def _deliver(record: dict[str, Any], url: str | None, timeout: float) -> None:
    """Invokes the function asynchronously: retried on a function error (or while its Region
    is dark), then given up."""
    payload = json.dumps(record["event"]).encode()
    with STATE.lock:
        attempts = int(STATE.settings["maxAttempts"])
        delay = float(STATE.settings["retryDelaySeconds"])
    for attempt in range(1, attempts + 1):
        if outage.is_dark(record["functionRegion"]):  # Lambda there does not answer
            body, function_error = outage.lambda_unavailable(record["functionRegion"]), "Unhandled"
        elif url is None:  # the Region is back, and nothing runs the function: recorded only
            with STATE.lock:
                record["status"], record["error"] = "recorded", None
            return
        else:
            body, function_error = lambda_invoke.forward(url, payload, timeout)
            lambda_invoke.STATE.count(record["functionAccount"], record["functionRegion"],
                                      record["function"])
        try:
            result = json.loads(body) if body else None
        except ValueError:
            result = body.decode(errors="replace")
        with STATE.lock:
            record["attempts"] = attempt
            record["result"] = result
            if not function_error:
                record["status"], record["error"] = "delivered", None
                record["finishedAt"] = time.time()
                return
            kind = result.get("errorType") if isinstance(result, dict) else None
            message = result.get("errorMessage") if isinstance(result, dict) else result
            record["error"] = f"{kind or function_error}: {message}"
            if attempt == attempts:
                record["status"] = "failed"
                record["finishedAt"] = time.time()
                return
        time.sleep(delay)


def _to_lambda(rule, target: dict[str, Any], event: Any) -> None:
    account, region, function = _function_of(target["Arn"])
    invoke_target = lambda_invoke.STATE.get(account, region, function)
    record = {
        "time": time.time(), "account": rule.account_id, "region": rule.region_name,
        "eventBusName": rule.event_bus_name, "rule": rule.name, "ruleArn": rule.arn,
        "targetId": target.get("Id"), "targetArn": target["Arn"], "event": _lambda_event(event),
        "function": function, "functionAccount": account, "functionRegion": region,
        # no invoke target: recorded only (nothing runs the function); a dark Region fails it
        "status": "pending" if invoke_target or outage.is_dark(region) else "recorded",
        "attempts": 0, "error": None, "result": None, "finishedAt": None}
    with STATE.lock:
        STATE.deliveries.append(record)
    if record["status"] == "pending":
        url, timeout = (invoke_target["url"], invoke_target["timeoutSeconds"]) if invoke_target \
            else (None, 0.0)
        threading.Thread(target=_deliver, daemon=True, args=(record, url, timeout)).start()


def _to_bus(rule, target: dict[str, Any], event: dict[str, Any]) -> None:
    """Puts the event, unchanged, on the target bus (another region or account)."""
    from moto.events.models import events_backends
    from moto.utilities.arns import parse_arn

    arn = parse_arn(target["Arn"])
    bus_name = arn.resource_id
    hops = getattr(_HOPS, "depth", 0)
    forward = {"time": time.time(), "account": rule.account_id, "region": rule.region_name,
               "rule": rule.name, "targetArn": target["Arn"], "eventId": event.get("id"),
               "source": event.get("source"), "detailType": event.get("detail-type"),
               "hop": hops + 1, "status": "forwarded"}
    if hops >= MAX_BUS_HOPS:
        forward["status"] = f"dropped: more than {MAX_BUS_HOPS} bus hops (a forwarding loop)"
    with STATE.lock:
        STATE.forwards.append(forward)
    if hops >= MAX_BUS_HOPS:
        return
    dark = next((r for r in (rule.region_name, arn.region) if outage.is_dark(r)), None)
    if dark:  # EventBridge in a dark Region neither sends nor receives
        with STATE.lock:
            forward["status"] = f"failed: ServiceUnavailable: {outage.unavailable_message(dark)}"
        return
    try:
        bus = events_backends[arn.account][arn.region].describe_event_bus(bus_name)
    except Exception as exc:
        with STATE.lock:
            forward["status"] = f"failed: {exc}"
        return
    _HOPS.depth = hops + 1
    try:
        for other in list(bus.rules.values()):
            other.send_to_targets(copy.deepcopy(event))
    finally:
        _HOPS.depth = hops
_PATCHED = False


def _patch_moto() -> None:
    global _PATCHED
    if _PATCHED:
        return
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets
    swap_lock = threading.Lock()

    def send_to_targets(self, original_event, transform_input: bool = True):
        if getattr(self, "state", "ENABLED") != "ENABLED":
            return None
        if not self.event_pattern.matches_event(original_event):
            return None
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"
                or (parse_arn(t["Arn"]).service == "events"
                    and parse_arn(t["Arn"]).resource_type == "event-bus")]
        if not ours:
            return original(self, original_event, transform_input)
        from moto.events.models import EventTemplateParser

        for target in ours:
            if parse_arn(target["Arn"]).service == "events":
                _to_bus(self, target, original_event)
                continue
            event = copy.deepcopy(original_event)
            if transform_input and target.get("InputTransformer"):
                transformer = target["InputTransformer"]
                event = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event)
            if target.get("Input"):
                try:
                    event = json.loads(target["Input"])
                except ValueError:
                    event = target["Input"]
            _to_lambda(self, target, event)
        others = [t for t in self.targets if t not in ours]
        if not others:
            return None
        with swap_lock:
            saved = self.targets
            self.targets = others
            try:
                return original(self, original_event, transform_input)
            finally:
                self.targets = saved

    Rule.send_to_targets = send_to_targets
    _PATCHED = True


def record_put_events(call: AwsCall, result) -> None:
    if result.status != 200:
        return None
    entries = call.params().get("Entries") or []
    try:
        outcome = result.json().get("Entries", [])
    except ValueError:
        outcome = []
    with STATE.lock:
        for i, e in enumerate(entries):
            detail = e.get("Detail")
            try:
                detail_obj = json.loads(detail) if detail else None
            except ValueError:
                detail_obj = detail
            rec = outcome[i] if i < len(outcome) else {}
            STATE.entries.append({
                "time": time.time(), "account": call.account, "region": call.region,
                "source": e.get("Source"), "detailType": e.get("DetailType"),
                "detail": detail_obj, "eventBusName": e.get("EventBusName") or "default",
                "resources": e.get("Resources") or [], "eventId": rec.get("EventId"),
                "errorCode": rec.get("ErrorCode")})
    return None


def _filter(items: list[dict[str, Any]], args) -> list[dict[str, Any]]:
    keys = {"account": "account", "region": "region", "source": "source",
            "detailType": "detailType", "rule": "rule", "targetArn": "targetArn",
            "eventBusName": "eventBusName"}
    out = items
    for arg, field in keys.items():
        if args.get(arg):
            out = [i for i in out if str(i.get(field)) == args[arg]]
    return out


def admin_events(req) -> dict[str, Any]:
    with STATE.lock:
        return {"events": _filter(list(STATE.entries), req.args)}


def admin_deliveries(req) -> dict[str, Any]:
    with STATE.lock:
        items = [dict(d) for d in _filter(list(STATE.deliveries), req.args)]
    for arg in ("status", "function"):
        if req.args.get(arg):
            items = [d for d in items if d.get(arg) == req.args[arg]]
    return {"deliveries": items}


def admin_forwards(req) -> dict[str, Any]:
    with STATE.lock:
        return {"forwards": _filter([dict(f) for f in STATE.forwards], req.args)}


def admin_get_settings(req) -> dict[str, Any]:
    with STATE.lock:
        return dict(STATE.settings)


def admin_set_settings(req) -> dict[str, Any]:
    data = body_json(req)
    with STATE.lock:
        if "maxAttempts" in data:
            attempts = int(data["maxAttempts"])
            if not 1 <= attempts <= 3:
                raise AdminError("maxAttempts must be 1, 2 or 3 (Lambda retries an asynchronous "
                                 "invocation at most twice)")
            STATE.settings["maxAttempts"] = attempts
        if "retryDelaySeconds" in data:
            delay = float(data["retryDelaySeconds"])
            if not 0 <= delay <= 60:
                raise AdminError("retryDelaySeconds must be between 0 and 60")
            STATE.settings["retryDelaySeconds"] = delay
        return dict(STATE.settings)


def admin_clear(req) -> dict[str, Any]:
    with STATE.lock:
        STATE.entries.clear()
        STATE.deliveries.clear()
        STATE.forwards.clear()
    return {"cleared": True}


def register(app) -> None:
    _patch_moto()
    app.after("events", "PutEvents", record_put_events)
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/events/put-events", admin_events)
    app.admin.route("GET", "/events/lambda-deliveries", admin_deliveries)
    app.admin.route("GET", "/events/lambda-delivery-settings", admin_get_settings)
    app.admin.route("POST", "/events/lambda-delivery-settings", admin_set_settings)
    app.admin.route("GET", "/events/bus-forwards", admin_forwards)
    app.admin.route("DELETE", "/events", admin_clear)
