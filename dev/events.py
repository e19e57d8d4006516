#!/usr/bin/env python3
"""The settlement events the merchant's systems received under `make dev`: what the template's rules
delivered to their local queues on moto (dev/bootstrap.py events), one line per event, deduplicated on
detail.eventId as the README tells consumers to. Reading leaves the messages in their queue.

  python3 dev/events.py [--queue merchant-events|paid-events|failure_queue] [--json] [--expect TYPE]

--expect waits (up to 30 s) until an event of that type is there, and fails if none comes.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bootstrap  # noqa: E402


def messages(endpoint: str, queue_url: str) -> list:
    """Every message in the queue, once each, left in the queue: each is received (hidden for a few seconds,
    so the next receive gets the next ones), then made visible again. Two readers at once see part each:
    callers read again (the page every 2 s, --expect every second)."""
    sqs = bootstrap.client("sqs", endpoint)
    out, handles = [], []
    try:
        for _ in range(50):  # a bounded read: enough for a local run's few hundred messages
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=5).get("Messages", [])
            if not batch:
                break
            out.extend(json.loads(m["Body"]) for m in batch)
            handles.extend(m["ReceiptHandle"] for m in batch)
    finally:
        for h in handles:
            try:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=0)
            except sqs.exceptions.ClientError:
                pass  # received again by another reader since: it restores it, or the 5 s run out
    return out


def received(endpoint: str, queue_url: str) -> list:
    """The events in the queue, unique by detail.eventId (as a consumer deduplicates), oldest first."""
    unique = {}
    for body in messages(endpoint, queue_url):
        unique.setdefault(body.get("detail", {}).get("eventId") or json.dumps(body), body)
    return sorted(unique.values(), key=lambda e: e.get("time", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue", default="merchant-events")
    parser.add_argument("--json", action="store_true")
    default = os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5005')}"
    parser.add_argument("--endpoint", default=default, help="moto (default: AWS_ENDPOINT_URL, else MOTO_PORT as for make dev)")
    parser.add_argument("--bus", default=os.environ.get("EVENT_BUS_NAME", "payments"))
    parser.add_argument("--expect")
    args = parser.parse_args()
    queues = bootstrap.create_events(args.endpoint, args.bus, bootstrap.ROOT / "template.yaml")  # existing ones: their URLs
    deadline = time.monotonic() + 30
    events = received(args.endpoint, queues[args.queue])
    while args.expect and not any(e.get("detail-type") == args.expect for e in events) and time.monotonic() < deadline:
        time.sleep(1)
        events = received(args.endpoint, queues[args.queue])
    for e in events:
        if args.json:
            print(json.dumps(e))
            continue
        d = e.get("detail", {})
        subject = d.get("checkoutId") or d.get("transactionId") or ""
        print(f'{e.get("time", "")}  {e.get("detail-type", "?"):26} {subject}  {d.get("eventId", "")}  '
              f'order={d.get("orderId")} status={d.get("status")}')
    if not events:
        print(f"no events in {args.queue} yet", file=sys.stderr)
    if args.expect and not any(e.get("detail-type") == args.expect for e in events):
        print(f"no {args.expect} event arrived in {args.queue} within 30 s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
