"""The WSGI application: admin API, call log, throttling, faults, extensions, moto."""

from __future__ import annotations

import io
import json
import socket
import sys
import time
import traceback
from collections import defaultdict
from typing import Any, Callable

from werkzeug.wrappers import Response

from localaws import outage
from localaws.awsreq import AwsCall
from localaws.compression import inflate
from localaws.errors import server_error_response, throttle_response
from localaws.faults import CallLog, FaultInjector
from localaws.quotas import QuotaThrottler, throttle_answer


class MotoResult:
    """A captured WSGI response from moto."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def set_body(self, body: bytes) -> None:
        self.body = body
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]

    def to_response(self) -> Response:
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        return Response(self.body, status=self.status, headers=headers)


def call_wsgi(app: Callable, environ: dict[str, Any]) -> MotoResult:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None):
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = list(headers)
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return MotoResult(captured.get("status", 500), captured.get("headers", []), body)


class DropConnection(ConnectionAbortedError):
    """Raised to make werkzeug abandon the request without writing anything."""


def drop_connection(call: AwsCall, why: str) -> None:
    """Closes the client's socket without an answer and abandons the request."""
    sock = call.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise DropConnection(f"localaws: {why}")


PreHook = Callable[[AwsCall], "Response | None"]
PostHook = Callable[[AwsCall, MotoResult], "MotoResult | Response | None"]


class LocalAws:
    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )

        self.moto = DomainDispatcherApplication(create_backend_app)
        self.faults = FaultInjector()
        self.throttler = QuotaThrottler()
        self.calls = CallLog()
        self.pre: dict[tuple[str, str], list[PreHook]] = defaultdict(list)
        self.post: dict[tuple[str, str], list[PostHook]] = defaultdict(list)
        self.ticks: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self.resetters: list[Callable[[], None]] = [
            self.faults.reset, self.throttler.reset, self.calls.reset,
        ]
        from localaws.admin import Admin

        self.admin = Admin(self)

    # -- registration ------------------------------------------------------
    def on(self, service: str, operation: str, hook: PreHook) -> None:
        self.pre[(service, operation)].append(hook)

    def after(self, service: str, operation: str, hook: PostHook) -> None:
        self.post[(service, operation)].append(hook)

    def on_tick(self, service: str, fn: Callable[[], None]) -> None:
        self.ticks[service].append(fn)

    def on_reset(self, fn: Callable[[], None]) -> None:
        self.resetters.append(fn)

    def reset(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        for fn in self.resetters:
            fn()

    # -- moto ----------------------------------------------------------------
    def call_moto(self, environ: dict[str, Any]) -> MotoResult:
        return call_wsgi(self.moto, environ)

    # -- WSGI ----------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localaws"):
            return self.admin(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        stream = environ.get("wsgi.input")
        if length > 0 and stream is not None:
            body = stream.read(length)
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" and stream is not None:
            body = stream.read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        call = AwsCall(environ, body)
        if not call.signed:
            return self.moto(environ, start_response)
        plain = inflate(environ, body, call.service)  # gzip request compression
        if plain is not body:
            call = AwsCall(environ, plain)
            call.rewind()
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = call.account
        op = call.operation
        entry = self.calls.record(call.account, call.region, call.service, op,
                                  call.method, path)
        try:
            resp = self._handle(call, entry)
        except DropConnection:
            raise
        except Exception as exc:  # an addition failed: say so, as AWS would say 500
            traceback.print_exc(file=sys.stderr)
            entry["outcome"] = "localaws-error"
            resp = server_error_response(call, 500, message=f"localaws: {exc!r}")
        entry["status"] = resp.status_code
        entry["outcome"] = entry["outcome"] or "ok"
        return resp(environ, start_response)

    def _handle(self, call: AwsCall, entry: dict[str, Any]) -> Response:
        dark = outage.intercept(call, entry)  # a dark Region answers nothing else
        if dark is not None:
            return dark
        op = call.operation
        drop_after = False
        hold_after = None
        for fault in self.faults.pick(call.service, op, call.account, call.region,
                                      entry["seq"]):
            if fault.kind == "latency" and fault.after:
                hold_after = fault
                continue
            if fault.kind == "latency":
                time.sleep(fault.latency_ms / 1000.0)
                continue
            entry["outcome"] = f"fault:{fault.kind}"
            if fault.kind == "drop" and fault.after:
                drop_after = True
                continue
            if fault.kind == "drop":
                self._drop(call)
            if fault.kind == "throttle":
                return throttle_response(call)
            return server_error_response(call, fault.status, fault.code, fault.message)
        quota = self.throttler.check(call.service, op, call.account, call.region, call)
        if quota is not None:
            entry["outcome"] = "throttled"
            return throttle_answer(call, quota)
        if drop_after:
            self._serve(call, op)
            entry["outcome"] = "fault:drop-after"
            self._drop(call)
        if hold_after is not None:
            resp = self._serve(call, op)
            # The effect is in place (the call log says so); the answer waits.
            entry["outcome"] = "fault:latency-after"
            hold_after.released.wait(hold_after.latency_ms / 1000.0)
            return resp
        return self._serve(call, op)

    def _serve(self, call: AwsCall, op: str | None) -> Response:
        for tick in self.ticks.get(call.service or "", []):
            tick()
        key = (call.service or "", op or "")
        for hook in self.pre.get(key, []):
            resp = hook(call)
            if resp is not None:
                return resp
        call.rewind()
        result = self.call_moto(call.environ)
        for hook in self.post.get(key, []):
            out = hook(call, result)
            if isinstance(out, Response):
                return out
            if out is not None:
                result = out
        return result.to_response()

    @staticmethod
    def _drop(call: AwsCall) -> None:
        drop_connection(call, "injected connection drop")

