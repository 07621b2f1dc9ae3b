#!/usr/bin/env python3
"""Split proxy: a TCP relay that hands the client's first TLS record (the
ClientHello) to the server one byte per send(), with TCP_NODELAY and
--delay seconds between bytes, so that every byte travels in a TCP segment
of its own; after that it relays both ways as they come (half-close passed
on as shutdown(SHUT_WR), a reset as a reset).

Prints one line per connection once its first record went out:
  conn=N split=BYTES sends=COUNT elapsed=S
The process exits after --lifetime seconds."""

import argparse
import socket
import struct
import threading
import time

import toolslib

lock = threading.Lock()


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        d = sock.recv(n - len(buf))
        if not d:
            return bytes(buf)
        buf += d
    return bytes(buf)


def pipe(src, dst):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            dst.sendall(d)
    except OSError:
        for s in (src, dst):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)  # wakes the other direction
            except OSError:
                pass


def handle(client, idx, args):
    try:
        upstream = toolslib.connect(args.connect, timeout=30)
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = recv_exact(client, 5)
        body = recv_exact(client, struct.unpack("!H", head[3:5])[0]) if len(head) == 5 else b""
        first = head + body
        start = time.monotonic()
        for i in range(len(first)):
            upstream.send(first[i:i + 1])
            time.sleep(args.delay)
        with lock:
            toolslib.out("conn=%d split=%d sends=%d elapsed=%.3f" % (
                idx, len(first), len(first), time.monotonic() - start))
    except OSError as e:
        with lock:
            toolslib.out("conn=%d error=%s" % (idx, type(e).__name__))
        client.close()
        return
    t = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
    t.start()
    pipe(client, upstream)
    t.join()
    for s in (client, upstream):
        try:
            s.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--connect", required=True)
    ap.add_argument("--delay", type=float, default=0.002, help="seconds between single-byte sends")
    ap.add_argument("--lifetime", type=float, default=120)
    args = ap.parse_args()
    toolslib.lifetime(args.lifetime)
    lsock = toolslib.listen(args.listen)
    n = 0
    while True:
        c, _ = lsock.accept()
        n += 1
        threading.Thread(target=handle, args=(c, n, args), daemon=True).start()


if __name__ == "__main__":
    main()
