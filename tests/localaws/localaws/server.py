"""Entry point: serve localaws on 127.0.0.1:$LOCALAWS_PORT (default 4566)."""

from __future__ import annotations

import os
import sys
import threading


def build_app():
    # moto must pick accounts per request (from the access key), never globally.
    os.environ.pop("MOTO_ACCOUNT_ID", None)
    from localaws.dispatch import LocalAws
    from localaws import extensions

    app = LocalAws()
    extensions.register_all(app)
    return app


def _warm_up() -> None:
    """Import the moto services the project uses, off the request path."""
    import importlib

    for mod in ("moto.awslambda.responses", "moto.route53.responses", "moto.ecr.responses",
                "moto.cloudwatch.responses", "moto.secretsmanager.responses",
                "moto.events.responses", "moto.sns.responses", "moto.scheduler.responses",
                "moto.s3.responses", "moto.iam.responses", "moto.sts.responses",
                "moto.ssm.responses", "moto.dynamodb.responses"):
        try:
            importlib.import_module(mod)
        except Exception:  # pragma: no cover
            pass


def main() -> None:
    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    host = os.environ.get("LOCALAWS_HOST", "127.0.0.1")
    port = int(os.environ.get("LOCALAWS_PORT", "4566"))
    app = build_app()
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=_warm_up, daemon=True).start()
    print(f"localaws ready on http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
