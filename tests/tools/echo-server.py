#!/usr/bin/env python3
"""Plaintext echo server: every byte received is sent back; on EOF from the
peer it finishes echoing, shuts down its write side and closes.

Each connection is served in its own thread. The process exits after
--lifetime seconds whatever happens."""

import argparse
import socket
import threading

import toolslib


def serve(conn):
    try:
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--lifetime", type=float, default=300, help="seconds before exiting (default 300)")
    args = ap.parse_args()
    toolslib.lifetime(args.lifetime)
    lsock = toolslib.listen(args.listen)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
