#!/usr/bin/env python3
"""Counting backend: a plaintext server that records what reaches it.

--count-file F   holds the number of connections accepted so far; written
                 as 0 at start and rewritten (atomically) on each accept.
--record-dir D   for connection N (from 1) writes D/conn-N when it is done:
                 "received=B sha256=H end=eof|reset|error:... sent=S
                 sent_sha256=H2"; D/conn-N.open is created on accept.
Behaviour per connection (all optional, combinable):
--echo                 send back everything received
--send N               on accept, send N pseudo-random bytes (concurrently
                       with reading)
--shut-wr-after-send   after --send finished, shutdown(SHUT_WR) while still
                       reading (the backend closes its direction first)
--reply-after-eof N    after the peer's EOF, send N pseudo-random bytes
Otherwise the connection is read until EOF, then closed. The process exits
after --lifetime seconds."""

import argparse
import os
import socket
import threading

import toolslib

lock = threading.Lock()
count = 0


def send_random(conn, n, seed, hasher):
    for chunk in toolslib.data_source(n, seed=seed):
        conn.sendall(chunk)
        hasher.update(chunk)


def serve(conn, idx, args):
    recv_h = toolslib.Hasher()
    sent_h = toolslib.Hasher()
    end = "eof"
    sender = None
    send_err = []

    def do_send():
        try:
            send_random(conn, args.send, args.seed, sent_h)
            if args.shut_wr_after_send:
                conn.shutdown(socket.SHUT_WR)
        except OSError as e:
            send_err.append(type(e).__name__)

    try:
        if args.send:
            sender = threading.Thread(target=do_send, daemon=True)
            sender.start()
        end = toolslib.read_to_eof(conn, recv_h, sent_h if args.echo else None)
        if sender:
            sender.join()
        if end == "eof" and args.reply_after_eof:
            send_random(conn, args.reply_after_eof, args.seed, sent_h)
        if end == "eof":
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
    except OSError as e:
        end = "error:" + type(e).__name__
    finally:
        conn.close()
    if send_err:
        end += ",send_error:" + send_err[0]
    if args.record_dir:
        toolslib.write_atomic(
            os.path.join(args.record_dir, "conn-%d" % idx),
            "received=%d sha256=%s end=%s sent=%d sent_sha256=%s\n"
            % (recv_h.n, recv_h.hexdigest(), end, sent_h.n, sent_h.hexdigest()))


def main():
    global count
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--count-file")
    ap.add_argument("--record-dir")
    ap.add_argument("--echo", action="store_true")
    ap.add_argument("--send", type=toolslib.parse_size, default=0)
    ap.add_argument("--shut-wr-after-send", action="store_true")
    ap.add_argument("--reply-after-eof", type=toolslib.parse_size, default=0)
    ap.add_argument("--seed", type=int, default=None, help="seed for the data sent (default random)")
    ap.add_argument("--lifetime", type=float, default=300, help="seconds before exiting (default 300)")
    args = ap.parse_args()
    toolslib.lifetime(args.lifetime)
    if args.record_dir:
        os.makedirs(args.record_dir, exist_ok=True)
    if args.count_file:
        toolslib.write_atomic(args.count_file, "0\n")
    lsock = toolslib.listen(args.listen)
    while True:
        conn, _ = lsock.accept()
        with lock:
            count += 1
            idx = count
            if args.count_file:
                toolslib.write_atomic(args.count_file, "%d\n" % count)
        if args.record_dir:
            open(os.path.join(args.record_dir, "conn-%d.open" % idx), "w").close()
        threading.Thread(target=serve, args=(conn, idx, args), daemon=True).start()


if __name__ == "__main__":
    main()
