#!/usr/bin/env python3
"""The local stand-in for Lambda's DynamoDB event source mapping: reads the table's stream from moto's
DynamoDB Streams API (DescribeStream, GetShardIterator, GetRecords) and invokes the notify function with
real DynamoDB Streams events, as the mapping in template.yaml (NotifyFunction, event Changes) would:

- its FilterCriteria patterns (read from template.yaml), applied to each record; records that match none
  are skipped, as Lambda skips them;
- batches of its BatchSize, from the oldest record kept (TRIM_HORIZON);
- a partial batch response (ReportBatchItemFailures): the batch is retried from the first record named;
- a function error: the batch is split in two and each half retried (BisectBatchOnFunctionError);
- after MaximumRetryAttempts retries (or once a record is older than MaximumRecordAgeInSeconds), the batch's
  description goes to the on-failure SQS queue in Lambda's format, and the shard moves on.

The function is invoked through the Lambda Invoke API at --invoke-url: `cargo lambda watch`'s under
`make dev` (http://127.0.0.1:9000/2015-03-31/functions/notify/invocations), a test's own in tests.

  stream_poller.py --endpoint URL --table NAME --invoke-url URL --failure-queue URL [--once]

--once drains what the stream holds now and exits (tests); otherwise it polls until stopped.
Each batch is one line on stdout.
"""
import argparse
import datetime
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))
import bootstrap  # noqa: E402  the CloudFormation loader and moto clients


def mapping(template: Path) -> dict:
    """The notify function's DynamoDB event source mapping, as template.yaml declares it."""
    res = yaml.load(template.read_text(), Loader=bootstrap.CfnLoader)["Resources"]
    events = res["NotifyFunction"]["Properties"]["Events"]
    (props,) = [e["Properties"] for e in events.values() if e["Type"] == "DynamoDB"]
    return props


# ---------------------------------------------------------------- filter patterns (the subset used)


def matches(pattern: dict, event: dict) -> bool:
    """Lambda event filtering: every key of the pattern must match; a list is a leaf's rules (any one)."""
    for key, rule in pattern.items():
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(rule, dict):
            if not matches(rule, value if isinstance(value, dict) else {}):
                return False
        elif not any(leaf_matches(r, value) for r in rule):
            return False
    return True


def leaf_matches(rule, value) -> bool:
    if isinstance(rule, dict):
        (op, arg), = rule.items()
        if op == "exists":
            return (value is not None) == arg
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "anything-but":
            return value is not None and value not in (arg if isinstance(arg, list) else [arg])
        raise ValueError(f"filter operator {op} is not supported here")
    return value == rule


def accepted(record: dict, filters: list) -> bool:
    return not filters or any(matches(f, record) for f in filters)


# ---------------------------------------------------------------- the mapping


