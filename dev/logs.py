#!/usr/bin/env python3
"""`make logs`: follows what `make dev` writes to .dev/logs/, as one readable, coloured stream.

  functions   the three functions under cargo lambda watch (their log lines, cargo's build lines dimmed,
              each invocation's metrics as one short line)
  sandbox     the Mesh sandbox: link tokens, transfers, webhook deliveries and their answers
  page        the demo page's requests
  moto        DynamoDB and Secrets Manager requests (only with --all: one line per request)

  python3 dev/logs.py [--all] [--from-start] [--dir .dev/logs]

Stdlib only. Starts at the end of each file unless --from-start; follows a file that make dev recreates.
"""
import argparse
import json
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLOUR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
SOURCES = {"functions": "36", "sandbox": "35", "page": "34", "moto": "90"}  # cyan, magenta, blue, grey
FILES = {"functions": "functions.log", "sandbox": "mesh-sandbox.log", "page": "demo-page.log", "moto": "moto.log"}
LEVELS = {"ERROR": "1;31", "WARN": "33", "INFO": "32", "DEBUG": "90", "TRACE": "90"}
# A tracing line: "2026-11-28T23:50:00.123456Z  INFO message key=value" (cargo-lambda's own have no time).
TRACING = re.compile(r"^(?:\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)\.\d+Z)?\s*(ERROR|WARN|INFO|DEBUG|TRACE)\s+(.*)$")
CARGO = re.compile(r"^\s*(Compiling|Finished|Running|Blocking|Checking|Building|warning:|\s*-->)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def paint(code, text):
    return "\x1b[%sm%s\x1b[0m" % (code, text) if COLOUR and code else text


def metrics_line(line):
    """An EMF object (the functions' metrics) as `metrics Name{Dim=value}=n, ...`, or None."""
    if not line.startswith('{"_aws"'):
        return None
    try:
        doc = json.loads(line)
        directives = doc["_aws"]["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError):
        return None
    parts = []
    for directive in directives:
        dims = [d for group in directive.get("Dimensions", []) for d in group if d != "Function"]
        label = ",".join("%s=%s" % (d, doc[d]) for d in dims if d in doc)
        for m in directive.get("Metrics", []):
            name = m.get("Name")
            parts.append("%s%s=%s" % (name, "{%s}" % label if label else "", doc.get(name)))
    return "%s metrics %s" % (doc.get("Function", ""), ", ".join(parts))


LAST_STAMP = {}


def render(source, raw):
    line = ANSI.sub("", raw.rstrip("\n"))
    if not line.strip():
        return None
    # Lines without a time of their own (cargo's, the metrics) take the source's last one.
    stamp, level, text = LAST_STAMP.get(source) or time.strftime("%H:%M:%S"), None, line
    m = TRACING.match(line)
    if m:
        stamp, level, text = m.group(1) or stamp, m.group(2), m.group(3)
        LAST_STAMP[source] = stamp
    if source == "functions":
        metrics = metrics_line(line)
        if metrics:
            return "%s %s %s" % (paint("90", stamp), paint(SOURCES[source], "%-9s" % source), paint("90", metrics))
        if not m and CARGO.match(line):
            return "%s %s %s" % (paint("90", stamp), paint(SOURCES[source], "%-9s" % source), paint("90", line.strip()))
    level_text = paint(LEVELS.get(level, ""), "%-5s" % level) if level else "     "
    if level == "ERROR":
        text = paint("31", text)
    return "%s %s %s %s" % (paint("90", stamp), paint(SOURCES[source], "%-9s" % source), level_text, text)


class Follower:
    """tail -F for one file: new lines as they come, reopening when the file is replaced or truncated."""

    def __init__(self, path, from_start):
        self.path, self.handle, self.inode, self.from_start, self.partial = path, None, None, from_start, ""

    def lines(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self.handle is None or st.st_ino != self.inode or st.st_size < self.handle.tell():
            if self.handle:
                self.handle.close()
            first_open = self.inode is None
            self.handle, self.inode = open(self.path, "r", errors="replace"), st.st_ino
            if first_open and not self.from_start:
                self.handle.seek(0, os.SEEK_END)
        chunk = self.handle.read()
        if not chunk:
            return []
        text = self.partial + chunk
        lines = text.split("\n")
        self.partial = lines.pop()
        return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="include moto's request lines")
    ap.add_argument("--from-start", action="store_true", help="print what the files already hold first")
    ap.add_argument("--dir", default=os.path.join(ROOT, ".dev", "logs"))
    args = ap.parse_args()
    sources = [s for s in FILES if args.all or s != "moto"]
    followers = {s: Follower(os.path.join(args.dir, FILES[s]), args.from_start) for s in sources}
    print(paint("1", "following %s in %s (Ctrl-C stops)" % (", ".join(sources), os.path.relpath(args.dir))), flush=True)
    try:
        while True:
            printed = False
            for source, follower in followers.items():
                for raw in follower.lines():
                    out = render(source, raw)
                    if out:
                        print(out)
                        printed = True
            if printed:
                sys.stdout.flush()
            else:
                time.sleep(0.2)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
