#!/usr/bin/env python3
"""Serves the demo shop on 127.0.0.1, stdlib only: the page (this folder) and, under /shop/, the demo
merchant's backend (merchant.py), which prices the catalogue and creates checkouts as the merchant.

/config.js is generated per run from the arguments and the DESTINATIONS environment variable the functions
get too, so the page's asset picker and the link-token function never disagree and nothing is written
into the source tree (make dev and make test can run side by side on different ports).

/merchant-events.json lists the settlement events the merchant's rules received on the local event bus
(dev/events.py over moto's queues; README "Settlement events").

/api/ renders the link-token API's OpenAPI document (functions/link-token/openapi.json, served as
/openapi.json) with the Swagger UI that `make setup` vendors from npm.
"""
import argparse
import functools
import http.server
import json
import os
import sys

import merchant

HERE = os.path.dirname(os.path.abspath(__file__))
OPENAPI = os.path.join(HERE, "..", "..", "functions", "link-token", "openapi.json")


def page_config(api, sandbox):
    destinations = json.loads(os.environ.get("DESTINATIONS") or "[]")
    # The page needs what a customer picks from, not the merchant's addresses.
    picker = [{"symbol": d["symbol"], "network": d["network"]} for d in destinations]
    return {"linkTokenApi": api, "sandbox": sandbox, "destinations": picker}


def merchant_events():
    """What the bus's rules delivered under make dev, unique by detail.eventId; [] without a local bus.
    boto3 is imported only here (dev/events.py), so the page itself stays stdlib only."""
    queues = json.loads(os.environ.get("STACK_EVENTS") or "{}")
    if "merchant-events" not in queues:
        return []
    sys.path.insert(0, os.path.join(HERE, ".."))
    import events  # noqa: E402  dev/events.py

    return events.received(os.environ["AWS_ENDPOINT_URL"], queues["merchant-events"])


class Handler(http.server.SimpleHTTPRequestHandler):
    config_js = b""
    shop = None

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.startswith("/shop/"):
            return self.shop_request("GET", path)
        if path == "/config.js":
            return self.send_bytes(self.config_js, "text/javascript; charset=utf-8")
        if path == "/merchant-events.json":
            return self.send_bytes(json.dumps(merchant_events()).encode(), "application/json")
        if path == "/openapi.json":
            with open(OPENAPI, "rb") as f:
                return self.send_bytes(f.read(), "application/json")
        if path in ("/api", "/api/"):
            self.path = "/api.html"
        super().do_GET()

    def do_POST(self):
        path = self.path.split("?")[0]
        if not path.startswith("/shop/"):
            return self.send_error(405)
        self.shop_request("POST", path)

    def shop_request(self, method, path):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 65536)) if length else b""
        status, answer, headers = merchant.handle(self.shop, method, path, self.headers, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_bytes(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--api", required=True, help="link-token function base URL (the shopper's and the merchant's API)")
    ap.add_argument("--sandbox", required=True, help="Mesh sandbox base URL")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(HERE, "vendor", "web-link-sdk.js")):
        sys.exit("dev/demo/vendor/web-link-sdk.js is missing: run `make setup` (npm ci + bundle in dev/demo)")
    # The merchant's backend calls the checkout API server to server (locally with X-Local-Merchant).
    Handler.shop = merchant.Shop(merchant.CheckoutApi(args.api))
    Handler.config_js = ("window.DEMO_CONFIG = %s;\n" % json.dumps(page_config(args.api, args.sandbox))).encode()
    handler = functools.partial(Handler, directory=HERE)
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print("demo page on http://127.0.0.1:%d/" % args.port, flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
