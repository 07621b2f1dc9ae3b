#!/usr/bin/env python3
"""Hold connections: opens connections to --connect (an echo service behind
it) one after the other and keeps them open, until one fails or --max are
held. A connection counts as held once a short line sent on it came back
(so the whole path behind it is set up). With --silent nothing is sent: a
connection counts as held when the peer has not closed or reset it within
--settle s. The first failure, and --extra more attempts after it, are
classified as
  reset|eof|timeout|refused|bad
(each attempt gives up after --probe-timeout s) with the time it took.
Then writes --state-file:
  held=N first=R first_elapsed=S extra=K extra_results=R,R,... max_elapsed=S
and waits for --stop-file (at most --timeout s). Before closing, every held
connection is checked again with another echoed line (--silent: that it is
still open); prints:
  held=N alive=M first=R ...   (the state line with alive= added)
and closes them all (FIN). Exit status 0 in every case."""

import argparse
import os
import select
import socket
import time

import toolslib


def probe(sock, payload, timeout):
    sock.settimeout(timeout)
    try:
        sock.sendall(payload)
        got = bytearray()
        while len(got) < len(payload):
            d = sock.recv(len(payload) - len(got))
            if not d:
                return "eof"
            got += d
        return "ok" if bytes(got) == payload else "bad"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError:
        return "reset"


def silent_probe(sock, settle):
    """'ok' if the peer neither closed nor reset SOCK within SETTLE s."""
    r, _, _ = select.select([sock], [], [], settle)
    if not r:
        return "ok"
    try:
        return "bad" if sock.recv(1) else "eof"
    except ConnectionResetError:
        return "reset"
    except OSError:
        return "reset"


def attempt(addr, idx, timeout, settle=None):
    start = time.monotonic()
    try:
        sock = toolslib.connect(addr, timeout=timeout)
    except ConnectionResetError:
        return None, "reset", time.monotonic() - start
    except OSError:
        return None, "refused", time.monotonic() - start
    if settle is not None:
        r = silent_probe(sock, settle)
    else:
        r = probe(sock, b"hold %d\n" % idx, timeout)
    el = time.monotonic() - start
    if r != "ok":
        sock.close()
        return None, r, el
    return sock, r, el


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--max", type=int, default=200)
    ap.add_argument("--extra", type=int, default=5)
    ap.add_argument("--probe-timeout", type=float, default=5)
    ap.add_argument("--silent", action="store_true", help="send nothing; see --settle")
    ap.add_argument("--settle", type=float, default=0.5)
    ap.add_argument("--state-file", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    toolslib.lifetime(args.timeout + args.probe_timeout * (args.max + args.extra) + 10)

    settle = args.settle if args.silent else None
    held = []
    first, first_el = "none", 0.0
    for i in range(args.max):
        sock, r, el = attempt(args.connect, i, args.probe_timeout, settle)
        if sock is None:
            first, first_el = r, el
            break
        held.append(sock)
    extra = []
    max_el = first_el
    if first != "none":
        for i in range(args.extra):
            time.sleep(0.05)
            sock, r, el = attempt(args.connect, 10000 + i, args.probe_timeout, settle)
            if sock is not None:
                held.append(sock)  # should not happen while exhausted
            extra.append(r)
            max_el = max(max_el, el)
    state = "held=%d first=%s first_elapsed=%.3f extra=%d extra_results=%s max_elapsed=%.3f" % (
        len(held), first, first_el, len(extra), ",".join(extra) or "-", max_el)
    toolslib.write_atomic(args.state_file, state + "\n")
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(args.stop_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    if args.silent:
        alive = sum(1 for s in held if silent_probe(s, 0) == "ok")
    else:
        alive = sum(1 for i, s in enumerate(held) if probe(s, b"again %d\n" % i, args.probe_timeout) == "ok")
    for s in held:
        s.close()
    toolslib.out("held=%d alive=%d %s" % (len(held), alive, state.split(" ", 1)[1]))


if __name__ == "__main__":
    main()
