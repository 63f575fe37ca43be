"""Fault injection and the call log (AWS request-rate quotas: quotas.py)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("throttle", "error5xx", "latency", "drop")


@dataclass
class Fault:
    service: str
    kind: str
    operation: str | None = None
    count: int | None = None
    probability: float | None = None
    latency_ms: int = 0
    status: int = 500
    code: str | None = None
    message: str | None = None
    account: str | None = None
    region: str | None = None
    # Matching calls to let through before the fault applies (fault "the Nth call").
    skip: int = 0
    # drop: let the call take effect, then close the socket (the answer is lost);
    # latency: let the call take effect, then hold the answer for latencyMs or until the
    # fault is cleared (a caller killed meanwhile dies just after the call's effect).
    after: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    matched: int = 0
    injected: int = 0
    # The call-log sequence numbers of the calls this fault was injected on: which
    # calls it hit, not only how many.
    injected_seqs: list[int] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "service": self.service, "operation": self.operation,
            "kind": self.kind, "count": self.count, "probability": self.probability,
            "latencyMs": self.latency_ms, "status": self.status, "code": self.code,
            "message": self.message, "account": self.account, "region": self.region,
            "skip": self.skip, "after": self.after,
            "matched": self.matched, "injected": self.injected,
            "injectedSeqs": list(self.injected_seqs),
            "exhausted": self.count is not None and self.count <= 0,
        }


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random()
        self.injected_by_kind: Counter = Counter()

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        if not spec.get("service"):
            raise ValueError("service is required")
        count = spec.get("count")
        prob = spec.get("probability")
        if count is None and prob is None:
            raise ValueError("one of count or probability is required")
        if prob is not None and not 0.0 <= float(prob) <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        status = int(spec.get("status", 500))
        if kind == "error5xx" and status not in (500, 502, 503, 504):
            raise ValueError("status for error5xx must be 500, 502, 503 or 504")
        fault = Fault(
            service=spec["service"], kind=kind, operation=spec.get("operation"),
            count=int(count) if count is not None else None,
            probability=float(prob) if prob is not None else None,
            latency_ms=int(spec.get("latencyMs", spec.get("latency_ms", 0))),
            status=status, code=spec.get("code"), message=spec.get("message"),
            account=spec.get("account"), region=spec.get("region"),
            skip=int(spec.get("skip", 0)), after=bool(spec.get("after", False)),
        )
        if fault.skip < 0:
            raise ValueError("skip must be >= 0")
        if fault.after and kind not in ("drop", "latency"):
            raise ValueError("after is only for drop and latency faults")
        if kind == "latency" and fault.latency_ms <= 0:
            raise ValueError("latencyMs > 0 is required for latency faults")
        if "seed" in spec:
            self._rng.seed(spec["seed"])
        with self._lock:
            self._faults.append(fault)
        return fault

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def clear(self, fault_id: str | None = None) -> list[dict[str, Any]]:
        """Removes the fault (or all of them) and returns what was removed, with its
        counters, so a test reads what a fault did and clears it in one step."""
        with self._lock:
            if fault_id:
                removed = [f for f in self._faults if f.id == fault_id]
                self._faults = [f for f in self._faults if f.id != fault_id]
            else:
                removed = self._faults
                self._faults = []
                self.injected_by_kind.clear()
        for f in removed:
            f.released.set()  # answers held by a latency fault go out now
        return [f.to_dict() for f in removed]

    def pick(self, service: str | None, operation: str | None, account: str,
             region: str, seq: int | None = None) -> list[Fault]:
        """Faults to apply to this call (latency ones first, then at most one terminal)."""
        chosen: list[Fault] = []
        terminal = None
        with self._lock:
            for f in self._faults:
                if f.service not in (service, "*"):
                    continue
                if f.operation and f.operation != operation:
                    continue
                if f.account and f.account != account:
                    continue
                if f.region and f.region != region:
                    continue
                if f.kind != "latency" and terminal is not None:
                    continue
                if f.count is not None and f.count <= 0:
                    continue
                f.matched += 1
                if f.skip > 0:
                    f.skip -= 1
                    continue
                if f.probability is not None and self._rng.random() >= f.probability:
                    continue
                if f.count is not None:
                    f.count -= 1
                f.injected += 1
                if seq is not None:
                    f.injected_seqs.append(seq)
                self.injected_by_kind[f.kind] += 1
                if f.kind == "latency":
                    chosen.insert(0, f)
                else:
                    terminal = f
                    chosen.append(f)
        return chosen

    def reset(self) -> None:
        self.clear()


class CallLog:
    MAX_ENTRIES = 50_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._counters: Counter = Counter()
        self._seq = 0

    def record(self, account: str, region: str, service: str | None,
               operation: str | None, method: str, path: str) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            entry = {
                "seq": self._seq, "time": time.time(), "account": account,
                "region": region, "service": service or "unknown",
                "operation": operation or "unknown", "method": method, "path": path,
                "status": None, "outcome": None,
            }
            self._entries.append(entry)
            if len(self._entries) > self.MAX_ENTRIES:
                del self._entries[: len(self._entries) - self.MAX_ENTRIES]
            self._counters[(entry["account"], entry["region"], entry["service"],
                            entry["operation"])] += 1
            return entry

    def query(self, filters: dict[str, str], since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for e in self._entries:
                if e["seq"] <= since:
                    continue
                if any(str(e.get(k)) != v for k, v in filters.items()):
                    continue
                out.append(dict(e))
            return out

    def counters(self, filters: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            items = []
            total = 0
            for (acct, region, svc, op), n in sorted(self._counters.items()):
                rec = {"account": acct, "region": region, "service": svc, "operation": op}
                if any(str(rec.get(k)) != v for k, v in filters.items()):
                    continue
                rec["count"] = n
                total += n
                items.append(rec)
            return {"total": total, "counters": items, "lastSeq": self._seq}

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counters.clear()
