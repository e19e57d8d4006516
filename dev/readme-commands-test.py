#!/usr/bin/env python3
"""The README's shell commands, run as a newcomer would paste them into a second terminal while `make dev`
runs, so that they cannot rot. `make test` runs it against the browser test's stack (dev/demo/browser-test.sh);
against a running `make dev`:

  python3 dev/readme-commands-test.py

Every ```sh / ```bash block of README.md runs, in order, in one bash (variables carry over from block to block,
as in one terminal), from the repository root, with make dev's ports replaced by the stack's (LAMBDA_PORT,
SANDBOX_PORT, MOTO_PORT, DEMO_PORT; make dev's when unset). The environment is a fresh terminal's: no
.dev/venv on PATH, none of dev/lib.sh's AWS variables. `curl` fails on an HTTP error status. A block that is
not meant to run against the stack is marked on the line before its fence:

  <!-- readme-test: skip (why) -->

The test fails when a block fails, when a skip gives no reason, when nothing ran, or when the event fixtures'
transfer did not reach `succeeded` (the README's webhook fixture applies it). Stdlib only.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PORTS = {"LAMBDA_PORT": "9000", "SANDBOX_PORT": "8787", "MOTO_PORT": "5005", "DEMO_PORT": "8080"}
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\s*(?:\((?P<why>[^)]*)\))?\s*-->\s*$")
SHELLS = {"sh", "bash", "shell"}
FIXTURE_EVENT = os.path.join(ROOT, "events", "local", "webhook-succeeded.json")


def blocks(markdown):
    """(line number, info string, code, skip reason or None) for every fenced block."""
    lines = markdown.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i + 1, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        skip = SKIP.match(prev.strip())
        reason = None if not skip else (skip.group("why") or "").strip()
        out.append((start, lang, "\n".join(lines[i + 1:j]), reason))
        i = j + 1
    return out


def with_ports(code, ports):
    for name, default in DEFAULT_PORTS.items():
        code = code.replace("127.0.0.1:%s" % default, "127.0.0.1:%s" % ports[name])
        code = code.replace("localhost:%s" % default, "localhost:%s" % ports[name])
    return code.replace("--invoke-port %s" % DEFAULT_PORTS["LAMBDA_PORT"], "--invoke-port %s" % ports["LAMBDA_PORT"])


def fresh_terminal_env(ports):
    """A new terminal's environment: the user's PATH without .dev/venv, no AWS_* from dev/lib.sh."""
    venv = os.path.join(ROOT, ".dev", "venv", "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and os.path.abspath(p) != venv]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAM_CLI_"))}
    env.update(ports, PATH=os.pathsep.join(path))
    return env


def fixture_transfer_status(ports):
    body = json.loads(json.load(open(FIXTURE_EVENT))["body"])
    url = "http://127.0.0.1:%s/lambda-url/link-token/transfers/%s" % (ports["LAMBDA_PORT"], body["TransactionId"])
    req = urllib.request.Request(url, headers={"x-local-user": body["UserId"]})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)["status"]


def main():
    ports = {k: os.environ.get(k) or v for k, v in DEFAULT_PORTS.items()}
    found = [b for b in blocks(open(os.path.join(ROOT, "README.md")).read()) if b[1] in SHELLS]
    run = [b for b in found if b[3] is None]
    skipped = [b for b in found if b[3] is not None]
    unexplained = [line for line, _, _, why in skipped if not why]
    if unexplained:
        sys.exit("README.md: a readme-test skip needs a reason, e.g. <!-- readme-test: skip (needs AWS) --> "
                 "(blocks at lines %s)" % ", ".join(map(str, unexplained)))
    if not run:
        sys.exit("README.md has no shell block to run")

    script = ["set -euo pipefail", "curl() { command curl --fail-with-body \"$@\"; }"]
    for line, _, code, _ in run:
        script += ["printf '\\n\\033[1m## README.md:%d\\033[0m\\n'" % line, with_ports(code, ports)]
    started = time.monotonic()
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=ROOT, env=fresh_terminal_env(ports),
                          stdin=subprocess.DEVNULL, timeout=600)
    print("\nREADME commands: %d blocks run in %.0f s, %d skipped:" % (len(run), time.monotonic() - started,
                                                                      len(skipped)))
    for line, _, _, why in skipped:
        print("  README.md:%d  skipped (%s)" % (line, why))
    if proc.returncode != 0:
        print("FAIL  a README block failed (exit %d): the last '## README.md:N' above is the one" % proc.returncode)
        print("0 passed, 1 failed")
        return 1
    status = fixture_transfer_status(ports)
    if status != "succeeded":
        print("FAIL  the events/local fixtures' transfer is %r after the README's commands, not 'succeeded'" % status)
        print("0 passed, 1 failed")
        return 1
    print("ok    every README block ran; the events/local fixtures' transfer is succeeded")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
