#!/usr/bin/env python3
"""Sender client: connects, sends data, half-closes (shutdown SHUT_WR), and
concurrently reads everything until EOF. Prints one line:
  sent=N sent_sha256=H recv=M recv_sha256=H2 end=eof|reset|timeout|error:...
  local=ADDR [send_error=...]
Data is --size N bytes (pseudo-random, --seed for reproducible), or --file F,
or --data TEXT. With --recv-first, everything is read until EOF before the
first byte is sent (the peer closes its direction first). Streams: memory use
does not grow with size. Gives up after --timeout seconds (end=timeout)."""

import argparse
import socket
import sys
import threading

import toolslib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--size", type=toolslib.parse_size, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--file")
    ap.add_argument("--data")
    ap.add_argument("--recv-first", action="store_true", help="read until EOF, then send")
    ap.add_argument("--no-shutdown", action="store_true", help="do not half-close after sending")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    toolslib.lifetime(args.timeout + 5)

    try:
        sock = toolslib.connect(args.connect, timeout=args.timeout)
    except ConnectionResetError:
        # accepted and reset before connect() even returned: nothing was
        # sent or received
        empty = toolslib.Hasher().hexdigest()
        toolslib.out("sent=0 sent_sha256=%s recv=0 recv_sha256=%s end=reset "
                     "local=-" % (empty, empty))
        return 0
    local = toolslib.local_name(sock)
    sent = toolslib.Hasher()
    recv = toolslib.Hasher()
    result = {"end": "eof", "send_error": None}

    def do_send():
        try:
            if args.data is not None:
                chunks = [args.data.encode()]
            else:
                chunks = toolslib.data_source(args.size, seed=args.seed, path=args.file)
            for chunk in chunks:
                sock.sendall(chunk)
                sent.update(chunk)
            if not args.no_shutdown:
                sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            result["send_error"] = type(e).__name__

    def do_recv():
        result["end"] = toolslib.read_to_eof(sock, recv)

    if args.recv_first:
        do_recv()
        do_send()
    else:
        t = threading.Thread(target=do_send, daemon=True)
        t.start()
        do_recv()
        t.join(args.timeout)
    sock.close()
    line = "sent=%d sent_sha256=%s recv=%d recv_sha256=%s end=%s local=%s" % (
        sent.n, sent.hexdigest(), recv.n, recv.hexdigest(), result["end"], local)
    if result["send_error"]:
        line += " send_error=" + result["send_error"]
    toolslib.out(line)


if __name__ == "__main__":
    sys.exit(main())
