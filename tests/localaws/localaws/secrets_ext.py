"""Secrets Manager: replica status held InProgress / Failed by the admin API."""

from __future__ import annotations

import json
import threading
from typing import Any

from localaws.admin import AdminError, body_json, require
from localaws.awsreq import AwsCall

VALID = ("InSync", "InProgress", "Failed")
DEFAULT_MESSAGES = {"InSync": "Replication succeeded", "InProgress": "Replication in progress",
                    "Failed": "Replication failed"}


class SecretsState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.status: dict[tuple[str, str], dict[str, str]] = {}

    def reset(self) -> None:
        with self.lock:
            self.status.clear()


STATE = SecretsState()


def _override(entry: dict[str, Any], secret_keys: list[str]) -> None:
    region = entry.get("Region")
    for key in secret_keys:
        st = STATE.status.get((key, region))
        if st:
            entry["Status"] = st["status"]
            entry["StatusMessage"] = st["message"]
            return


def _keys(secret: dict[str, Any]) -> list[str]:
    keys = []
    for k in ("ARN", "Name"):
        if secret.get(k):
            keys.append(secret[k])
            if k == "ARN":
                keys.append(secret[k].rsplit("-", 1)[0])  # ARN without the random suffix
    return keys


def _rewrite(call: AwsCall, result, list_key: str | None) -> Any:
    if result.status != 200 or not STATE.status:
        return None
    body = result.json()
    with STATE.lock:
        secrets = body.get(list_key, []) if list_key else [body]
        for secret in secrets:
            for entry in secret.get("ReplicationStatus") or []:
                _override(entry, _keys(secret))
    result.set_body(json.dumps(body).encode())
    return result


def admin_set(req) -> dict[str, Any]:
    data = body_json(req)
    secret, region, status = require(data, "secretId", "region", "status")
    if status not in VALID:
        raise AdminError(f"status must be one of {VALID}")
    with STATE.lock:
        if status == "InSync" and not data.get("message"):
            STATE.status.pop((secret, region), None)
        else:
            STATE.status[(secret, region)] = {
                "status": status, "message": data.get("message") or DEFAULT_MESSAGES[status]}
    return admin_get(req)


def admin_get(req) -> dict[str, Any]:
    with STATE.lock:
        return {"replicaStatus": [dict(secretId=s, region=r, **v)
                                  for (s, r), v in STATE.status.items()]}


def register(app) -> None:
    app.after("secretsmanager", "DescribeSecret", lambda c, r: _rewrite(c, r, None))
    app.after("secretsmanager", "ListSecrets", lambda c, r: _rewrite(c, r, "SecretList"))
    app.after("secretsmanager", "ReplicateSecretToRegions",
              lambda c, r: _rewrite(c, r, None))
    app.on_reset(STATE.reset)
    app.admin.route("POST", "/secretsmanager/replica-status", admin_set)
    app.admin.route("GET", "/secretsmanager/replica-status", admin_get)
