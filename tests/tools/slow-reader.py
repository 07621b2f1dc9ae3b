#!/usr/bin/env python3
"""Slow reader: connects (optionally sending --data first), reads nothing for
--stall seconds (then creates the file --stall-mark, if given), then reads
the first --slow-bytes bytes at about --rate bytes per second, then the rest
as fast as it can until EOF. A small --rcvbuf keeps the kernel from hiding
the slowness. Prints:
  recv=N recv_sha256=H end=eof|reset|timeout|error:NAME elapsed=S"""

import argparse
import socket
import time

import toolslib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--data", help="send this first (then half-close)")
    ap.add_argument("--stall", type=float, default=0)
    ap.add_argument("--stall-mark", help="create this file when the stall ends, before the first read")
    ap.add_argument("--slow-bytes", type=toolslib.parse_size, default=0)
    ap.add_argument("--rate", type=toolslib.parse_size, default=1 << 20, help="bytes/s while slow")
    ap.add_argument("--rcvbuf", type=toolslib.parse_size, default=0)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    toolslib.lifetime(args.timeout + 5)

    family, addr = toolslib.parse_addr(args.connect)
    sock = socket.socket(family, socket.SOCK_STREAM)
    if args.rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    sock.settimeout(args.timeout)
    sock.connect(addr)
    start = time.monotonic()
    if args.data is not None:
        sock.sendall(args.data.encode())
        sock.shutdown(socket.SHUT_WR)
    h = toolslib.Hasher()
    end = "eof"
    time.sleep(args.stall)
    if args.stall_mark:
        open(args.stall_mark, "w").close()
    step = 4096
    try:
        while h.n < args.slow_bytes:
            data = sock.recv(min(step, args.slow_bytes - h.n))
            if not data:
                break
            h.update(data)
            time.sleep(len(data) / args.rate)
        else:
            end = toolslib.read_to_eof(sock, h)
    except ConnectionResetError:
        end = "reset"
    except socket.timeout:
        end = "timeout"
    sock.close()
    toolslib.out("recv=%d recv_sha256=%s end=%s elapsed=%.3f"
                 % (h.n, h.hexdigest(), end, time.monotonic() - start))


if __name__ == "__main__":
    main()
