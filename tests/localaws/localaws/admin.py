"""The admin API under /_localaws/ (JSON in, JSON out)."""

from __future__ import annotations

import json
import re
import traceback
from typing import TYPE_CHECKING, Any, Callable

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:  # pragma: no cover
    from localaws.dispatch import LocalAws


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def body_json(req: Request) -> dict[str, Any]:
    raw = req.get_data()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise AdminError(f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AdminError("body must be a JSON object")
    return value


def require(data: dict[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if data.get(n) in (None, "")]
    if missing:
        raise AdminError(f"missing field(s): {', '.join(missing)}")
    return [data[n] for n in names]


Handler = Callable[..., Any]


class Admin:
    def __init__(self, app: "LocalAws"):
        self.app = app
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        self.route("GET", "/health", lambda req: {"status": "ok"})
        self.route("POST", "/reset", self._reset)
        self.route("GET", "/routes", self._list_routes)
        # faults
        self.route("POST", "/faults", self._add_fault)
        self.route("GET", "/faults", lambda req: {
            "faults": app.faults.list(),
            "injectedByKind": dict(app.faults.injected_by_kind)})
        self.route("DELETE", "/faults", lambda req: self._cleared(app.faults.clear()))
        self.route("DELETE", "/faults/(?P<fid>[^/]+)",
                   lambda req, fid: self._cleared(app.faults.clear(fid)))
        # throttling
        self.route("GET", "/throttling", lambda req: app.throttler.status())
        self.route("POST", "/throttling", self._set_throttling)
        # calls
        self.route("GET", "/calls", self._calls)
        self.route("GET", "/calls/counters", lambda req: app.calls.counters(self._filters(req)))
        self.route("DELETE", "/calls", self._reset_calls)
        self.route("POST", "/calls/reset", self._reset_calls)
        # IAM roles, so test topologies can create Lambda functions without an IAM client
        self.route("POST", "/iam/roles", self._create_role)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^/_localaws{pattern}/?$"), handler))

    # -- built-in handlers ------------------------------------------------------
    def _create_role(self, req: Request) -> tuple[int, dict[str, Any]]:
        import json as _json
        from moto.iam.models import iam_backends
        from moto.iam.exceptions import EntityAlreadyExists

        data = body_json(req)
        account, name = require(data, "account", "name")
        trust = _json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": data.get("service", "lambda.amazonaws.com")},
            "Action": "sts:AssumeRole"}]})
        backend = iam_backends[account]["aws"]
        try:
            role = backend.create_role(
                role_name=name, assume_role_policy_document=trust, path="/",
                permissions_boundary=None, description="localaws test role", tags=[],
                max_session_duration="3600", linked_service=None)
        except EntityAlreadyExists:
            role = backend.get_role(name)
        return 201, {"arn": role.arn}

    def _reset(self, req: Request) -> dict[str, Any]:
        self.app.reset()
        return {"reset": True}

    def _list_routes(self, req: Request) -> dict[str, Any]:
        return {"routes": [f"{m} {p.pattern[1:-3]}" for m, p, _ in self.routes]}

    @staticmethod
    def _cleared(removed: list[dict[str, Any]]) -> dict[str, Any]:
        # How many were removed, and each with its counters (matched, injected, on which calls).
        return {"cleared": len(removed), "faults": removed}

    def _add_fault(self, req: Request) -> tuple[int, dict[str, Any]]:
        try:
            fault = self.app.faults.add(body_json(req))
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        return 201, fault.to_dict()

    def _set_throttling(self, req: Request) -> dict[str, Any]:
        try:
            return self.app.throttler.configure(body_json(req))
        except ValueError as exc:
            raise AdminError(str(exc)) from None

    @staticmethod
    def _filters(req: Request) -> dict[str, str]:
        return {k: v for k, v in req.args.items()
                if k in ("account", "region", "service", "operation", "outcome")}

    def _calls(self, req: Request) -> dict[str, Any]:
        since = int(req.args.get("since", 0))
        calls = self.app.calls.query(self._filters(req), since)
        return {"calls": calls, "count": len(calls)}

    def _reset_calls(self, req: Request) -> dict[str, Any]:
        self.app.calls.reset()
        return {"reset": True}

    # -- WSGI ---------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        req = Request(environ)
        status, payload = 404, {"error": f"no admin route {req.method} {req.path}"}
        path_matched = False
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if not m:
                continue
            path_matched = True
            if method != req.method:
                continue
            try:
                out = handler(req, **m.groupdict())
                if isinstance(out, Response):
                    return out(environ, start_response)
                if isinstance(out, tuple):
                    status, payload = out
                else:
                    status, payload = 200, out
            except AdminError as exc:
                status, payload = exc.status, {"error": str(exc)}
            except ConnectionAbortedError:
                raise  # dispatch.DropConnection: the route closes the connection unanswered
            except Exception as exc:
                traceback.print_exc()
                status, payload = 500, {"error": repr(exc)}
            break
        else:
            if path_matched:
                status, payload = 405, {"error": f"method {req.method} not allowed"}
        resp = Response(json.dumps(payload, default=str), status=status,
                        content_type="application/json")
        return resp(environ, start_response)
