"""EventBridge: record every PutEvents entry, and record (instead of invoking) deliveries
to Lambda targets, which moto would try to run in docker."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from localaws.awsreq import AwsCall


class EventsState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.entries: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            self.entries.clear()
            self.deliveries.clear()


STATE = EventsState()
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
        if not self.event_pattern.matches_event(original_event):
            return None
        lambda_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if not lambda_targets:
            return original(self, original_event, transform_input)
        from moto.events.models import EventTemplateParser

        for target in lambda_targets:
            event = original_event
            if transform_input:
                transformer = target.get("InputTransformer", {})
                event = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event)
            if target.get("Input"):
                try:
                    event = json.loads(target["Input"])
                except ValueError:
                    event = target["Input"]
            with STATE.lock:
                STATE.deliveries.append({
                    "time": time.time(), "account": self.account_id, "region": self.region_name,
                    "eventBusName": self.event_bus_name, "rule": self.name, "ruleArn": self.arn,
                    "targetId": target.get("Id"), "targetArn": target["Arn"], "event": event})
        others = [t for t in self.targets if t not in lambda_targets]
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
        return {"deliveries": _filter(list(STATE.deliveries), req.args)}


def admin_clear(req) -> dict[str, Any]:
    STATE.reset()
    return {"cleared": True}


def register(app) -> None:
    _patch_moto()
    app.after("events", "PutEvents", record_put_events)
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/events/put-events", admin_events)
    app.admin.route("GET", "/events/lambda-deliveries", admin_deliveries)
    app.admin.route("DELETE", "/events", admin_clear)
