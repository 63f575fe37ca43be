"""CloudWatch metric alarms evaluated as AWS documents it (single metric and metric math).

* Periods end on minute boundaries: the newest is the current minute's (datapoints count
  the moment they are written); an alarm looks back over its *evaluation range*,
  EvaluationPeriods + 2 periods (the user guide's example retrieves 5 datapoints for 3).
* "M out of N" and TreatMissingData follow "Configuring how CloudWatch alarms treat
  missing data": with at least N real datapoints in the range the N most recent decide and
  the setting is not used; with fewer, `breaching`/`notBreaching` fill the rest, `missing`
  and `ignore` decide on the real ones where they can (INSUFFICIENT_DATA / keep the state
  where they cannot). Every row of both tables on that page is reproduced
  (tests/localaws/tests/test_strict_alarms.py). Metrics of AWS/DynamoDB always ignore.
* Metric math ("Metric math syntax and functions"): MetricStat queries per period, then the
  expression with ReturnData: arithmetic (+ - * / ^, unary -; a missing value is 0, a
  division by zero drops the datapoint), comparisons and AND/OR, MIN/MAX/SUM/AVG (of an
  array: one value per timestamp; AVG counts a missing value as 0; of one series: a
  scalar), ABS, CEIL, FLOOR, IF, FILL (scalar or REPEAT), METRICS(), PERIOD(). Anything
  else is refused by name (`Unsupported`), and the alarm keeps its state.
* PutMetricAlarm: a new alarm starts INSUFFICIENT_DATA ("Unchecked: Initial alarm
  creation"), an updated one keeps its state (moto resets both to OK); `Metrics` with one of
  the single-metric parameters, or without exactly one ReturnData, is a ValidationError.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

EXTRA_PERIODS = 2  # evaluation range = EvaluationPeriods + this
STATISTICS = ("Minimum", "Maximum", "Sum", "Average", "SampleCount")
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
VERBS = {"GreaterThanOrEqualToThreshold": "greater than or equal to",
         "GreaterThanThreshold": "greater than",
         "LessThanThreshold": "less than",
         "LessThanOrEqualToThreshold": "less than or equal to"}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
ALWAYS_IGNORE_NAMESPACES = ("AWS/DynamoDB",)


def clock() -> float:
    """Epoch seconds now; the tests move time by replacing this."""
    return time.time()


class Unsupported(Exception):
    """The alarm uses something localaws does not evaluate (it keeps its state)."""


# -- datapoints ------------------------------------------------------------------------
def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None:  # moto keeps naive UTC
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.timestamp()


def _dims_key(dims) -> frozenset:
    out = []
    for d in dims or []:
        if isinstance(d, dict):
            out.append((d.get("Name"), d.get("Value")))
        else:
            out.append((d.name, d.value))
    return frozenset(out)


class MetricIndex:
    """Every datapoint of one account+region keyed by (namespace, name, dimensions): built
    once per evaluation run. A metric is its namespace, name and full set of dimensions."""

    def __init__(self, backend) -> None:
        self.by_metric: dict[tuple, list[tuple[float, Any]]] = {}
        # the class's method: cloudwatch_ext narrows the instance's one to a namespace
        # for a moment while it answers GetMetricData
        for md in type(backend).get_all_metrics(backend):
            key = (md.namespace, md.name, _dims_key(md.dimensions))
            self.by_metric.setdefault(key, []).append((_epoch(md.timestamp), md))

    def points(self, namespace: str, name: str, dims) -> list[tuple[float, Any]]:
        return self.by_metric.get((namespace, name, _dims_key(dims)), [])


def _stat(stat: str, data: list[Any]) -> float | None:
    singles = [float(m.value) for m in data if hasattr(m, "value")]
    aggs = [m for m in data if not hasattr(m, "value")]
    count = len(singles) + sum(float(a.sample_count) for a in aggs)
    if count == 0:
        return None
    if stat == "Minimum":
        return min(singles + [float(a.min) for a in aggs])
    if stat == "Maximum":
        return max(singles + [float(a.max) for a in aggs])
    total = sum(singles) + sum(float(a.sum) for a in aggs)
    if stat == "Sum":
        return total
    if stat == "Average":
        return total / count
    if stat == "SampleCount":
        return count
    raise Unsupported(f"statistic {stat!r} (localaws evaluates {', '.join(STATISTICS)})")


@dataclass
class Window:
    """The evaluation range: `count` periods of `period` seconds, the newest ending `end`."""

    end: float
    period: int
    count: int

    def start(self, k: int) -> float:
        return self.end - (k + 1) * self.period

    def slot(self, ts: float) -> int | None:
        if ts >= self.end:
            return None
        k = math.ceil((self.end - ts) / self.period) - 1
        return k if k < self.count else None


def series(index: MetricIndex, window: Window, namespace: str, name: str, dims,
           stat: str, unit: str | None = None) -> dict[int, float]:
    """{period index (0 = newest): statistic} over the window; missing periods absent."""
    if stat not in STATISTICS:
        _stat(stat, [])  # raises Unsupported for percentiles and the like
    buckets: dict[int, list[Any]] = {}
    for ts, md in index.points(namespace, name, dims):
        if unit and getattr(md, "unit", None) != unit:
            continue
        k = window.slot(ts)
        if k is not None:
            buckets.setdefault(k, []).append(md)
    out = {}
    for k, data in buckets.items():
        v = _stat(stat, data)
        if v is not None:
            out[k] = v
    return out


# -- metric math ---------------------------------------------------------------------
TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/^()\[\],<>])
)""", re.VERBOSE)
FUNCTIONS = ("MIN", "MAX", "SUM", "AVG", "ABS", "CEIL", "FLOOR", "IF", "FILL", "METRICS",
             "PERIOD")