class Poller:
    def __init__(self, endpoint, table, invoke_url, failure_queue, template, retry_delay=0.2, log=print):
        props = mapping(template)
        self.filters = [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])]
        self.batch_size = props.get("BatchSize", 100)
        self.max_retries = props.get("MaximumRetryAttempts", -1)
        self.max_age = props.get("MaximumRecordAgeInSeconds", -1)
        self.bisect = props.get("BisectBatchOnFunctionError", False)
        self.partial = "ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])
        self.ddb = bootstrap.client("dynamodb", endpoint)
        self.streams = bootstrap.client("dynamodbstreams", endpoint)
        self.sqs = bootstrap.client("sqs", endpoint)
        self.table, self.invoke_url, self.failure_queue = table, invoke_url, failure_queue
        self.retry_delay, self.log = retry_delay, log
        self.iterators = {}  # shard id -> next iterator
        self.stream_arn = None

    def poll(self) -> int:
        """One GetRecords per shard, each batch delivered; returns how many records were read."""
        if self.stream_arn is None:
            self.stream_arn = self.ddb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        read = 0
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in self.iterators:
                self.iterators[sid] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            if self.iterators[sid] is None:
                continue  # a closed shard, drained
            out = self.streams.get_records(ShardIterator=self.iterators[sid], Limit=1000)
            self.iterators[sid] = out.get("NextShardIterator")
            records = [lambda_record(r, self.stream_arn) for r in out["Records"]]
            read += len(records)
            kept = [r for r in records if accepted(r, self.filters)]
            for i in range(0, len(kept), self.batch_size):
                self.deliver(sid, kept[i:i + self.batch_size])
        return read

    def deliver(self, shard_id: str, batch: list, attempt: int = 0) -> None:
        """Invokes until the batch is done, retried from what failed, or given up to the on-failure queue."""
        while batch:
            if self.max_age >= 0 and time.time() - batch[0]["dynamodb"]["ApproximateCreationDateTime"] > self.max_age:
                return self.give_up(shard_id, batch, attempt, "RecordAgeExceeded")
            failed_from, error = self.invoke(batch)
            if error is None and failed_from is None:
                self.log(json.dumps({"batch": len(batch), "attempt": attempt, "outcome": "done"}))
                return None
            if self.max_retries >= 0 and attempt >= self.max_retries:
                return self.give_up(shard_id, batch, attempt, "RetryAttemptsExhausted", error)
            attempt += 1
            time.sleep(self.retry_delay)
            if error is not None:
                self.log(json.dumps({"batch": len(batch), "attempt": attempt, "outcome": "function error", "error": error[:200]}))
                if self.bisect and len(batch) > 1:
                    half = len(batch) // 2
                    self.deliver(shard_id, batch[:half], attempt)
                    self.deliver(shard_id, batch[half:], attempt)
                    return None
            else:
                self.log(json.dumps({"batch": len(batch), "attempt": attempt, "outcome": "partial", "retry_from": failed_from}))
                batch = batch[failed_from:]
        return None

    def invoke(self, batch: list):
        """(index of the first record to retry or None, function error or None)."""
        body = json.dumps({"Records": batch}).encode()
        request = urllib.request.Request(self.invoke_url, data=body, method="POST",
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                text = response.read().decode()
                if response.headers.get("X-Amz-Function-Error"):
                    return None, text
        except urllib.error.HTTPError as e:
            return None, f"HTTP {e.code}: {e.read().decode(errors='replace')}"
        except OSError as e:
            return None, f"invoke failed: {e}"
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            return None, f"unreadable response: {text[:200]}"
        if isinstance(answer, dict) and "errorType" in answer:
            return None, text
        failures = (answer or {}).get("batchItemFailures") or [] if self.partial else []
        if not failures:
            return None, None
        sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
        named = [f.get("itemIdentifier") for f in failures]
        if any(n not in sequence for n in named):
            return None, f"batchItemFailures names a record not in the batch: {named}"  # Lambda: the whole batch fails
        return min(sequence.index(n) for n in named), None

    def give_up(self, shard_id, batch, attempt, condition, error=None):
        """Lambda's on-failure record for a stream batch: where the records are, not the records."""
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        message = {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": "local:notify",
                               "condition": condition, "approximateInvokeCount": attempt + 1},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled" if error else None},
            "version": "1.0",
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(first["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": iso(last["ApproximateCreationDateTime"]),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.failure_queue, MessageBody=json.dumps(message))
        self.log(json.dumps({"batch": len(batch), "attempt": attempt, "outcome": "given up", "condition": condition}))


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat()


def lambda_record(record: dict, stream_arn: str) -> dict:
    """A GetRecords record as Lambda hands it to the function (epoch seconds, the source ARN)."""
    change = dict(record["dynamodb"])
    when = change.get("ApproximateCreationDateTime")
    if isinstance(when, datetime.datetime):
        change["ApproximateCreationDateTime"] = when.timestamp()
    out = {k: v for k, v in record.items() if k != "dynamodb"}
    out["dynamodb"] = change
    out["eventSourceARN"] = stream_arn
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--invoke-url", required=True)
    parser.add_argument("--failure-queue", required=True)
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--retry-delay", type=float, default=0.2)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    poller = Poller(args.endpoint, args.table, args.invoke_url, args.failure_queue, Path(args.template),
                    retry_delay=args.retry_delay, log=lambda line: print(line, flush=True))
    while True:
        read = poller.poll()
        if args.once and read == 0:
            return 0
        if not read:
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
