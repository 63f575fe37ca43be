"""SNS: record every Publish / PublishBatch entry."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from localaws.awsreq import AwsCall


class SnsState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.messages: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()


STATE = SnsState()


def _attrs(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    return {a.get("Name"): a.get("Value") for a in raw if isinstance(a, dict)}


def _message_ids(body: bytes) -> list[str]:
    return re.findall(r"<MessageId>([^<]+)</MessageId>", body.decode("utf-8", "replace"))


def record_publish(call: AwsCall, result) -> None:
    if result.status != 200:
        return None
    p = call.params()
    ids = _message_ids(result.body)
    with STATE.lock:
        STATE.messages.append({
            "time": time.time(), "account": call.account, "region": call.region,
            "topicArn": p.get("TopicArn"), "targetArn": p.get("TargetArn"),
            "phoneNumber": p.get("PhoneNumber"), "subject": p.get("Subject"),
            "message": p.get("Message"), "messageStructure": p.get("MessageStructure"),
            "attributes": _attrs(p.get("MessageAttributes")),
            "messageGroupId": p.get("MessageGroupId"), "messageId": ids[0] if ids else None})
    return None


def record_publish_batch(call: AwsCall, result) -> None:
    if result.status != 200:
        return None
    p = call.params()
    with STATE.lock:
        for e in p.get("PublishBatchRequestEntries") or []:
            STATE.messages.append({
                "time": time.time(), "account": call.account, "region": call.region,
                "topicArn": p.get("TopicArn"), "subject": e.get("Subject"),
                "message": e.get("Message"), "messageStructure": e.get("MessageStructure"),
                "attributes": _attrs(e.get("MessageAttributes")),
                "messageGroupId": e.get("MessageGroupId"), "batchEntryId": e.get("Id")})
    return None


def admin_messages(req) -> dict[str, Any]:
    with STATE.lock:
        items = list(STATE.messages)
    for key in ("account", "region", "topicArn", "subject"):
        if req.args.get(key):
            items = [m for m in items if m.get(key) == req.args[key]]
    return {"messages": items}


def admin_clear(req) -> dict[str, Any]:
    STATE.reset()
    return {"messages": []}


def register(app) -> None:
    app.after("sns", "Publish", record_publish)
    app.after("sns", "PublishBatch", record_publish_batch)
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/sns/messages", admin_messages)
    app.admin.route("DELETE", "/sns/messages", admin_clear)
