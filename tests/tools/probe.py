#!/usr/bin/env python3
"""Probe: tells a reset from a clean EOF. Connects, optionally sends --send
TEXT (or --trickle N single bytes, one every --interval seconds), optionally
half-closes (--shut-wr), and reads until EOF, reset, --timeout, or (with
--expect N) N bytes received. Prints:
  eof|reset|timeout|expect|refused recv=N elapsed=S local=ADDR
("refused" when the connect itself fails). --out FILE keeps what was
received. Exit status 0 in every case."""

import argparse
import socket
import threading
import time

import toolslib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--send", help="text to send after connecting")
    ap.add_argument("--trickle", type=int, default=0, help="send this many single bytes")
    ap.add_argument("--interval", type=float, default=0.2, help="seconds between trickled bytes")
    ap.add_argument("--shut-wr", action="store_true", help="half-close after sending")
    ap.add_argument("--expect", type=int, default=None, help="stop after this many bytes")
    ap.add_argument("--out", help="write the bytes received to this file")
    ap.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args()
    toolslib.lifetime(args.timeout + args.trickle * args.interval + 5)

    start = time.monotonic()
    try:
        sock = toolslib.connect(args.connect, timeout=args.timeout)
    except ConnectionResetError:
        # accepted and reset before connect() even returned
        toolslib.out("reset recv=0 elapsed=%.3f local=-" % (time.monotonic() - start))
        return
    except OSError as e:
        toolslib.out("refused recv=0 elapsed=%.3f error=%s" % (time.monotonic() - start, type(e).__name__))
        return
    local = toolslib.local_name(sock)

    def do_send():
        try:
            if args.send:
                sock.sendall(args.send.encode())
            for _ in range(args.trickle):
                sock.sendall(b".")
                time.sleep(args.interval)
            if args.shut_wr:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=do_send, daemon=True)
    t.start()
    got = bytearray()
    result = "eof"
    deadline = start + args.timeout + args.trickle * args.interval
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                break
            got += data
            if args.expect is not None and len(got) >= args.expect:
                result = "expect"
                break
    except ConnectionResetError:
        result = "reset"
    except socket.timeout:
        result = "timeout"
    sock.close()
    if args.out:
        with open(args.out, "wb") as f:
            f.write(got)
    toolslib.out("%s recv=%d elapsed=%.3f local=%s" % (result, len(got), time.monotonic() - start, local))


if __name__ == "__main__":
    main()
