#!/usr/bin/env python3
"""moto's server, answering one request at a time.

Why: moto applies TransactWriteItems by changing its tables and, when a condition fails, restoring a
snapshot taken before the transaction. Under moto's default threaded server that restore can erase a
concurrent transaction that succeeded (seen here: twenty concurrent deliveries of one webhook, one
reported applied, and the transfer left unchanged). DynamoDB applies every request atomically; serving
one request at a time gives moto that property, so concurrency tests exercise our conditions rather
than moto's races. Everything else is moto's own server.

  moto_serial.py -H 127.0.0.1 -p PORT
"""
import argparse
import os

from moto.moto_server import werkzeug_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)
    handler = getattr(werkzeug_app, "MotoRequestHandler", None)  # absent in older moto releases
    run_simple(args.host, args.port, app, threaded=False, request_handler=handler)


if __name__ == "__main__":
    main()
