"""One process-wide time scale for every AWS-documented duration the world simulates.

`scaled(seconds)` is what a simulated duration lasts here: AWS's own figure times the
scale. The scale is 1.0 (real AWS timing) unless the environment sets
`LOCALAWS_TIME_SCALE` at start (e.g. `0.02`: a minute lasts 1.2 s) or the admin API
changes it (`POST /_localaws/time-scale {"scale": 0.02}`); `/reset` goes back to the
environment's value. A duration is scaled when it starts (a provisioned-concurrency
config put at scale 1.0 keeps its real delay when the scale changes afterwards).

Users: provisioned-concurrency allocation (`lambda_pc.py`), EventBridge Scheduler's
60-second invocation precision, retry back-off and rate() periods (`scheduler_ext.py`).
Other additions simulating an AWS-documented duration use `scaled()` too.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

from localaws.admin import AdminError, body_json

ENV = "LOCALAWS_TIME_SCALE"
# Faster than 1/1000 of AWS's timing turns minutes into milliseconds: below the
# resolution of the world's timers; slower than AWS is allowed (soak runs) up to 100x.
MIN_SCALE, MAX_SCALE = 0.001, 100.0

_lock = threading.Lock()


def _valid(value: Any, what: str) -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(scale) or not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"{what} must be between {MIN_SCALE} and {MAX_SCALE}, got {value!r}")
    return scale


def env_scale() -> float:
    """The scale `LOCALAWS_TIME_SCALE` asks for (1.0 when unset)."""
    raw = os.environ.get(ENV, "").strip()
    return _valid(raw, ENV) if raw else 1.0


_scale = env_scale()


def scale() -> float:
    with _lock:
        return _scale


def set_scale(value: Any) -> float:
    global _scale
    new = _valid(value, "scale")
    with _lock:
        _scale = new
    return new


def scaled(seconds: float) -> float:
    """How long `seconds` of AWS time lasts in this world."""
    return float(seconds) * scale()


def reset() -> None:
    """Back to the environment's scale (the admin setting does not survive /reset)."""
    global _scale
    with _lock:
        _scale = env_scale()


def _status() -> dict[str, Any]:
    return {"scale": scale(), "envScale": env_scale(), "env": ENV}


def admin_get(req) -> dict[str, Any]:
    return _status()


def admin_set(req) -> dict[str, Any]:
    data = body_json(req)
    if "scale" not in data:
        raise AdminError("missing field(s): scale")
    try:
        set_scale(data["scale"])
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    return _status()


def register(app) -> None:
    env_scale()  # a malformed LOCALAWS_TIME_SCALE stops the world at start, loudly
    app.on_reset(reset)
    app.admin.route("GET", "/time-scale", admin_get)
    app.admin.route("POST", "/time-scale", admin_set)
