#!/usr/bin/env python3
"""Fault backend: a plaintext server whose connections misbehave on script.

--script "BEHAVIOUR,BEHAVIOUR,..." gives the behaviour of connection 1, 2,
...; the last one repeats. Behaviours:
  echo      send back everything received; at EOF shut down the write half
  reset:N   read N bytes (or until EOF), then close with SO_LINGER 0 (the
            peer gets a TCP RST while it may still be sending)
  stuck     accept and never read nor write; keep the socket until the peer
            goes away (seen as POLLHUP/POLLERR/POLLRDHUP, nothing is read) or
            the process ends
--rcvbuf N sets SO_RCVBUF on the listening socket (inherited by accepted
ones), so a stuck connection fills up sooner.
--count-file F holds the number of connections accepted so far (0 at start).
--record-dir D: for connection N (from 1) D/conn-N.open is created on accept
and D/conn-N is written when it is done:
  behaviour=B received=BYTES sha256=H end=eof|reset|reset-by-us|hup|error:...
  sent=S sent_sha256=H2
(stuck: received=0; end=reset when the peer reset, hup when it closed).
The process exits after --lifetime seconds."""

import argparse
import os
import select
import socket
import struct
import threading

import toolslib

lock = threading.Lock()
count = 0


def record(args, idx, behaviour, recv_h, end, sent_h):
    if not args.record_dir:
        return
    toolslib.write_atomic(
        os.path.join(args.record_dir, "conn-%d" % idx),
        "behaviour=%s received=%d sha256=%s end=%s sent=%d sent_sha256=%s\n"
        % (behaviour, recv_h.n, recv_h.hexdigest(), end, sent_h.n, sent_h.hexdigest()))


def do_echo(conn, recv_h, sent_h):
    end = toolslib.read_to_eof(conn, recv_h, sent_h)
    if end != "eof":
        return end
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    return "eof"


def do_reset(conn, limit, recv_h):
    while recv_h.n < limit:
        try:
            data = conn.recv(min(65536, limit - recv_h.n))
        except ConnectionResetError:
            return "reset"
        if not data:
            break
        recv_h.update(data)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return "reset-by-us"


def do_stuck(conn):
    p = select.poll()
    p.register(conn, select.POLLRDHUP | select.POLLERR | select.POLLHUP)
    while True:
        for _, ev in p.poll():
            if ev & (select.POLLERR | select.POLLHUP):
                err = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                return "reset" if err else "hup"
            if ev & select.POLLRDHUP:
                return "hup"


def serve(conn, idx, behaviour, args):
    recv_h = toolslib.Hasher()
    sent_h = toolslib.Hasher()
    try:
        if behaviour == "echo":
            end = do_echo(conn, recv_h, sent_h)
        elif behaviour.startswith("reset:"):
            end = do_reset(conn, toolslib.parse_size(behaviour[6:]), recv_h)
        elif behaviour == "stuck":
            end = do_stuck(conn)
        else:
            end = "error:unknown-behaviour"
    except OSError as e:
        end = "error:" + type(e).__name__
    finally:
        conn.close()
    record(args, idx, behaviour, recv_h, end, sent_h)


def main():
    global count
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--script", default="echo")
    ap.add_argument("--rcvbuf", type=toolslib.parse_size, default=0)
    ap.add_argument("--count-file")
    ap.add_argument("--record-dir")
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    toolslib.lifetime(args.lifetime)
    script = [b.strip() for b in args.script.split(",") if b.strip()]
    if args.record_dir:
        os.makedirs(args.record_dir, exist_ok=True)
    if args.count_file:
        toolslib.write_atomic(args.count_file, "0\n")
    family, addr = toolslib.parse_addr(args.listen)
    lsock = socket.socket(family, socket.SOCK_STREAM)
    if family != socket.AF_UNIX:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.rcvbuf:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    lsock.bind(addr)
    lsock.listen(128)
    while True:
        conn, _ = lsock.accept()
        with lock:
            count += 1
            idx = count
        behaviour = script[min(idx, len(script)) - 1]
        if args.record_dir:
            open(os.path.join(args.record_dir, "conn-%d.open" % idx), "w").close()
        if args.count_file:
            toolslib.write_atomic(args.count_file, "%d\n" % idx)
        threading.Thread(target=serve, args=(conn, idx, behaviour, args), daemon=True).start()


if __name__ == "__main__":
    main()
