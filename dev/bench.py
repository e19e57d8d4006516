#!/usr/bin/env python3
"""`make bench`: cold start, latency, memory and size of each function against a bare hello-world.

Each release binary runs as Lambda runs it, against a Lambda Runtime API served here on loopback,
with moto (DynamoDB, Secrets Manager) and the Mesh sandbox behind it. Per function:
  - init: process start to the first poll of the Runtime API (median and range over --cold runs);
  - first response: process start to the first invocation's response, which includes the secret
    fetch, the first DynamoDB call and, for link-token, the first Mesh call;
  - warm: --warm invocations in one process, p50/p99 at the Runtime API, and peak RSS (VmHWM);
  - init instructions: the same span counted by callgrind (valgrind), repeatable on a busy machine
    where milliseconds are not; and instructions to the first response, so that work moved from init
    into the first request (a client built on first use) shows;
  - zip: the binary zipped as `bootstrap`, as SAM uploads it.
Cold starts are interleaved (one of each function per round), so a busy moment of the machine hits
every function alike. A Node.js 20 peer (dev/bench-node: the same clients created at init, a minimal
Runtime API loop as Lambda's Node.js runtime runs) is measured beside them.
The webhook run delivers signed events for transfers minted by the link-token run, 10% of them
duplicates, and then checks in DynamoDB that each event was recorded exactly once.
The measured processes get no SSL_CERT_FILE, SSL_CERT_DIR, AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS: a
Lambda has none of them, and they change what a TLS client loads at init.

  bench.py --bin-dir target/release --sandbox target/release/mesh-sandbox [--cold 11] [--warm 1000]
"""
import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import platform
import queue
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))
import bootstrap  # noqa: E402  (the table from template.yaml, the secret)
from measure_init import callgrind  # noqa: E402  (init instructions)

SECRET = {"clientId": "sandbox-client-id", "clientSecret": "sandbox-client-secret", "webhookSecret": "sandbox-webhook-secret"}
DESTINATIONS = '[{"symbol":"USDC","network":"Base","address":"0x1111111111111111111111111111111111111111"}]'
API = "/2018-06-01/runtime"
NODE_PEER = ROOT / "dev/bench-node"
# Set on some developer machines, never on Lambda; each makes a TLS client load another root bundle.
CLEARED = ("SSL_CERT_FILE", "SSL_CERT_DIR", "AWS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


def lambda_env(env: dict, api_port: int, name: str) -> dict:
    """The environment of a measured process: ours, minus CLEARED, plus what Lambda sets."""
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return dict(base, **env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api_port}", AWS_LAMBDA_FUNCTION_NAME=name,
                AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, secs: float = 30) -> None:
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class RuntimeApi:
    """A minimal Lambda Runtime API: hands out queued events, records responses with timestamps."""

    def __init__(self):
        self.events: "queue.Queue[tuple[str, bytes]]" = queue.Queue()
        self.first_poll = threading.Event()
        self.first_poll_at = 0.0
        self.sent: dict[str, float] = {}
        self.done: dict[str, tuple[float, bytes, bool]] = {}
        self.cond = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK
            # (~40 ms per invocation), which would be the harness's time, not the function's.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                if not self.path.endswith("/invocation/next"):
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if not api.first_poll.is_set():
                    api.first_poll_at = time.perf_counter()
                    api.first_poll.set()
                rid, body = api.events.get()
                api.sent[rid] = time.perf_counter()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("lambda-runtime-aws-request-id", rid)
                self.send_header("lambda-runtime-deadline-ms", str(int(time.time() * 1000) + 60_000))
                self.send_header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                now = time.perf_counter()
                parts = self.path.split("/")
                if "init" in parts:
                    sys.stderr.write(f"init error: {body[:300]!r}\n")
                    api.first_poll_at = now
                    api.first_poll.set()
                elif len(parts) >= 6:
                    rid, ok = parts[4], parts[5] == "response"
                    with api.cond:
                        api.done[rid] = (now, body, ok)
                        api.cond.notify_all()
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed function drops its long poll; that is the end of a run, not an error

        self.port = free_port()
        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: dict, timeout: float = 30) -> tuple[float, dict, bool]:
        rid = str(uuid.uuid4())
        self.events.put((rid, json.dumps(event).encode()))
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.done, timeout):
                raise SystemExit("no response within timeout")
        done_at, body, ok = self.done[rid]
        return done_at - self.sent[rid], json.loads(body or b"null"), ok

    def close(self):
        self.server.shutdown()


