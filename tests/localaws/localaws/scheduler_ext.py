"""EventBridge Scheduler runs its schedules (moto 5.2.5 only stores them).

A daemon timer (every `TICK_SECONDS`) reads moto's schedules in every account and region:

* one-time `at(yyyy-mm-ddThh:mm:ss)` schedules, read in their `ScheduleExpressionTimezone`
  (default UTC), fire once, State ENABLED only, within the minute after their time as
  AWS's 60-second precision allows (a fixed offset per schedule: crc32 of its ARN and
  expression, 0..59 s, or within `MaximumWindowInMinutes` of a FLEXIBLE window), scaled
  by the world's time scale; StartDate/EndDate do not apply (AWS ignores them for one-time
  schedules); with `ActionAfterCompletion: DELETE` the schedule is deleted once its
  invocation completed (accepted, or given up after the retry policy);
* `rate(n unit)` schedules fire at StartDate (or creation) and then every `scaled(period)`
  until EndDate;
* `cron()` schedules fire only on demand (`POST /_localaws/scheduler/fire`), as does any
  schedule a test wants to fire now (same delivery path).

A firing invokes its target as AWS does: a Lambda function ARN is invoked asynchronously
(`Invoke`, InvocationType Event) with the target's `Input` (the context attributes
`<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>`,
`<aws.scheduler.execution-id>`, `<aws.scheduler.attempt-number>` substituted per attempt),
or `{}` when there is no Input. The Invoke call meets the world's injected faults for
`lambda`/`Invoke` and fails for a function that does not exist; a failed Invoke is retried
per the target's `RetryPolicy` (exponential back-off, capped locally, within
`MaximumEventAgeInSeconds`). Once Lambda accepted the event, the function runs as an
asynchronous invocation: if it has an invoke target (`lambda_invoke.py`) the payload is
POSTed there with Lambda's own retries on a function error (`events_ext._deliver`, the
path EventBridge rules use); otherwise the firing is only recorded. Other target types are
recorded, not run. Every firing is in `GET /_localaws/scheduler/firings`.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import traceback
import zlib
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from localaws import events_ext, lambda_invoke, outage, timescale
from localaws.admin import AdminError, body_json, require

TICK_SECONDS = 0.2
# "All schedule types on EventBridge Scheduler invoke their targets with 60 second precision"
PRECISION_SECONDS = 60
# AWS retries up to 185 times within 24 h; locally at most this many retries are made
# (the policy's smaller value wins), back-off 1, 2, 4 … capped at BACKOFF_CAP_SECONDS,
# all scaled by the time scale.
LOCAL_MAX_RETRIES = 20
BACKOFF_CAP_SECONDS = 60.0
AWS_DEFAULT_RETRY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400,
              "days": 86400}


class SchedulerState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.generation += 1  # delivery threads of the old world stop
            self.firings: list[dict[str, Any]] = []
            # schedule ARN -> signature of the version that fired (one-time schedules)
            self.fired: dict[str, tuple] = {}
            # schedule ARN -> (signature, next firing epoch) for rate() schedules
            self.rate_next: dict[str, tuple[tuple, float]] = {}
            self.seq = 0


STATE = SchedulerState()
_APP = None
_TIMER: threading.Thread | None = None


# -- expressions ---------------------------------------------------------------------------
def _signature(s) -> tuple:
    return (s.schedule_expression, s.schedule_expression_timezone, s.creation_date,
            s.last_modified_date, json.dumps(s.flexible_time_window, sort_keys=True, default=str))


def _epoch(value: Any) -> float | None:
    """StartDate/EndDate as moto keeps them (epoch seconds from the SDKs, or ISO text)."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def at_time(expression: str, tz: str | None) -> float | None:
    """Epoch seconds of `at(yyyy-mm-ddThh:mm:ss)` read in `tz` (None if not an at())."""
    m = re.fullmatch(r"\s*at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)\s*", expression or "")
    if not m:
        return None
    local = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    return local.replace(tzinfo=ZoneInfo(tz or "UTC")).timestamp()


