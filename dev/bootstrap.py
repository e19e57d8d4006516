#!/usr/bin/env python3
"""Create the local AWS resources on moto, from the same definitions the deployed stack uses.

The DynamoDB table is read from template.yaml (resource TransfersTable), so local tables can never
drift from the deployed one. Safe to run twice: existing resources are left as they are.

  bootstrap.py table  --endpoint URL --name NAME
  bootstrap.py secret --endpoint URL --name NAME --client-id ID --client-secret S --webhook-secret W
  bootstrap.py fixture-transfer --endpoint URL --name NAME
  bootstrap.py events --endpoint URL --bus NAME

events creates the settlement-event plumbing of template.yaml on moto: the bus, the on-failure queue of the
notify function's stream (`<bus>-notify-failures`), and the template's two subscription rules with their
patterns, each delivering to a queue (`<bus>-paid-events`: PaidEventsRule; `<bus>-merchant-events`:
MerchantEndpointRule, whose API destination moto cannot call, so a queue stands in for the endpoint).

fixture-transfer records the transfer that the signed webhook fixture (events/local/webhook-succeeded.json)
reports on, as link-token would have recorded it when minting the token (status `created`), so that
invoking the fixtures under `make dev` applies the event instead of keeping it as an orphan. It also
opens the checkout the link-token fixture (events/local/link-token-create.json) pays, for order-1001 as
events/local/checkouts-create.json asks for it, open for 24 hours.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as their long form ({"Ref": ...},
    {"Fn::Sub": ...}), the shape CloudFormation and the SAM translator work on. The table declaration
    uses none, so what this script passes to CreateTable is plain data (dev/test_template.py checks)."""


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _any_tag)


def table_properties(template: Path) -> dict:
    doc = yaml.load(template.read_text(), Loader=CfnLoader)
    return doc["Resources"]["TransfersTable"]["Properties"]


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def create_table(endpoint: str, name: str, template: Path) -> None:
    props = table_properties(template)
    ddb = client("dynamodb", endpoint)
    if name in ddb.list_tables()["TableNames"]:
        print(f"table {name} exists")
        return
    args = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    ddb.create_table(**args)
    ddb.get_waiter("table_exists").wait(TableName=name)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    print(f"table {name} created")


def resources(template: Path) -> dict:
    return yaml.load(template.read_text(), Loader=CfnLoader)["Resources"]


# The template's subscription rules and the local queue standing in for each rule's target.
LOCAL_RULES = {"PaidEventsRule": "paid-events", "MerchantEndpointRule": "merchant-events"}


def create_events(endpoint: str, bus: str, template: Path) -> dict:
    """The bus, the on-failure queue and one queue per subscription rule; returns their names and URLs."""
    res = resources(template)
    events, sqs = client("events", endpoint), client("sqs", endpoint)
    try:
        events.create_event_bus(Name=bus)
        print(f"event bus {bus}: rules to the {', '.join(LOCAL_RULES.values())} queues, an on-failure queue", file=sys.stderr)
    except events.exceptions.ResourceAlreadyExistsException:
        pass
    made = {"bus": bus, "failure_queue": sqs.create_queue(QueueName=f"{bus}-notify-failures")["QueueUrl"]}
    for rule, suffix in LOCAL_RULES.items():
        url = sqs.create_queue(QueueName=f"{bus}-{suffix}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = json.dumps(res[rule]["Properties"]["EventPattern"])
        events.put_rule(Name=f"{bus}-{suffix}", EventBusName=bus, EventPattern=pattern, State="ENABLED")
        events.put_targets(Rule=f"{bus}-{suffix}", EventBusName=bus, Targets=[{"Id": suffix, "Arn": arn}])
        made[suffix] = url
    return made


def put_secret(endpoint: str, name: str, value: dict) -> None:
    sm = client("secretsmanager", endpoint)
    body = json.dumps(value)
    try:
        sm.create_secret(Name=name, SecretString=body)
        print(f"secret {name} created")
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=body)
        print(f"secret {name} updated")


# Mesh's id of the Base network (GET /api/v1/transfers/managed/networks), as link-token records it.
BASE_NETWORK_ID = "aa883b03-120d-477c-a588-37c2afd3ca71"
OPEN_SHARDS = 4


def open_shard(transaction_id: str) -> str:
    """shared::store::open_shard: FNV-1a of the id, modulo the shard count."""
    h = 0x811C9DC5
    for b in transaction_id.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"OPEN#{h % OPEN_SHARDS}"


