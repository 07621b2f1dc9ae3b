#!/usr/bin/env python3
"""Gated sender: connects to --connect (an echo service behind it), proves
the path works with a short line that must come back, creates --ready-file,
then waits (idle) until --go-file exists, and only then sends --size seeded
bytes, half-closes, and reads everything back until EOF, concurrently.
Prints, like sender.py:
  sent=N sent_sha256=H recv=M recv_sha256=H2 end=eof|reset|timeout|error:...
  wire_sha256=H3
(the ready line is not counted, except in wire_sha256: the SHA-256 of every
byte sent on the connection, ready line first). Gives up after --timeout s."""

import argparse
import os
import socket
import threading
import time

import toolslib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--size", type=toolslib.parse_size, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--go-file", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    toolslib.lifetime(args.timeout + 5)
    deadline = time.monotonic() + args.timeout

    sock = toolslib.connect(args.connect, timeout=args.timeout)
    hello = b"ready?\n"
    sock.sendall(hello)
    got = b""
    while len(got) < len(hello):
        d = sock.recv(len(hello) - len(got))
        if not d:
            toolslib.out("sent=0 recv=0 end=early-eof")
            return
        got += d
    if got != hello:
        toolslib.out("sent=0 recv=0 end=bad-hello")
        return
    open(args.ready_file, "w").close()
    while not os.path.exists(args.go_file):
        if time.monotonic() > deadline:
            toolslib.out("sent=0 recv=0 end=no-go")
            return
        time.sleep(0.05)

    sock.settimeout(max(1.0, deadline - time.monotonic()))
    sent = toolslib.Hasher()
    wire = toolslib.Hasher()
    wire.update(hello)
    recv = toolslib.Hasher()
    result = {"end": "eof", "send_error": None}

    def do_send():
        try:
            for chunk in toolslib.data_source(args.size, seed=args.seed):
                sock.sendall(chunk)
                sent.update(chunk)
                wire.update(chunk)
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            result["send_error"] = type(e).__name__

    t = threading.Thread(target=do_send, daemon=True)
    t.start()
    result["end"] = toolslib.read_to_eof(sock, recv)
    t.join(5)
    sock.close()
    line = "sent=%d sent_sha256=%s recv=%d recv_sha256=%s end=%s wire_sha256=%s" % (
        sent.n, sent.hexdigest(), recv.n, recv.hexdigest(), result["end"], wire.hexdigest())
    if result["send_error"]:
        line += " send_error=" + result["send_error"]
    toolslib.out(line)


if __name__ == "__main__":
    main()
