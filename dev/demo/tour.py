#!/usr/bin/env python3
"""`make demo`: a scripted tour on the stack `make dev` runs (stdlib only).

1. mint a link token (POST /link-tokens), 2. complete the payment in the Mesh sandbox, 3. watch the signed
webhook move the transfer to `succeeded`, 4. pay again with the webhooks dropped on purpose, 5. run
reconcile, which finds the transfer at Mesh and repairs it, 6. print a summary.

Ports: LAMBDA_PORT (9000) and SANDBOX_PORT (8787), as for make dev.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

LAMBDA = "http://127.0.0.1:%s" % os.environ.get("LAMBDA_PORT", "9000")
SANDBOX = "http://127.0.0.1:%s" % os.environ.get("SANDBOX_PORT", "8787")
API = LAMBDA + "/lambda-url/link-token"
USER = "demo-tour"
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


def status_of(txn):
    return api("GET", "/transfers/" + txn)["status"]


def wait_status(txn, want, seconds):
    deadline = time.monotonic() + seconds
    delay = 0.25
    while True:
        status = status_of(txn)
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(delay)
        delay = min(delay * 1.5, 2)


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

    print("%sA tour of the payment flow on the local stack%s %s(link-token, webhook and reconcile functions; Mesh sandbox)%s"
          % (BOLD, OFF, DIM, OFF))

    say(1, "The checkout asks the backend for a link token")
    minted = api("POST", "/link-tokens", {"amountInFiat": 42, "symbol": "USDC", "network": "Base"})
    paid = minted["transactionId"]
    detail("POST /link-tokens {amountInFiat: 42, USDC on Base} as %s -> %s, status %s"
           % (USER, paid, status_of(paid)))

    say(2, "The customer completes the payment in Mesh Link (the sandbox plays Mesh)")
    transfer = call("POST", SANDBOX + "/sandbox/transfers", {"linkToken": minted["linkToken"], "outcome": "succeeded"})
    detail("Mesh transfer %s: %s %s on %s, hash %s..." % (transfer["id"], transfer.get("amount"), transfer.get("symbol"),
                                                          transfer.get("networkName"), (transfer.get("hash") or "")[:18]))

    say(3, "Mesh's signed webhooks reach the webhook function, which applies them")
    first = wait_status(paid, "succeeded", 30)
    detail("deliveries: %s" % describe(deliveries(paid)))
    detail("GET /transfers/%s -> %s%s%s" % (paid, GREEN if first == "succeeded" else RED, first, OFF))

    say(4, "A second payment, with its webhooks dropped on purpose (the sandbox never sends them)")
    minted = api("POST", "/link-tokens", {"amountInFiat": 17.5, "symbol": "ETH", "network": "Ethereum"})
    lost = minted["transactionId"]
    transfer = call("POST", SANDBOX + "/sandbox/transfers",
                    {"linkToken": minted["linkToken"], "outcome": "succeeded", "webhooks": {"drop": True}})
    time.sleep(2)
    before = status_of(lost)
    detail("Mesh transfer %s is %s at Mesh; deliveries: %s" % (transfer["id"], transfer["status"], describe(deliveries(lost))))
    detail("GET /transfers/%s -> %s%s%s (the backend never heard about it)" % (lost, RED, before, OFF))

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
    after = wait_status(lost, "succeeded", 10)
    detail("GET /transfers/%s -> %s%s%s" % (lost, GREEN if after == "succeeded" else RED, after, OFF))

    ok = first == "succeeded" and before != "succeeded" and after == "succeeded"
    print("\n%sSummary%s" % (BOLD, OFF))
    print("   payment 1  %s  webhook delivered and applied      -> %s" % (paid, first))
    print("   payment 2  %s  webhooks dropped, %s until reconcile -> %s (repaired: %s)"
          % (lost, before, after, summary.get("repaired")))
    print("   %s%s%s" % (GREEN if ok else RED,
                         "Every payment reached its final status, webhook or not." if ok else "Something did not settle: see .dev/logs/.",
                         OFF))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
