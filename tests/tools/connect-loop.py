#!/usr/bin/env python3
"""Connect loop: connects to --connect again and again until --stop-file
exists (or --duration seconds passed), with --parallel loops at once. Each
connection sends a few bytes, half-closes and must read the same bytes back
(an echo service behind the address) followed by a clean EOF. Prints one
line when done:
  attempts=N ok=N refused=N reset=N bad=N timeout=N
(refused: the connect itself failed; reset: ECONNRESET at any point; bad:
wrong bytes back or EOF too early; timeout: --timeout per connection
passed). Exit status 0 in every case; the caller judges the counts."""

import argparse
import os
import socket
import threading
import time

import toolslib

lock = threading.Lock()
counts = {"attempts": 0, "ok": 0, "refused": 0, "reset": 0, "bad": 0, "timeout": 0}


def one(addr, payload, timeout):
    try:
        sock = toolslib.connect(addr, timeout=timeout)
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError:
        return "refused"
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            d = sock.recv(65536)
            if not d:
                break
            got.extend(d)
        return "ok" if bytes(got) == payload else "bad"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError:
        return "bad"
    finally:
        sock.close()


def loop(args, idx, deadline):
    n = 0
    while time.monotonic() < deadline:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        payload = ("loop %d conn %d\n" % (idx, n)).encode() * 8
        n += 1
        r = one(args.connect, payload, args.timeout)
        with lock:
            counts["attempts"] += 1
            counts[r] += 1
        if args.interval:
            time.sleep(args.interval)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--stop-file", help="stop once this file exists")
    ap.add_argument("--duration", type=float, default=30, help="stop after this many seconds at most")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--interval", type=float, default=0, help="pause between connections of one loop")
    ap.add_argument("--timeout", type=float, default=10, help="per connection")
    ap.add_argument("--started-file", help="created once the first connection finished")
    args = ap.parse_args()
    toolslib.lifetime(args.duration + args.timeout + 10)
    deadline = time.monotonic() + args.duration
    threads = [threading.Thread(target=loop, args=(args, i, deadline), daemon=True)
               for i in range(args.parallel)]
    for t in threads:
        t.start()
    if args.started_file:
        while time.monotonic() < deadline:
            with lock:
                if counts["attempts"]:
                    break
            time.sleep(0.01)
        open(args.started_file, "w").close()
    for t in threads:
        t.join()
    toolslib.out(" ".join("%s=%d" % (k, counts[k]) for k in
                          ("attempts", "ok", "refused", "reset", "bad", "timeout")))


if __name__ == "__main__":
    main()