def rate_seconds(expression: str) -> float | None:
    m = re.fullmatch(r"\s*rate\((\d+)\s+(\w+)\)\s*", expression or "")
    if not m or m.group(2) not in RATE_UNITS:
        return None
    return int(m.group(1)) * RATE_UNITS[m.group(2)]


def precision_offset(arn: str, signature: tuple, window: dict[str, Any] | None) -> float:
    """Seconds after the scheduled time the invocation happens (before scaling): AWS's
    60-second precision, or the flexible time window."""
    span = PRECISION_SECONDS
    if (window or {}).get("Mode") == "FLEXIBLE":
        span = max(span, int((window or {}).get("MaximumWindowInMinutes") or 1) * 60)
    return float(zlib.crc32(f"{arn}|{signature!r}".encode()) % span)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the timer -----------------------------------------------------------------------------
def _schedules() -> list[tuple[str, str, Any]]:
    from moto.scheduler.models import scheduler_backends

    out = []
    for account, regions in list(scheduler_backends.items()):
        for region, backend in list(regions.items()):
            for group in list(backend.schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    out.append((account, region, schedule))
    return out


def tick(now: float | None = None) -> None:
    """Fires every schedule that is due (the timer calls this; tests may too)."""
    now = time.time() if now is None else now
    due: list[tuple[str, str, Any, str, float]] = []
    for account, region, s in _schedules():
        if s.state != "ENABLED" or outage.is_dark(region):
            continue  # a dark Region's Scheduler fires nothing until it is back
        sig = _signature(s)
        try:
            when = at_time(s.schedule_expression, s.schedule_expression_timezone)
            period = None if when is not None else rate_seconds(s.schedule_expression)
        except (ValueError, KeyError, OSError):
            continue  # an expression this world cannot read never fires
        with STATE.lock:
            if when is not None:
                if STATE.fired.get(s.arn) == sig:
                    continue
                offset = timescale.scaled(precision_offset(s.arn, sig, s.flexible_time_window))
                if now >= when + offset:
                    STATE.fired[s.arn] = sig
                    due.append((account, region, s, "timer", when))
            elif period is not None:
                start = _epoch(s.start_date) or float(s.creation_date)
                end = _epoch(s.end_date)
                known = STATE.rate_next.get(s.arn)
                nxt = known[1] if known and known[0] == sig else start
                if now >= nxt and (end is None or now < end):
                    STATE.rate_next[s.arn] = (sig, now + timescale.scaled(period))
                    due.append((account, region, s, "rate", nxt))
                elif not known or known[0] != sig:
                    STATE.rate_next[s.arn] = (sig, nxt)
    for account, region, s, trigger, scheduled in due:
        fire(account, region, s, trigger, scheduled)


def _timer() -> None:
    while True:
        time.sleep(TICK_SECONDS)
        try:
            tick()
        except Exception:  # moto reset under our feet, or a bug: keep the timer alive
            traceback.print_exc()


# -- delivery ------------------------------------------------------------------------------
def _payload(template: str | None, arn: str, scheduled: float, execution_id: str,
             attempt: int) -> Any:
    if template is None or template == "":
        return {}  # "EventBridge Scheduler delivers a default notification to the target"
    text = (template.replace("<aws.scheduler.schedule-arn>", arn)
            .replace("<aws.scheduler.scheduled-time>", _iso(scheduled))
            .replace("<aws.scheduler.execution-id>", execution_id)
            .replace("<aws.scheduler.attempt-number>", str(attempt)))
    try:
        return json.loads(text)
    except ValueError:
        return text


def _invoke_accepted(fn_account: str, fn_region: str, name: str) -> tuple[str | None, str | None]:
    """Scheduler's `Invoke` (Event) of the function: (how it runs, error)."""
    if outage.is_dark(fn_region):
        return None, f"ServiceUnavailable: {outage.unavailable_message(fn_region)}"
    if _APP is not None:
        for fault in _APP.faults.pick("lambda", "Invoke", fn_account, fn_region):
            if fault.kind == "latency":
                time.sleep(fault.latency_ms / 1000.0)
            elif fault.kind == "throttle":
                return None, "TooManyRequestsException: Rate exceeded"
            elif fault.kind == "drop":
                return None, "Lambda closed the connection without an answer"
            else:
                return None, (f"{fault.code or 'ServiceException'}: "
                              f"{fault.message or 'Lambda answered ' + str(fault.status)}")
    if lambda_invoke.STATE.get(fn_account, fn_region, name) is not None:
        return "run", None
    try:
        from moto.awslambda.models import lambda_backends

        if name in lambda_backends[fn_account][fn_region]._lambdas._functions:
            return "recorded", None
    except Exception:
        pass
    return None, (f"ResourceNotFoundException: Function not found: "
                  f"arn:aws:lambda:{fn_region}:{fn_account}:function:{name}")


def _current(generation: int) -> bool:
    with STATE.lock:
        return STATE.generation == generation


def _update(record: dict[str, Any], **fields: Any) -> None:
    with STATE.lock:
        record.update(fields)


def _delete_after_completion(account: str, region: str, s) -> bool:
    from moto.scheduler.models import scheduler_backends

    try:
        group = scheduler_backends[account][region].get_schedule_group(s.group_name)
        if group.schedules.get(s.name) is s:  # not replaced by a newer schedule meanwhile
            group.schedules.pop(s.name, None)
            return True
    except Exception:
        pass
    return False


def _deliver(record: dict[str, Any], account: str, region: str, s, generation: int) -> None:
    target = dict(s.target or {})
    arn = str(target.get("Arn") or "")
    parts = arn.split(":")
    one_time = record["expression"].strip().startswith("at(")
    delete = one_time and (s.action_after_completion or "NONE") == "DELETE"
    policy = {**AWS_DEFAULT_RETRY, **(target.get("RetryPolicy") or {})}
    retries = min(int(policy["MaximumRetryAttempts"]), LOCAL_MAX_RETRIES)
    give_up_at = record["firedAt"] + timescale.scaled(float(policy["MaximumEventAgeInSeconds"]))
    runs = None
    if len(parts) > 6 and parts[2] == "lambda" and parts[5] == "function":
        fn_account, fn_region = parts[4], parts[3]
        name, _ = lambda_invoke._function_name(arn)
        attempt = 0
        while True:
            if not _current(generation):
                return
            attempt += 1
            execution_id = secrets.token_hex(8)
            payload = _payload(target.get("Input"), s.arn, record["scheduledEpoch"],
                               execution_id, attempt)
            _update(record, attempts=attempt, executionId=execution_id, input=payload)
            runs, error = _invoke_accepted(fn_account, fn_region, name)
            if error is None:
                break
            pause = timescale.scaled(min(2.0 ** (attempt - 1), BACKOFF_CAP_SECONDS))
            if attempt > retries or time.time() + pause > give_up_at:
                _update(record, status="undelivered", error=error, finishedAt=time.time(),
                        retriesAllowed=retries)
                break
            _update(record, error=error)
            time.sleep(pause)
    else:
        # SQS, SNS, event buses, universal targets …: recorded, nothing runs here.
        _update(record, attempts=1, executionId=secrets.token_hex(8),
                input=_payload(target.get("Input"), s.arn, record["scheduledEpoch"], "", 1))
    if not _current(generation):
        return
    if delete:
        _update(record, deleted=_delete_after_completion(account, region, s))
    if record.get("status") == "undelivered":
        return
    if runs != "run":
        _update(record, status="recorded", error=None, finishedAt=time.time())
        return
    invoke_target = lambda_invoke.STATE.get(fn_account, fn_region, name)
    if invoke_target is None:  # unregistered meanwhile
        _update(record, status="recorded", error=None, finishedAt=time.time())
        return
    _update(record, status="invoked", error=None)
    run = {"event": record["input"], "functionAccount": fn_account, "functionRegion": fn_region,
           "function": name, "status": "pending", "attempts": 0, "error": None,
           "result": None, "finishedAt": None}
    events_ext._deliver(run, invoke_target["url"], invoke_target["timeoutSeconds"])
    if _current(generation):
        _update(record, status=run["status"], functionAttempts=run["attempts"],
                error=run["error"], result=run["result"], finishedAt=run["finishedAt"])


def fire(account: str, region: str, s, trigger: str, scheduled: float) -> dict[str, Any]:
    """Starts one firing of schedule `s` in the background; returns its record."""
    target = s.target or {}
    with STATE.lock:
        STATE.seq += 1
        record = {
            "id": STATE.seq, "name": s.name, "group": s.group_name, "account": account,
            "region": region, "scheduleArn": s.arn, "expression": s.schedule_expression,
            "timezone": s.schedule_expression_timezone, "targetArn": target.get("Arn"),
            "trigger": trigger, "scheduledTime": _iso(scheduled), "scheduledEpoch": scheduled,
            "firedAt": time.time(), "status": "pending", "attempts": 0, "executionId": None,
            "input": None, "error": None, "functionAttempts": 0, "result": None,
            "finishedAt": None, "deleted": False,
            "actionAfterCompletion": s.action_after_completion or "NONE"}
        STATE.firings.append(record)
        generation = STATE.generation
    threading.Thread(target=_deliver, args=(record, account, region, s, generation),
                     daemon=True, name=f"scheduler-fire-{record['id']}").start()
    return record


# -- admin ---------------------------------------------------------------------------------
def admin_firings(req) -> dict[str, Any]:
    with STATE.lock:
        items = [dict(f) for f in STATE.firings]
    for key in ("account", "region", "name", "group", "status", "targetArn", "trigger"):
        if req.args.get(key):
            items = [f for f in items if str(f.get(key)) == req.args[key]]
    return {"firings": items}


def admin_clear(req) -> dict[str, Any]:
    with STATE.lock:
        n = len(STATE.firings)
        STATE.firings.clear()
    return {"cleared": n}


def admin_fire(req) -> tuple[int, dict[str, Any]]:
    from moto.scheduler.exceptions import ScheduleGroupNotFound, ScheduleNotFound
    from moto.scheduler.models import scheduler_backends

    data = body_json(req)
    account, region, name = (str(v) for v in require(data, "account", "region", "name"))
    group = data.get("group") or "default"
    try:
        s = scheduler_backends[account][region].get_schedule(group, name)
    except (ScheduleNotFound, ScheduleGroupNotFound, KeyError):
        raise AdminError(f"no schedule {group}/{name} in {account} {region}", 404) from None
    if s.state != "ENABLED":
        raise AdminError(f"schedule {group}/{name} is {s.state}: EventBridge Scheduler does "
                         "not invoke a disabled schedule's target", 409)
    now = time.time()
    scheduled = now
    try:
        when = at_time(s.schedule_expression, s.schedule_expression_timezone)
    except (ValueError, KeyError, OSError):
        when = None
    if when is not None:  # fired now instead of at its time: it does not fire again
        scheduled = when
        with STATE.lock:
            STATE.fired[s.arn] = _signature(s)
    record = fire(account, region, s, "admin", float(int(scheduled)))
    with STATE.lock:
        return 202, dict(record)


def register(app) -> None:
    global _APP, _TIMER
    _APP = app
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/scheduler/firings", admin_firings)
    app.admin.route("DELETE", "/scheduler/firings", admin_clear)
    app.admin.route("POST", "/scheduler/fire", admin_fire)
    if _TIMER is None:  # one timer per process, however many apps are built
        _TIMER = threading.Thread(target=_timer, daemon=True, name="localaws-scheduler")
        _TIMER.start()
