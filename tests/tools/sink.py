#!/usr/bin/env python3
"""Sink: accepts connections and reads each until the peer closes, then
writes "bytes=N sha256=H end=eof|reset" for it to --out (connection N > 1
goes to OUT.N) and closes. Streams: memory use does not grow with size.
The process exits after --lifetime seconds."""

import argparse
import threading

import toolslib


def serve(conn, path):
    h = toolslib.Hasher()
    try:
        end = toolslib.read_to_eof(conn, h)
    finally:
        conn.close()
    toolslib.write_atomic(path, "bytes=%d sha256=%s end=%s\n" % (h.n, h.hexdigest(), end))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--out", required=True, help="result file")
    ap.add_argument("--lifetime", type=float, default=300, help="seconds before exiting (default 300)")
    args = ap.parse_args()
    toolslib.lifetime(args.lifetime)
    lsock = toolslib.listen(args.listen)
    n = 0
    while True:
        conn, _ = lsock.accept()
        n += 1
        path = args.out if n == 1 else "%s.%d" % (args.out, n)
        threading.Thread(target=serve, args=(conn, path), daemon=True).start()


if __name__ == "__main__":
    main()
