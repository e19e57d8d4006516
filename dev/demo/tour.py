#!/usr/bin/env python3
"""`make demo`: a scripted tour of the shop flow on the stack `make dev` runs (stdlib only).

1. the shop's server creates a checkout for an order (POST /checkouts as the merchant), 2. the shopper asks
for a link token for it (POST /link-tokens {checkoutId}), 3. the payment completes in the Mesh sandbox and
the signed webhook settles the checkout `paid`, safe to fulfil, 4. a second order where the sandbox delivers
less than the price: `underpaid`, not safe to fulfil, 5. a third whose webhooks the sandbox drops on
purpose, 6. reconcile finds that payment at Mesh and settles its checkout, 7. a summary.

Ports: LAMBDA_PORT (9000) and SANDBOX_PORT (8787), as for make dev.
"""
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import merchant

LAMBDA = "http://127.0.0.1:%s" % os.environ.get("LAMBDA_PORT", "9000")
SANDBOX = "http://127.0.0.1:%s" % os.environ.get("SANDBOX_PORT", "8787")
API = LAMBDA + "/lambda-url/link-token"
USER = "demo-tour"
SHOP = merchant.CheckoutApi(API)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BOLD, DIM, GREEN, RED, OFF = ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m") if sys.stdout.isatty() else ("",) * 5


