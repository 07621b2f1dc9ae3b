#!/usr/bin/env python3
"""Drive an interactive client (gnutls-cli, openssl s_client, ...): start
COMMAND, write --send TEXT to its stdin and keep stdin open until its stdout
contains --until TEXT (or it exits, or --timeout passes); then close stdin,
give it --grace seconds to exit, kill it if needed, and print everything it
wrote to stdout. Exit status 0 if --until was seen, 1 otherwise.
usage: drive.py --send TEXT --until TEXT [--timeout S] -- COMMAND ARGS..."""

import argparse
import subprocess
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--send", default="")
    ap.add_argument("--until", required=True)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--grace", type=float, default=3)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    got = bytearray()
    seen = threading.Event()

    def reader():
        while True:
            data = proc.stdout.read1(65536)
            if not data:
                break
            got.extend(data)
            if args.until.encode() in got:
                seen.set()
        seen.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        proc.stdin.write(args.send.encode())
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    deadline = time.monotonic() + args.timeout
    while not seen.wait(0.05) and time.monotonic() < deadline:
        pass
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    try:
        proc.wait(args.grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    t.join(1)
    sys.stdout.write(got.decode(errors="replace"))
    sys.stdout.flush()
    return 0 if args.until.encode() in got else 1


if __name__ == "__main__":
    sys.exit(main())