def tokenize(expr: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    expr = expr.rstrip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise Unsupported(f"cannot read the expression at {expr[pos:pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


class Parser:
    """Expression text -> nested tuples: ("num", v) ("str", s) ("id", x) ("call", F, args)
    ("array", items) ("neg", e) ("bin", op, a, b)."""

    def __init__(self, expr: str):
        self.tokens = tokenize(expr)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise Unsupported(f"expected {value or 'more'} in the expression")
        self.i += 1
        return tok

    def parse(self):
        node = self.logical()
        if self.peek() is not None:
            raise Unsupported(f"unexpected {self.peek()[1]!r} in the expression")
        return node

    def logical(self):
        node = self.comparison()
        while self.peek() and self.peek()[1] in ("AND", "OR", "&&", "||"):
            text = self.take()[1]
            op = {"&&": "AND", "||": "OR"}.get(text, text)
            node = ("bin", op, node, self.comparison())
        return node

    def comparison(self):
        node = self.additive()
        if self.peek() and self.peek()[1] in ("==", "!=", "<=", ">=", "<", ">"):
            op = self.take()[1]
            node = ("bin", op, node, self.additive())
        return node

    def additive(self):
        node = self.multiplicative()
        while self.peek() and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            node = ("bin", op, node, self.multiplicative())
        return node

    def multiplicative(self):
        node = self.unary()
        while self.peek() and self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            node = ("bin", op, node, self.unary())
        return node

    def unary(self):
        if self.peek() and self.peek()[1] == "-":
            self.take()
            return ("neg", self.unary())
        return self.power()

    def power(self):
        node = self.primary()
        if self.peek() and self.peek()[1] == "^":
            self.take()
            node = ("bin", "^", node, self.unary())
        return node

    def primary(self):
        kind, value = self.take()
        if kind == "num":
            return ("num", float(value))
        if kind == "str":
            return ("str", value[1:-1])
        if value == "(":
            node = self.logical()
            self.take(")")
            return node
        if value == "[":
            items = [self.logical()]
            while self.peek() and self.peek()[1] == ",":
                self.take()
                items.append(self.logical())
            self.take("]")
            return ("array", items)
        if kind == "name":
            if self.peek() and self.peek()[1] == "(":
                self.take("(")
                args = []
                if self.peek() and self.peek()[1] != ")":
                    args.append(self.logical())
                    while self.peek() and self.peek()[1] == ",":
                        self.take()
                        args.append(self.logical())
                self.take(")")
                if value not in FUNCTIONS:
                    raise Unsupported(f"metric math function {value} (localaws evaluates "
                                      f"{', '.join(FUNCTIONS)})")
                return ("call", value, args)
            if value in ("REPEAT", "LINEAR"):
                return ("word", value)
            if not value[0].islower():
                raise Unsupported(f"{value} in the expression (ids start with a lowercase letter)")
            return ("id", value)
        raise Unsupported(f"unexpected {value!r} in the expression")


TS = dict  # {period index: value}


def _is_ts(v) -> bool:
    return isinstance(v, dict)


class MathContext:
    def __init__(self, queries: dict[str, Any], index: MetricIndex, window: Window):
        self.queries = queries
        self.index = index
        self.window = window
        self.cache: dict[str, Any] = {}
        self.active: set[str] = set()

    def value_of(self, qid: str):
        if qid in self.cache:
            return self.cache[qid]
        q = self.queries.get(qid)
        if q is None:
            raise Unsupported(f"the expression names {qid}, which is not an id of the alarm's Metrics")
        if qid in self.active:
            raise Unsupported(f"the expressions refer to each other in a cycle ({qid})")
        self.active.add(qid)
        try:
            if q.metric_stat is not None:
                ms = q.metric_stat
                v = series(self.index, self.window, ms.metric.namespace, ms.metric.metric_name,
                           ms.metric.dimensions, ms.stat, ms.unit)
            else:
                v = self.eval(Parser(q.expression or "").parse())
        finally:
            self.active.discard(qid)
        self.cache[qid] = v
        return v

    # -- evaluation ------------------------------------------------------------------
    def eval(self, node):
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "str":
            return node[1]
        if kind == "word":
            return node[1]
        if kind == "id":
            return self.value_of(node[1])
        if kind == "array":
            items = []
            for item in node[1]:
                v = self.eval(item)
                if isinstance(v, list):
                    items.extend(v)
                elif _is_ts(v):
                    items.append(v)
                else:
                    raise Unsupported("an array in metric math holds time series only")
            return items
        if kind == "neg":
            return self.unop(lambda x: -x, self.eval(node[1]))
        if kind == "bin":
            return self.binop(node[1], self.eval(node[2]), self.eval(node[3]))
        if kind == "call":
            return self.call(node[1], node[2])
        raise Unsupported(f"cannot evaluate {node!r}")

    def unop(self, fn, v):
        if isinstance(v, list):
            return [self.unop(fn, x) for x in v]
        if _is_ts(v):
            return {k: fn(x) for k, x in v.items()}
        return None if v is None else fn(v)

    @staticmethod
    def _apply(op: str, a: float, b: float) -> float | None:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return None if b == 0 else a / b  # division by zero drops the datapoint
        if op == "^":
            try:
                return float(a ** b)
            except (OverflowError, ZeroDivisionError, ValueError):
                return None
        if op == "AND":
            return 1.0 if (a != 0 and b != 0) else 0.0
        if op == "OR":
            return 1.0 if (a != 0 or b != 0) else 0.0
        cmp = {"==": a == b, "!=": a != b, "<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b}
        return 1.0 if cmp[op] else 0.0

    def binop(self, op: str, a, b):
        if isinstance(a, str) or isinstance(b, str):
            raise Unsupported("a string is only an argument of METRICS()")
        if isinstance(a, list) and isinstance(b, list):
            raise Unsupported("an operator between two arrays of time series")
        if isinstance(a, list):
            return [self.binop(op, x, b) for x in a]
        if isinstance(b, list):
            return [self.binop(op, a, x) for x in b]
        if _is_ts(a) and _is_ts(b):
            out = {}
            for k in set(a) | set(b):  # a value missing on one side counts 0
                v = self._apply(op, a.get(k, 0.0), b.get(k, 0.0))
                if v is not None:
                    out[k] = v
            return out
        if _is_ts(a) or _is_ts(b):
            ts, scalar, left = (a, b, True) if _is_ts(a) else (b, a, False)
            if scalar is None:
                return {}
            out = {}
            for k, x in ts.items():
                v = self._apply(op, x, scalar) if left else self._apply(op, scalar, x)
                if v is not None:
                    out[k] = v
            return out
        if a is None or b is None:
            return None
        return self._apply(op, a, b)

    def call(self, fn: str, args: list):
        if fn == "METRICS":
            want = self.eval(args[0]) if args else ""
            if not isinstance(want, str):
                raise Unsupported("METRICS() takes a string")
            return [self.value_of(qid) for qid, q in self.queries.items()
                    if q.metric_stat is not None and want in qid]
        if fn == "PERIOD":
            return float(self.window.period)
        values = [self.eval(a) for a in args]
        if fn in ("MIN", "MAX", "SUM", "AVG"):
            if len(values) != 1:
                raise Unsupported(f"{fn} takes one argument")
            return self.aggregate(fn, values[0])
        if fn in ("ABS", "CEIL", "FLOOR"):
            f = {"ABS": abs, "CEIL": lambda x: float(math.ceil(x)),
                 "FLOOR": lambda x: float(math.floor(x))}[fn]
            return self.unop(f, values[0])
        if fn == "IF":
            return self.if_(values)
        if fn == "FILL":
            return self.fill(values)
        raise Unsupported(f"metric math function {fn}")

    def aggregate(self, fn: str, v):
        pick = {"MIN": min, "MAX": max, "SUM": sum}
        if isinstance(v, list):  # one time series: a value per timestamp
            keys = set().union(*[set(s) for s in v]) if v else set()
            out = {}
            for k in keys:
                present = [s[k] for s in v if k in s]
                if fn == "AVG":
                    out[k] = sum(present) / len(v)  # a missing value counts 0
                else:
                    out[k] = float(pick[fn](present))
            return out
        if _is_ts(v):  # a scalar over the series
            if not v:
                return None
            vals = list(v.values())
            return sum(vals) / len(vals) if fn == "AVG" else float(pick[fn](vals))
        return v

    def if_(self, values: list):
        if len(values) not in (2, 3):
            raise Unsupported("IF takes 2 or 3 arguments")
        cond, yes = values[0], values[1]
        no = values[2] if len(values) == 3 else None
        if any(isinstance(v, list) for v in values):
            raise Unsupported("IF over an array of time series")

        def at(v, k, missing):
            if _is_ts(v):
                return v.get(k, missing)
            return v

        if not _is_ts(cond):
            chosen = yes if (cond or 0) != 0 else no
            return chosen if _is_ts(chosen) else {}
        out = {}
        for k, c in cond.items():
            if c != 0:
                out[k] = at(yes, k, 0.0)  # TRUE and no datapoint in the value series: 0
            else:
                v = at(no, k, None)
                if v is not None:
                    out[k] = v
        return out

    def fill(self, values: list):
        if len(values) != 2:
            raise Unsupported("FILL takes 2 arguments")
        target, how = values
        if isinstance(target, list):
            return [self.fill([t, how]) for t in target]
        if not _is_ts(target):
            raise Unsupported("FILL fills a time series")
        if how == "LINEAR":
            raise Unsupported("FILL(..., LINEAR)")
        out = dict(target)
        last = None
        for k in range(self.window.count - 1, -1, -1):  # oldest to newest
            if k in target:
                last = target[k]
                continue
            if how == "REPEAT":
                if last is not None:
                    out[k] = last
            elif _is_ts(how):
                if k in how:
                    out[k] = how[k]
            elif how is not None:
                out[k] = float(how)
        return out


# -- the alarm's time series -----------------------------------------------------------
def _truthy(v) -> bool:
    return v is True or str(v).lower() == "true"


def alarm_period(alarm) -> int:
    if alarm.metric_data_queries:
        periods = {int(q.metric_stat.period) for q in alarm.metric_data_queries
                   if q.metric_stat is not None and q.metric_stat.period}
        periods |= {int(q.period) for q in alarm.metric_data_queries if q.period}
        if len(periods) > 1:
            raise Unsupported(f"metrics with different periods {sorted(periods)} "
                              "(each metric of a math alarm uses the same period)")
        return periods.pop() if periods else 60
    return int(alarm.period or 60)


def namespaces(alarm) -> set[str]:
    if alarm.metric_data_queries:
        return {q.metric_stat.metric.namespace for q in alarm.metric_data_queries
                if q.metric_stat is not None}
    return {alarm.namespace}


def alarm_series(alarm, index: MetricIndex, window: Window) -> dict[int, float]:
    if getattr(alarm, "rule", None):
        raise Unsupported("composite alarms")
    if alarm.metric_data_queries:
        if getattr(alarm, "threshold_metric_id", None):
            raise Unsupported("anomaly detection alarms (ThresholdMetricId)")
        queries = {q.id: q for q in alarm.metric_data_queries}
        returning = [q for q in alarm.metric_data_queries if _truthy(q.return_data)]
        if len(returning) != 1:
            raise Unsupported("exactly one element of the metrics list should return data")
        ctx = MathContext(queries, index, window)
        v = ctx.value_of(returning[0].id)
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
        if not _is_ts(v):
            raise Unsupported(f"the expression of {returning[0].id} must produce a single "
                              "time series")
        return v
    if not alarm.metric_name or not alarm.namespace:
        raise Unsupported("an alarm without a metric")
    if alarm.extended_statistic:
        raise Unsupported(f"percentile statistics ({alarm.extended_statistic})")
    return series(index, window, alarm.namespace, alarm.metric_name, alarm.dimensions,
                  alarm.statistic or "Average", alarm.unit)


# -- the state ------------------------------------------------------------------------
def _iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def _short(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def _num(v: float) -> str:
    return repr(float(v))


def decide(points: dict[int, float], n: int, m: int, breaching: Callable[[float], bool],
           treat: str) -> tuple[str | None, list[int], int]:
    """(state or None to keep it, the real datapoints evaluated (period indices), filled)."""
    real = sorted(points)  # newest first
    if len(real) >= n:
        used = real[:n]
        bad = sum(1 for k in used if breaching(points[k]))
        return ("ALARM" if bad >= m else "OK"), used, 0
    fill = n - len(real)
    bad_real = sum(1 for k in real if breaching(points[k]))
    if treat in ("breaching", "notBreaching"):
        bad = bad_real + (fill if treat == "breaching" else 0)
        return ("ALARM" if bad >= m else "OK"), real, fill
    if bad_real >= m:
        return "ALARM", real, 0
    if bad_real < len(real):  # a real datapoint within the threshold
        return "OK", real, 0
    if treat == "ignore":
        return None, real, 0
    if real and real[0] >= n:  # only breaching datapoints, all older than the last N
        return "ALARM", real, 0
    return "INSUFFICIENT_DATA", real, 0


def evaluate(alarm, index: MetricIndex, now: float) -> tuple[str, str, dict[str, Any]] | None:
    """(new state, reason, reason data) or None when the alarm keeps its state.
    Raises Unsupported for what localaws does not evaluate."""
    if alarm.comparison_operator not in COMPARATORS:
        raise Unsupported(f"ComparisonOperator {alarm.comparison_operator} (anomaly bands)")
    period = alarm_period(alarm)
    n = int(alarm.evaluation_periods or 1)
    m = int(alarm.datapoints_to_alarm or n)
    window = Window(end=math.floor(now / 60) * 60 + 60, period=period, count=n + EXTRA_PERIODS)
    points = alarm_series(alarm, index, window)
    threshold = float(alarm.threshold)
    op = alarm.comparison_operator
    cmp = COMPARATORS[op]
    treat = alarm.treat_missing_data or "missing"
    if treat not in TREATMENTS:
        raise Unsupported(f"TreatMissingData {treat}")
    if namespaces(alarm) & set(ALWAYS_IGNORE_NAMESPACES):
        treat = "ignore"
    state, used, filled = decide(points, n, m, lambda v: cmp(v, threshold), treat)
    if state is None:
        return None
    listed = ", ".join(f"{_num(points[k])} ({_short(window.start(k))})" for k in used)
    bad = sum(1 for k in used if cmp(points[k], threshold))
    verb = VERBS[op]
    if state == "INSUFFICIENT_DATA":
        reason = (f"Insufficient Data: {n} datapoint{'s were' if n != 1 else ' was'} unknown."
                  if not used else
                  f"Insufficient Data: {len(used)} datapoint{'s' if len(used) != 1 else ''} "
                  f"[{listed}] {'were' if len(used) != 1 else 'was'} {verb} the threshold "
                  f"({_num(threshold)}) and {n - len(used)} {'were' if n - len(used) != 1 else 'was'} unknown.")
    else:
        kind = "Breaching" if treat == "breaching" else "NonBreaching"
        if filled and not used:
            reason = (f"Threshold Crossed: no datapoints were received for {filled} "
                      f"period{'s' if filled != 1 else ''} and {filled} missing "
                      f"datapoint{'s were' if filled != 1 else ' was'} treated as [{kind}].")
        else:
            count = bad if state == "ALARM" else len(used) - bad
            neg = "" if state == "ALARM" else "not "
            was = "was" if count == 1 else "were"
            total = len(used) + filled
            reason = (f"Threshold Crossed: {count} out of the last {total} datapoints [{listed}] "
                      f"{was} {neg}{verb} the threshold ({_num(threshold)})")
            if filled:
                reason += (f" and {filled} missing datapoint{'s were' if filled != 1 else ' was'}"
                           f" treated as [{kind}]")
            reason += (f" (minimum {m} datapoint{'s' if m != 1 else ''} for OK -> ALARM transition)."
                       if state == "ALARM" else
                       " (minimum 1 datapoint for ALARM -> OK transition).")
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now),
                            "startDate": _iso(window.start((used[-1] if used else n - 1)))}
    if not alarm.metric_data_queries:
        data["statistic"] = alarm.statistic
    data.update({"period": period,
                 "recentDatapoints": [points[k] for k in reversed(used)],
                 "threshold": threshold,
                 "evaluatedDatapoints": [{"timestamp": _iso(window.start(k)), "value": points[k]}
                                         for k in used]})
    return state, reason, data


# -- event configuration ----------------------------------------------------------------
def configuration(alarm) -> dict[str, Any]:
    """`detail.configuration` of a "CloudWatch Alarm State Change" event."""
    def stat(ms) -> dict[str, Any]:
        out = {"metric": {"namespace": ms.metric.namespace, "name": ms.metric.metric_name,
                          "dimensions": {d.name: d.value for d in ms.metric.dimensions or []}},
               "period": int(ms.period or 60), "stat": ms.stat}
        if ms.unit:
            out["unit"] = ms.unit
        return out

    if alarm.metric_data_queries:
        metrics = []
        for q in alarm.metric_data_queries:
            item: dict[str, Any] = {"id": q.id}
            if q.expression:
                item["expression"] = q.expression
            if q.label:
                item["label"] = q.label
            if q.metric_stat is not None:
                item["metricStat"] = stat(q.metric_stat)
            item["returnData"] = _truthy(q.return_data)
            metrics.append(item)
    else:
        metrics = [{"id": "m1", "metricStat": {
            "metric": {"namespace": alarm.namespace, "name": alarm.metric_name,
                       "dimensions": {d.name: d.value for d in alarm.dimensions}},
            "period": int(alarm.period or 60),
            "stat": alarm.statistic or alarm.extended_statistic}, "returnData": True}]
    return {"description": alarm.description, "metrics": metrics}


# -- PutMetricAlarm ----------------------------------------------------------------------
SINGLE_METRIC_PARAMETERS = (("Namespace", "namespace"), ("MetricName", "metric_name"),
                            ("Statistic", "statistic"), ("ExtendedStatistic", "extended_statistic"),
                            ("Dimensions", "dimensions"), ("Period", "period"), ("Unit", "unit"))


def _patch_put_metric_alarm() -> None:
    from moto.cloudwatch.exceptions import ValidationError
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.put_metric_alarm
    if getattr(original, "_localaws_alarms", False):
        return

    def put_metric_alarm(self, *args, **kwargs):
        queries = kwargs.get("metric_data_queries")
        if queries:
            for param, key in SINGLE_METRIC_PARAMETERS:
                if kwargs.get(key) not in (None, "", []):
                    raise ValidationError(f"{param} should not be set if list of Metrics is set.")
            if not kwargs.get("threshold_metric_id") and \
                    sum(1 for q in queries if _truthy(q.return_data)) != 1:
                raise ValidationError("Exactly one element of the metrics list should return data.")
        name = kwargs.get("name", args[0] if args else None)
        before = self.alarms.get(name)
        alarm = original(self, *args, **kwargs)
        after = self.alarms.get(name)
        if after is not None and after is not before:
            if before is not None:  # an update keeps the state
                for attr in ("state_value", "state_reason", "state_reason_data",
                             "state_updated_timestamp", "history"):
                    setattr(after, attr, getattr(before, attr))
            else:
                after.state_value = "INSUFFICIENT_DATA"
                after.state_reason = "Unchecked: Initial alarm creation"
        return alarm

    put_metric_alarm._localaws_alarms = True
    CloudWatchBackend.put_metric_alarm = put_metric_alarm


def install() -> None:
    _patch_put_metric_alarm()


def reason_data_json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))
