"""What the three Python peers share: the configuration (one JSON document from
CONTROL_PLANE_CONFIG, as the Rust functions read it), SDK clients built once at
init with the same timeouts and retries as the Rust functions, and the decision
record each invocation returns and logs as one JSON line."""

import json
import os
import time
from datetime import datetime, timezone

import boto3
from botocore.config import Config as BotoConfig

HOME = os.environ["AWS_REGION"]
CONFIG = json.loads(os.environ["CONTROL_PLANE_CONFIG"])

# shared::aws::sdk_config: connect 2 s, attempt 5 s, standard retries, 3 attempts.
BOTO = BotoConfig(
    connect_timeout=2,
    read_timeout=5,
    retries={"max_attempts": 3, "mode": "standard"},
)
SESSION = boto3.session.Session()


def client(service, region=HOME):
    return SESSION.client(service, region_name=region, config=BOTO)


class NonRetryable(Exception):
    """A malformed or unknown event (the Rust functions' NonRetryable error)."""


def record(function, action, trigger, outcome, reason, started, **extra):
    rec = {
        "function": function,
        "region": HOME,
        "action": action,
        "trigger": trigger,
        "outcome": outcome,
        "reason": reason,
        "changes": [],
        "state": extra.pop("state", {}),
        "errors": [],
        "started_at": started.isoformat(),
        "duration_ms": int((datetime.now(timezone.utc) - started).total_seconds() * 1000),
    }
    rec.update(extra)
    print(json.dumps({"message": "decision", "time": time.time(), **rec}), flush=True)
    return rec


def now():
    return datetime.now(timezone.utc)