def put_fixture_transfer(endpoint: str, name: str) -> None:
    body = json.loads(json.loads((ROOT / "events/local/webhook-succeeded.json").read_text())["body"])
    txn, now = body["TransactionId"], int(time.time() * 1000)
    offered = {
        "symbol": {"S": body["Token"]},
        "network_id": {"S": BASE_NETWORK_ID},
        "network_name": {"S": body["Chain"]},
        "address": {"S": body["DestinationAddress"]},
    }
    item = {
        "pk": {"S": f"TRANSFER#{txn}"},
        "kind": {"S": "transfer"},
        "transaction_id": {"S": txn},
        "user_id": {"S": body["UserId"]},
        "status": {"S": "created"},
        "status_rank": {"N": "0"},
        "open_shard": {"S": open_shard(txn)},
        "created_at": {"N": str(now)},
        "updated_at": {"N": str(now)},
        "version": {"N": "1"},
        "order_id": {"S": "order-1001"},
        "expected_amount_fiat": {"S": str(body["DestinationAmount"])},
        "offered": {"L": [{"M": offered}]},
    }
    ddb = client("dynamodb", endpoint)
    try:
        ddb.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        print(f"fixture transfer {txn} (user {body['UserId']}) created")
    except ddb.exceptions.ConditionalCheckFailedException:
        print(f"fixture transfer {txn} exists")


def put_fixture_checkout(endpoint: str, name: str) -> None:
    """The checkout item as shared/src/storage/checkouts.rs writes it (serde_dynamo of CheckoutRecord), and
    the order's pointer to it."""
    pay = json.loads(json.loads((ROOT / "events/local/link-token-create.json").read_text())["body"])
    order = json.loads(json.loads((ROOT / "events/local/checkouts-create.json").read_text())["body"])
    checkout, now = pay["checkoutId"], int(time.time() * 1000)
    item = {
        "pk": {"S": f"CHECKOUT#{checkout}"},
        "kind": {"S": "checkout"},
        "checkout_shard": {"S": open_shard(checkout)},  # the same FNV-1a sharding as open transfers
        "checkout_id": {"S": checkout},
        "order_id": {"S": order["orderId"]},
        "shopper": {"S": order["userId"]},
        "amount_in_fiat": {"S": order["amountInFiat"]},
        "currency": {"S": order["currency"]},
        "assets": {"L": [{"S": a} for a in order["assets"]]},
        "metadata": {"M": {k: {"S": v} for k, v in order["metadata"].items()}},
        "status": {"S": "open"},
        "created_at": {"N": str(now)},
        "updated_at": {"N": str(now)},
        "expires_at_ms": {"N": str(now + 24 * 3600 * 1000)},
        "version": {"N": "1"},
    }
    pointer = {"pk": {"S": f"ORDER#{order['orderId']}"}, "kind": {"S": "order"}, "checkout_id": {"S": checkout}}
    ddb = client("dynamodb", endpoint)
    try:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": name, "Item": pointer, "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
        print(f"fixture checkout {checkout} ({order['orderId']}, user {order['userId']}) opened")
    except ddb.exceptions.TransactionCanceledException:
        print(f"fixture checkout {checkout} exists")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table")
    t.add_argument("--endpoint", required=True)
    t.add_argument("--name", required=True)
    t.add_argument("--template", default=str(ROOT / "template.yaml"))
    s = sub.add_parser("secret")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--client-id", required=True)
    s.add_argument("--client-secret", required=True)
    s.add_argument("--webhook-secret", required=True)
    s.add_argument("--previous-webhook-secret")
    e = sub.add_parser("events")
    e.add_argument("--endpoint", required=True)
    e.add_argument("--bus", required=True)
    e.add_argument("--template", default=str(ROOT / "template.yaml"))
    f = sub.add_parser("fixture-transfer")
    f.add_argument("--endpoint", required=True)
    f.add_argument("--name", required=True)
    args = parser.parse_args()
    if args.command == "table":
        create_table(args.endpoint, args.name, Path(args.template))
    elif args.command == "events":
        print(json.dumps(create_events(args.endpoint, args.bus, Path(args.template))))
    elif args.command == "fixture-transfer":
        put_fixture_transfer(args.endpoint, args.name)
        put_fixture_checkout(args.endpoint, args.name)
    else:
        value = {
            "clientId": args.client_id,
            "clientSecret": args.client_secret,
            "webhookSecret": args.webhook_secret,
        }
        if args.previous_webhook_secret:
            value["previousWebhookSecret"] = args.previous_webhook_secret
        put_secret(args.endpoint, args.name, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