def call(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        sys.exit("%s %s -> HTTP %s %s" % (method, url, e.code, e.read().decode(errors="replace")))


def api(method, path, body=None):
    return call(method, API + path, body, {"X-Local-User": USER})


def say(n, text):
    print("\n%s%s. %s%s" % (BOLD, n, text, OFF))


def detail(text):
    print("   " + text)


def checkout_of(checkout_id):
    return SHOP.get(checkout_id)


def wait_settled(checkout_id, seconds):
    """The checkout once it leaves open/processing, or as it is when time runs out."""
    deadline = time.monotonic() + seconds
    delay = 0.25
    while True:
        checkout = checkout_of(checkout_id)
        if checkout["status"] not in ("open", "processing") or time.monotonic() > deadline:
            return checkout
        time.sleep(delay)
        delay = min(delay * 1.5, 2)


def order(price, symbol, network):
    """The shop's server creates the checkout; the shopper's page mints a link token for it."""
    order_id = "order-tour-" + secrets.token_hex(4)
    checkout = SHOP.create(order_id, price, USER, {"item": "tour"})
    minted = api("POST", "/link-tokens", {"checkoutId": checkout["checkoutId"], "symbol": symbol, "network": network})
    detail("POST /checkouts {orderId: %s, amountInFiat: %s, userId: %s} as the merchant -> %s, %s"
           % (order_id, price, USER, checkout["checkoutId"], checkout["status"]))
    detail("POST /link-tokens {checkoutId, %s on %s} as %s -> attempt %s" % (symbol, network, USER, minted["transactionId"]))
    return checkout["checkoutId"], minted


def verdict(checkout):
    colour = GREEN if checkout["safeToFulfil"] else RED
    return "%s%s%s, safeToFulfil %s, received %s of %s, flags %s" % (
        colour, checkout["status"], OFF, checkout["safeToFulfil"], checkout.get("receivedInFiat"),
        checkout["amountInFiat"], checkout["flags"] or "none")


def deliveries(txn):
    return call("GET", SANDBOX + "/sandbox/webhooks?transactionId=" + txn)


def describe(ds):
    return ", ".join("%s %s" % (d["transferStatus"], d["status"]) for d in ds) or "none"


def main():
    try:
        call("GET", SANDBOX + "/sandbox/health")
        # A connection, not a request: cargo lambda watch logs a request to no function as an error.
        socket.create_connection(("127.0.0.1", int(LAMBDA.rsplit(":", 1)[1])), timeout=5).close()
    except (urllib.error.URLError, OSError):
        sys.exit("The stack is not running on %s / %s: start it with `make dev` (in another terminal) first." % (LAMBDA, SANDBOX))

    print("%sA tour of the shop flow on the local stack%s %s(link-token, webhook and reconcile functions; Mesh sandbox)%s"
          % (BOLD, OFF, DIM, OFF))

    say(1, "The shop's server creates a checkout at its price; the shopper asks for a link token for it")
    paid_id, minted = order("42.00", "USDC", "Base")

    say(2, "The shopper completes the payment in Mesh Link (the sandbox plays Mesh)")
    transfer = call("POST", SANDBOX + "/sandbox/transfers", {"linkToken": minted["linkToken"], "outcome": "succeeded"})
    detail("Mesh transfer %s: %s %s on %s, hash %s..." % (transfer["id"], transfer.get("destinationAmount"),
                                                          transfer.get("symbol"), transfer.get("networkName"),
                                                          (transfer.get("hash") or "")[:18]))
    paid = wait_settled(paid_id, 30)
    detail("webhooks: %s" % describe(deliveries(minted["transactionId"])))
    detail("GET /checkouts/%s -> %s" % (paid_id, verdict(paid)))

    say(3, "A second order, where the sandbox delivers 10 USDC of the 30.00 asked")
    short_id, minted = order("30.00", "USDC", "Base")
    call("POST", SANDBOX + "/sandbox/transfers",
         {"linkToken": minted["linkToken"], "outcome": "succeeded", "deliver": {"amount": 10}})
    short = wait_settled(short_id, 30)
    detail("GET /checkouts/%s -> %s" % (short_id, verdict(short)))

    say(4, "A third order, paid in full, with its webhooks dropped on purpose (the sandbox never sends them)")
    lost_id, minted = order("17.50", "USDC", "Solana")
    transfer = call("POST", SANDBOX + "/sandbox/transfers",
                    {"linkToken": minted["linkToken"], "outcome": "succeeded", "webhooks": {"drop": True}})
    time.sleep(2)
    before = checkout_of(lost_id)
    detail("Mesh transfer %s is %s at Mesh; webhooks: %s" % (transfer["id"], transfer["status"],
                                                             describe(deliveries(minted["transactionId"]))))
    detail("GET /checkouts/%s -> %s%s%s (the backend never heard about it)" % (lost_id, RED, before["status"], OFF))

    say(5, "reconcile (on an EventBridge schedule in AWS) compares Mesh's listing with the table and repairs")
    cmd = ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", LAMBDA.rsplit(":", 1)[1],
           "reconcile", "--data-file", "events/local/reconcile-schedule.json"]
    detail(DIM + " ".join(cmd) + OFF)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit("reconcile failed:\n" + out.stdout + out.stderr)
    summary = json.loads(out.stdout)
    detail("summary: " + ", ".join("%s=%s" % (k, summary[k]) for k in
                                   ("status", "checked", "repaired", "still_open", "unknown_to_us", "mesh_calls")
                                   if k in summary))
    after = wait_settled(lost_id, 10)
    detail("GET /checkouts/%s -> %s" % (lost_id, verdict(after)))

    ok = (paid["status"] == "paid" and paid["safeToFulfil"]
          and short["status"] == "underpaid" and not short["safeToFulfil"]
          and before["status"] != "paid" and after["status"] == "paid" and after["safeToFulfil"])
    print("\n%sSummary%s (the order system ships only when safeToFulfil is true)" % (BOLD, OFF))
    print("   order 1  %s  webhook delivered and applied       -> %s" % (paid_id, paid["status"]))
    print("   order 2  %s  10 of 30.00 delivered               -> %s" % (short_id, short["status"]))
    print("   order 3  %s  webhooks dropped, %s until reconcile -> %s (repaired: %s)"
          % (lost_id, before["status"], after["status"], summary.get("repaired")))
    print("   %s%s%s" % (GREEN if ok else RED,
                         "Every order reached the status its payment earned, webhook or not." if ok
                         else "Something did not settle as expected: see .dev/logs/.",
                         OFF))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except merchant.ShopError as e:
        sys.exit("the checkout API refused: HTTP %s %s %s" % (e.status, e.code, e.message))
