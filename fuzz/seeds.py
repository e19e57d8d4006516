#!/usr/bin/env python3
"""Seeds each fuzz target's working corpus (fuzz/corpus/<target>/, not in git) from the events/
fixtures, so a run starts from real deliveries and requests instead of from nothing, and with the
inputs of issue 17's defects, so every run checks they stay fixed.
Safe to run twice: it rewrites only its own seed-* files."""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def body(fixture):
    return json.loads((ROOT / "events" / fixture).read_text())["body"]


def event(fixture):
    return json.loads((ROOT / "events" / fixture).read_text())


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


def main():
    delivery = event("local/webhook-succeeded.json")
    succeeded = json.loads(delivery["body"])
    signature = delivery["headers"]["x-mesh-signature-256"].encode()
    raw = delivery["body"].encode()

    def variant(**changes):
        return json.dumps({**succeeded, **changes}).encode()

    # webhook_signed: bodies separated by 0xFF, each signed by the target.
    pending = variant(EventId="evt-seed-pending", TransferStatus="Pending", Timestamp=succeeded["Timestamp"] - 5000)
    failed = variant(EventId="evt-seed-failed", TransferStatus="Failed")
    refund = variant(EventId="evt-seed-refund", TransferStatus="RefundPending")
    write("webhook_signed", "succeeded", raw)
    write("webhook_signed", "lifecycle", b"\xff".join([pending, raw, raw, failed, pending, refund]))
    write("webhook_signed", "orphan-and-unknown", b"\xff".join([
        variant(EventId="evt-seed-orphan", TransactionId="txn_nobody"),
        variant(EventId="evt-seed-unknown", TransferStatus="Exploded"),
        variant(EventId="", TransferId="tr"),
        b"{}",
    ]))
    write("webhook_signed", "built-events", b"\xff".join([b"\xfe" + bytes(range(i, i + 40)) for i in range(0, 120, 40)]))
    write("webhook_signed", "defect-3-extreme-timestamp", variant(EventId="evt-seed-extreme", Timestamp=-(2**63)))

    # webhook_unsigned: flags, signature length, signature, body (layout in the target's doc comment).
    def unsigned(flags, material, payload):
        return bytes([flags, len(material)]) + material + payload

    write("webhook_unsigned", "fixture-as-sent", unsigned(0x10, signature, raw))
    write("webhook_unsigned", "allow-listed", unsigned(0x1C, signature, raw))
    write("webhook_unsigned", "no-signature", unsigned(0x00, b"", raw))
    write("webhook_unsigned", "bit-flipped", unsigned(0x30, b"\x05", raw))
    write("webhook_unsigned", "previous-secret", unsigned(0x70, b"", raw))
    write("webhook_unsigned", "get", unsigned(0x12, signature, raw))

    # link_token_body: the fixtures' bodies, the empty body, and issue 17's defect 4 inputs and
    # a number a float would round.
    write("link_token_body", "local", body("local/link-token-create.json"))
    write("link_token_body", "aws", body("aws/link-token-create.json"))
    write("link_token_body", "empty", "")
    write("link_token_body", "all-fields", json.dumps({
        "amountInFiat": 25.5, "symbol": "USDC", "network": "Base", "paylink": True,
        "integrationId": "9f5c2a8e-2b44-4c1a-8f51-3c2e5d6a7b8c", "orderId": "order-1",
    }))
    write("link_token_body", "defect-4-array", '[10000,"ETH","Ethereum"]')
    write("link_token_body", "defect-4-string-amount", '{"amountInFiat": "25"}')
    write("link_token_body", "amount-beyond-f64", '{"amountInFiat": 9.9999999999999999}')


if __name__ == "__main__":
    main()
