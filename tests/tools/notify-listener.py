#!/usr/bin/env python3
"""sd_notify listener: binds an AF_UNIX SOCK_DGRAM socket at --socket (what
NOTIFY_SOCKET names; a leading '@' means the abstract namespace) and appends
every datagram it receives to --out, one line per assignment, each prefixed
with the datagram's sequence number and its sender's PID when the kernel
tells it (SO_PASSCRED):
  N PID READY=1
  N PID STATUS=1 service, 0 connections
The file is flushed after each datagram. Exits after --lifetime seconds."""

import argparse
import os
import socket
import struct

import toolslib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lifetime", type=float, default=120)
    args = ap.parse_args()
    toolslib.lifetime(args.lifetime)
    path = args.socket
    if path.startswith("@"):
        path = "\0" + path[1:]
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    n = 0
    with open(args.out, "a") as out:
        while True:
            data, anc, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(12))
            pid = "-"
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = str(struct.unpack("iII", cdata[:12])[0])
            n += 1
            for line in data.decode(errors="replace").split("\n"):
                if line:
                    out.write("%d %s %s\n" % (n, pid, line))
            out.flush()


if __name__ == "__main__":
    main()