def run_function(name: str, cmd: list, env: dict, events, rss: bool = False, redeliver_5xx: bool = False):
    """Starts the function, feeds it the events one by one; returns init, first response, latencies, RSS.
    With `redeliver_5xx`, an answer of 5xx is delivered again at the end (up to 3 times), as Mesh retries."""
    api = RuntimeApi()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=lambda_env(env, api.port, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.first_poll.wait(30):
            raise SystemExit(f"{name} never polled the Runtime API")
        init_ms = (api.first_poll_at - started) * 1000
        latencies, bodies, first_ms, retry = [], [], None, []
        for event in events:
            latency, body, ok = api.invoke(event)
            if not ok:
                raise SystemExit(f"{name} failed an invocation: {body}")
            if first_ms is None:
                first_ms = (time.perf_counter() - started) * 1000
            latencies.append(latency * 1000)
            bodies.append(body)
            if redeliver_5xx and isinstance(body, dict) and body.get("statusCode", 200) >= 500:
                retry.append(event)
        for _ in range(3):
            again, retry = retry, []
            for event in again:
                _, body, _ = api.invoke(event)
                bodies.append(body)
                if isinstance(body, dict) and body.get("statusCode", 200) >= 500:
                    retry.append(event)
        peak_kb = None
        if rss:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = int(line.split()[1])
        return init_ms, first_ms, latencies, bodies, peak_kb
    finally:
        proc.kill()
        proc.wait()
        api.close()


def count_instructions(name: str, cmd: list, env: dict, first_event=None):
    """Instructions counted by callgrind from process start to the first Runtime API poll (init), or,
    with `first_event`, to the first invocation's response (init plus the first request: what a client
    built on first use costs shows here). None when valgrind is missing or the run fails."""
    api = RuntimeApi()

    def until() -> bool:
        if not api.first_poll.wait(600):
            return False
        return first_event is None or api.invoke(first_event, timeout=600)[2]

    try:
        with tempfile.TemporaryDirectory() as tmp:
            return callgrind(cmd, lambda_env(env, api.port, name), str(Path(tmp) / "callgrind.out"), until)
    finally:
        api.close()


def pct(values, p):
    s = sorted(values)
    return s[round((len(s) - 1) * p)]


def zip_size(binary: Path) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, binary.read_bytes())
    return len(buf.getvalue())


def dir_sizes(folder: Path) -> tuple[int, int]:
    """Bytes on disk and zipped size of a Node.js deployment package (the folder with node_modules)."""
    buf, raw = io.BytesIO(), 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                raw += f.stat().st_size
                z.write(f, f.relative_to(folder))
    return raw, len(buf.getvalue())


def link_token_event(i: int) -> dict:
    e = json.loads((ROOT / "events/aws/link-token-create.json").read_text())
    e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = f"bench-user-{i % 50}"
    e["body"] = json.dumps({"amountInFiat": 10, "symbol": "USDC", "network": "Base"})
    return e


def webhook_event(tx: str, event_id: str, status: str, ts: int) -> dict:
    e = json.loads((ROOT / "events/local/webhook-succeeded.json").read_text())
    body = json.dumps({
        "Id": str(uuid.uuid4()), "EventId": event_id, "SentTimestamp": int(time.time()),
        "TransferId": f"tr-{tx}", "TransactionId": tx, "UserId": "bench", "TransferStatus": status,
        "TxHash": "0xabc", "Chain": "Base", "Token": "USDC", "SourceAccountProvider": "Coinbase",
        "SourceAmount": 10.05, "DestinationAmount": 10.0,
        "DestinationAddress": "0x1111111111111111111111111111111111111111", "RefundAddress": None, "Timestamp": ts,
    })
    sig = base64.b64encode(hmac.new(SECRET["webhookSecret"].encode(), body.encode(), hashlib.sha256).digest()).decode()
    e["body"] = body
    e["headers"]["x-mesh-signature-256"] = sig
    return e


