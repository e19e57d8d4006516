#!/usr/bin/env python3
"""Settlement events end to end on a running stack (`make dev`, or the browser test's): one checkout paid
through the Mesh sandbox, its webhooks dropped so that reconcile repairs it, then Mesh's succeeded webhook
delivered 20 times, signed, to the webhook function. The merchant's paid-events queue (the template's
PaidEventsRule on moto's EventBridge, fed by notify through dev/stream_poller.py) must hold exactly one
`checkout.paid` for it, valid against docs/events/checkout.paid.schema.json.

  python3 dev/test_settlement_events.py        (ports: LAMBDA_PORT, SANDBOX_PORT, MOTO_PORT; make dev's by default)
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))
import bootstrap  # noqa: E402
import events  # noqa: E402

LAMBDA = f"http://127.0.0.1:{os.environ.get('LAMBDA_PORT', '9000')}"
SANDBOX = f"http://127.0.0.1:{os.environ.get('SANDBOX_PORT', '8787')}"
MOTO = f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5005')}"
WEBHOOK_SECRET = b"sandbox-webhook-secret"  # dev/stack.sh's


def call(method, url, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read().decode()
    return json.loads(text) if text.strip() else None


def wait_for(what, check, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    sys.exit(f"FAIL: {what} within {seconds} s")


def main() -> int:
    merchant, shopper = {"x-local-merchant": "shop"}, {"x-local-user": "events-e2e"}
    order = f"events-e2e-{uuid.uuid4().hex[:8]}"
    checkout = call("POST", f"{LAMBDA}/lambda-url/link-token/checkouts",
                    {"orderId": order, "amountInFiat": "31.50", "userId": "events-e2e", "metadata": {"test": "e2e"}}, merchant)
    chk = checkout["checkoutId"]
    minted = call("POST", f"{LAMBDA}/lambda-url/link-token/link-tokens",
                  {"checkoutId": chk, "symbol": "USDC", "network": "Base"}, shopper)
    txn = minted["transactionId"]
    # Paid at Mesh, every webhook dropped: only reconcile can tell us.
    call("POST", f"{SANDBOX}/sandbox/transfers", {"linkToken": minted["linkToken"], "outcome": "succeeded", "webhooks": {"drop": True}})
    call("POST", f"{LAMBDA}/2015-03-31/functions/reconcile/invocations", {})
    view = lambda: call("GET", f"{LAMBDA}/lambda-url/link-token/checkouts/{chk}", headers=merchant)
    wait_for("the checkout paid by reconcile's repair", lambda: view()["status"] == "paid")
    # Mesh's succeeded webhook, late, 20 times, signed as Mesh signs it.
    deliveries = call("GET", f"{SANDBOX}/sandbox/webhooks?transactionId={txn}")
    deliveries = deliveries["webhooks"] if isinstance(deliveries, dict) else deliveries
    body = next(d["body"] for d in deliveries if d["transferStatus"].lower() == "succeeded")
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    signature = base64.b64encode(hmac.new(WEBHOOK_SECRET, raw, hashlib.sha256).digest()).decode()
    outcomes = [call("POST", f"{LAMBDA}/lambda-url/webhook/", raw, {"x-mesh-signature-256": signature})["outcome"] for _ in range(20)]
    assert set(outcomes) <= {"duplicate", "stale", "regression", "refreshed", "applied"}, outcomes
    assert view()["status"] == "paid"

    queues = bootstrap.create_events(MOTO, os.environ.get("EVENT_BUS_NAME", "payments"), ROOT / "template.yaml")
    ours = lambda: [m for m in events.messages(MOTO, queues["paid-events"]) if m["detail"].get("checkoutId") == chk]
    wait_for("its checkout.paid on the paid-events queue", ours)
    time.sleep(5)  # the stream poller reads every half second: give any second event time to arrive
    paid = ours()
    assert len(paid) == 1, f"exactly one checkout.paid expected, got {len(paid)}: {paid}"
    event = paid[0]
    assert event["detail-type"] == "checkout.paid" and event["source"] == "mesh-backend.payments", event
    detail = event["detail"]
    assert (detail["orderId"], detail["offered"]["amountInFiat"], detail["received"]["transactionId"]) == (order, "31.50", txn), detail
    import jsonschema

    jsonschema.validate(detail, json.loads((ROOT / "docs/events/checkout.paid.schema.json").read_text()))
    print(f"ok: one checkout.paid ({detail['eventId']}) for {chk}: repaired by reconcile, webhook delivered 20 times")
    return 0


if __name__ == "__main__":
    sys.exit(main())
