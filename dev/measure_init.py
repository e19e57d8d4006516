#!/usr/bin/env python3
"""Init time of a Lambda binary: from process start to its first poll of the Runtime API.

Serves a minimal Lambda Runtime API on loopback, starts the binary N times and prints the median,
min and max time to the first `GET /2018-06-01/runtime/invocation/next`. No invocation is handed out;
the process is stopped once it asks for one.

With --instructions, each binary is also run once under callgrind (valgrind) over the same span and
the instruction count is printed: repeatable on a busy machine, where milliseconds are not. With
--keep DIR the callgrind output is kept as DIR/callgrind.out.<binary name> for callgrind_annotate
(build with symbols to read it: `cargo build --profile profiling`).

  measure_init.py BINARY [BINARY ...] [--runs 15] [--instructions] [--keep DIR]
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Runtime(BaseHTTPRequestHandler):
    polled = threading.Event()
    polled_at = 0.0

    def do_GET(self):  # noqa: N802
        if self.path.endswith("/runtime/invocation/next"):
            Runtime.polled_at = time.perf_counter()
            Runtime.polled.set()
            time.sleep(5)  # hold the long poll; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def do_POST(self):  # noqa: N802
        # init errors land here
        length = int(self.headers.get("content-length", 0))
        sys.stderr.write(f"runtime API POST {self.path}: {self.rfile.read(length)[:300]!r}\n")
        Runtime.polled_at = time.perf_counter()
        Runtime.polled.set()
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def lambda_env(binary: str, port: int) -> dict:
    # A Lambda has none of these; each makes a TLS client load another root bundle at init.
    cleared = ("SSL_CERT_FILE", "SSL_CERT_DIR", "AWS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
    env = {k: v for k, v in os.environ.items() if k not in cleared}
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}",
        AWS_LAMBDA_FUNCTION_NAME=os.path.basename(os.path.dirname(binary)) or "fn",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_STREAM_NAME="local",
        AWS_LAMBDA_LOG_GROUP_NAME="local",
    )
    env.setdefault("AWS_REGION", "us-east-1")
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    env.setdefault("TRANSFERS_TABLE", "transfers")
    env.setdefault("MESH_SECRET_ID", "mesh/credentials")
    env.setdefault("MESH_ENV", "sandbox")
    env.setdefault("EVENT_BUS_NAME", "bench-bus")
    env.setdefault("DESTINATIONS", '[{"symbol":"USDC","network":"Base","address":"0x1111111111111111111111111111111111111111"}]')
    return env


def measure(binary: str, port: int, runs: int) -> list[float]:
    env = lambda_env(binary, port)
    times = []
    for _ in range(runs):
        Runtime.polled.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not Runtime.polled.wait(10):
            proc.kill()
            raise SystemExit(f"{binary} never polled the Runtime API")
        times.append((Runtime.polled_at - start) * 1000)
        proc.kill()
        proc.wait()
    return times


def callgrind(cmd: list, env: dict, out: str, until) -> int | None:
    """Runs `cmd` under callgrind until `until()` returns (True: stop it there), then stops it with SIGTERM,
    on which callgrind writes its totals to `out`; returns the instruction count, None when valgrind is
    missing or the run fails. Shared with dev/bench.py."""
    if not shutil.which("valgrind"):
        return None
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not until():
            return None
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        with open(out, errors="replace") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("totals:")), None)
    except FileNotFoundError:
        return None


def instructions(binary: str, port: int, keep: str | None) -> int | None:
    """Instructions from process start to the first poll, counted by callgrind."""
    out_dir = keep or tempfile.mkdtemp()
    Runtime.polled.clear()
    out = os.path.join(out_dir, f"callgrind.out.{os.path.basename(binary)}")
    total = callgrind([binary], lambda_env(binary, port), out, lambda: Runtime.polled.wait(600))
    if not keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--instructions", action="store_true", help="also count init instructions (callgrind)")
    parser.add_argument("--keep", help="keep the callgrind output files in this directory")
    args = parser.parse_args()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadingHTTPServer(("127.0.0.1", port), Runtime)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"{'binary':<40} {'size MB':>8} {'init median ms':>15} {'min':>7} {'max':>7} {'instructions':>13}")
    for b in args.binaries:
        t = measure(b, port, args.runs) if args.runs else [float("nan")]
        size = os.path.getsize(b) / 1e6
        count = instructions(b, port, args.keep) if args.instructions or args.keep else None
        counted = f"{count:,}" if count else "-"
        print(f"{b:<40} {size:>8.2f} {statistics.median(t):>15.2f} {min(t):>7.2f} {max(t):>7.2f} {counted:>13}")


if __name__ == "__main__":
    main()