def notify_event() -> dict:
    return json.loads((ROOT / "events/local/notify-stream-batch.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=str(ROOT / "target/release"))
    ap.add_argument("--sandbox", default=str(ROOT / "target/release/mesh-sandbox"))
    ap.add_argument("--cold", type=int, default=11)
    ap.add_argument("--warm", type=int, default=1000)
    ap.add_argument("--webhook-events", type=int, default=400,
                    help="distinct webhook events (+10%% duplicates); moto copies the table on every transaction, so its cost grows with the table")
    ap.add_argument("--receive-line", default="", help="the line printed by the webhook_receive_bench example")
    ap.add_argument("--out", default=str(ROOT / "docs/bench.md"))
    args = ap.parse_args()
    bins = Path(args.bin_dir)

    moto_port, sandbox_port = free_port(), free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sandbox = subprocess.Popen([args.sandbox, "--port", str(sandbox_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(moto_port)
        wait_port(sandbox_port)
        endpoint = f"http://127.0.0.1:{moto_port}"
        bootstrap.create_table(endpoint, "transfers", ROOT / "template.yaml")
        bootstrap.put_secret(endpoint, "mesh/credentials", SECRET)
        env = {
            "TRANSFERS_TABLE": "transfers", "MESH_SECRET_ID": "mesh/credentials", "MESH_ENV": "sandbox",
            "MESH_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}", "DESTINATIONS": DESTINATIONS,
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true", "RUST_LOG": "warn",
            # Deposit mode: each mint names its own amount, as before checkouts (payment mode would need
            # a checkout per token); the mint's cost is the same.
            "TRANSFER_TYPE": "deposit",
        }
        notes = []
        now = int(time.time() * 1000)
        node = shutil.which("node")
        # name -> command, cold event; the Node.js peer only when node and its packages are installed.
        fns = {
            "bench-hello": ([str(bins / "bench-hello")], lambda i: {}),
            "link-token": ([str(bins / "link-token")], link_token_event),
            "webhook": ([str(bins / "webhook")], lambda i: webhook_event(f"txn_cold_{i}", f"cold-{i}", "Succeeded", now)),
            "reconcile": ([str(bins / "reconcile")], lambda i: {}),
        }
        if (bins / "notify").exists():
            # A stream batch in, its settlement events to a bus on moto.
            bootstrap.client("events", endpoint).create_event_bus(Name="bench-bus")
            env["EVENT_BUS_NAME"] = "bench-bus"
            fns["notify"] = ([str(bins / "notify")], lambda i: notify_event())
        if node and (NODE_PEER / "node_modules").is_dir():
            fns["node peer"] = ([node, str(NODE_PEER / "index.js")], lambda i: {})
        else:
            notes.append("node peer: skipped (node or dev/bench-node/node_modules missing)")
        rows = {name: {"function": name, "inits": [], "firsts": []} for name in fns}

        # Cold starts, interleaved: round i starts each function once.
        for i in range(args.cold):
            for name, (cmd, cold_event) in fns.items():
                init_ms, first_ms, _, _, _ = run_function(name, cmd, env, [cold_event(i)])
                rows[name]["inits"].append(init_ms)
                rows[name]["firsts"].append(first_ms)

        def measure(name: str, events, redeliver_5xx=False):
            """Warm invocations in one process, then the row's figures."""
            cmd = fns[name][0]
            _, _, lat, bodies, peak = run_function(name, cmd, env, events, rss=True, redeliver_5xx=redeliver_5xx)
            r = rows[name]
            if name == "node peer":
                raw, zipped = dir_sizes(NODE_PEER)
            else:
                raw, zipped = Path(cmd[0]).stat().st_size, zip_size(Path(cmd[0]))
            r.update({
                "init_ms": statistics.median(r["inits"]), "init_range": (min(r["inits"]), max(r["inits"])),
                "first_ms": statistics.median(r["firsts"]), "first_range": (min(r["firsts"]), max(r["firsts"])),
                "warm_n": len(lat), "p50": pct(lat[1:] or lat, 0.5), "p99": pct(lat[1:] or lat, 0.99),
                "rss_mb": (peak or 0) / 1024, "zip_mb": zipped / 1e6, "bin_mb": raw / 1e6,
            })
            return bodies

        measure("bench-hello", [{} for _ in range(args.warm)])
        minted = measure("link-token", [link_token_event(i) for i in range(args.warm)])
        txs = [json.loads(b["body"])["transactionId"] for b in minted if b and b.get("statusCode") == 201]
        events = []
        for i, tx in enumerate(txs[: args.webhook_events // 2]):
            events.append((tx, f"evt-{i}-p", "Pending", now))
            events.append((tx, f"evt-{i}-s", "Succeeded", now + 1))
        unique = len(events)
        for i in range(0, unique, 10):
            events.append(events[i])  # a retry of the same event: a new Id, the same EventId
        random.Random(7).shuffle(events)
        responses = measure("webhook", [webhook_event(*e) for e in events], redeliver_5xx=True)
        outcomes = {}
        for r in responses:
            o = json.loads(r["body"]).get("outcome", f"http {r['statusCode']}")
            outcomes[o] = outcomes.get(o, 0) + 1
        import boto3  # the SDK of the bootstrap script's venv
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        recorded, start = 0, None
        while True:
            kw = {"TableName": "transfers", "FilterExpression": "begins_with(pk, :e)", "ExpressionAttributeValues": {":e": {"S": "EVENT#evt-"}}, "Select": "COUNT"}
            if start:
                kw["ExclusiveStartKey"] = start
            page = ddb.scan(**kw)
            recorded += page["Count"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        # Exactly once: one event record per distinct EventId, and every delivery finally answered 200
        # (5xx answers are delivered again, as Mesh would). Which copy of an event is answered "applied" and
        # which "duplicate" depends on the shuffle and on SDK retries, so the answers are reported, not judged.
        exactly_once = recorded == unique and not any(k.startswith("http") for k in outcomes)
        notes.append(f"webhook: {len(events)} deliveries ({unique} events, {len(events) - unique} duplicates, shuffled; 5xx delivered again) -> answers {outcomes}; "
                     f"event records in DynamoDB: {recorded}; exactly once: {'yes' if exactly_once else 'NO'}")
        measure("reconcile", [{} for _ in range(min(args.warm, 200))])
        if "notify" in fns:
            measure("notify", [notify_event() for _ in range(min(args.warm, 200))])
        if "node peer" in fns:
            measure("node peer", [{} for _ in range(args.warm)])

        instructions = {name: count_instructions(name, cmd, env) for name, (cmd, _) in fns.items()}
        # To the first response, for our functions, with a cold event like the cold starts' above.
        first_instructions = {name: count_instructions(name, cmd, env, cold_event(args.cold))
                              for name, (cmd, cold_event) in fns.items() if name != "node peer"}
        if not any(instructions.values()):
            notes.append("init instructions: not counted (valgrind missing)")

        base = rows["bench-hello"]
        lines = [
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.platform()}; release profile of Cargo.toml; moto and the Mesh sandbox on loopback; "
            f"{args.cold} interleaved cold starts each, {args.warm} warm invocations (reconcile{', notify' if 'notify' in fns else ''}: {min(args.warm, 200)}); "
            f"{', '.join(CLEARED)} cleared.",
            "",
            "| function | init ms (median, range) | × hello | init instructions (M) | first response ms | instructions to first response (M) | warm p50 ms | warm p99 ms | peak RSS MB | binary MB | zip MB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in rows.items():
            instr, first_instr = instructions.get(name), first_instructions.get(name)
            lines.append(
                f"| {name} | {r['init_ms']:.1f} ({r['init_range'][0]:.1f}–{r['init_range'][1]:.1f}) | {r['init_ms'] / base['init_ms']:.2f} "
                f"| {f'{instr / 1e6:.1f}' if instr else '—'} "
                f"| {r['first_ms']:.1f} ({r['first_range'][0]:.1f}–{r['first_range'][1]:.1f}) "
                f"| {f'{first_instr / 1e6:.1f}' if first_instr else '—'} | {r['p50']:.2f} | {r['p99']:.2f} "
                f"| {r['rss_mb']:.1f} | {r['bin_mb']:.2f} | {r['zip_mb']:.3f} |")
        lines.append("")
        if "node peer" in rows:
            peer, webhook = rows["node peer"], rows["webhook"]
            notes.append(
                f"node peer (Node.js {subprocess.run([node, '--version'], capture_output=True, text=True).stdout.strip()}, dev/bench-node): "
                f"init {peer['init_ms'] / webhook['init_ms']:.1f}× the webhook's; it creates the DynamoDB, Secrets Manager and Mesh "
                "clients at init and its handler only answers (as bench-hello does), so its first-response and warm columns "
                "are the runtime's alone; binary MB = the package unzipped (index.js and node_modules)")
        if args.receive_line:
            notes.append(args.receive_line.strip())
        lines += [f"- {n}" for n in notes]
        rust = [r for name, r in rows.items() if name not in ("bench-hello", "node peer")]
        targets = [
            ("init ≤ 1.2× hello", all(r["init_ms"] <= 1.2 * base["init_ms"] for r in rust)),
            ("first response ≤ 50 ms", all(r["first_ms"] <= 50 for r in rust)),
            ("zip < 2.4 MB", all(r["zip_mb"] < 2.4 for r in rust)),
            ("peak RSS ≤ 30 MB", all(r["rss_mb"] <= 30 for r in rust)),
            ("no event lost or applied twice", exactly_once),
        ]
        lines.append("- targets: " + "; ".join(f"{t}: {'met' if ok else 'MISSED'}" for t, ok in targets))
        table = "\n".join(lines)
        print(table)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table + "\n")
    finally:
        for p in (sandbox, moto):
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
