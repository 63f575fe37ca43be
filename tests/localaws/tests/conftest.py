import io
import json
import os
import sys
import threading
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

SHARED, DEV, PROD = "111111111111", "222222222222", "333333333333"


@pytest.fixture(scope="session")
def server():
    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    from localaws.server import build_app

    app = build_app()
    srv = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def admin(server, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{server}/_localaws{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(autouse=True)
def _reset(server):
    status, _ = admin(server, "POST", "/reset")
    assert status == 200
    yield


@pytest.fixture
def aws(server):
    def make(service, account=SHARED, region="eu-central-1", **cfg):
        return boto3.client(
            service, region_name=region, endpoint_url=server,
            aws_access_key_id=account, aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **cfg))
    return make


@pytest.fixture
def adm(server):
    return lambda method, path, body=None: admin(server, method, path, body)


def lambda_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def make_function(aws, name="fn", account=SHARED, region="eu-central-1"):
    iam = aws("iam", account=account, region=region)
    try:
        role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="lambda-role")["Role"]["Arn"]
    lam = aws("lambda", account=account, region=region)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                        Handler="index.handler", Code={"ZipFile": lambda_zip()})
    return lam


class FunctionStandIn(BaseHTTPRequestHandler):
    """Base of the HTTP stand-ins for function processes (invoke targets): JSON answers,
    no request logging."""

    def answer(self, status, doc, headers=None):
        data = json.dumps(doc).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve_stand_in(handler):
    """Serves `handler` on a free loopback port; yields its URL (for module fixtures)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
