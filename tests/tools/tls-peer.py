#!/usr/bin/env python3
"""TLS peer (python ssl, i.e. OpenSSL) for testing sheath from the outside.

client: connect, handshake, send --data TEXT or --size N bytes, then read
  until --expect bytes arrived, EOF, or an error, then close. --truncate
  drops the TCP connection after --linger seconds without close_notify;
  --clean-close sends close_notify (after --expect bytes if given, else
  right after sending) and waits for the peer's. Prints one line:
    handshake=ok|fail version=V peer=SUBJECT sent=N sent_sha256=H recv=M
    recv_sha256=H2 end=eof|expect|closed|truncated|alert:...|reset|timeout
    error=...
server: accept connections (one thread each), handshake, then optionally
  --send N bytes (then --truncate: drop TCP without close_notify), and read
  until the peer closes (--echo sends everything back). --count-file and
  --record-dir as for counting-backend.py; a record reads
    handshake=ok|fail received=B sha256=H end=eof|truncated|reset|...
    sent=S sent_sha256=H2 peer=SUBJECT error=...
Both give up after --timeout / --lifetime seconds."""

import argparse
import os
import socket
import ssl
import threading
import time

import toolslib


def subject(cert):
    if not cert:
        return "-"
    parts = []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            parts.append("%s=%s" % ({"commonName": "CN", "organizationalUnitName": "OU"}.get(k, k), v))
    return ",".join(parts) or "-"


def context(server, args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    if args.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if server:
        if args.ca:
            ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if args.require_cert else (
            ssl.CERT_OPTIONAL if args.ca else ssl.CERT_NONE)
    else:
        if args.no_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(args.ca)
    return ctx


def drop_tcp(ssock):
    """Close the TCP connection under the TLS session without close_notify."""
    try:
        socket.socket.shutdown(ssock, socket.SHUT_RDWR)
    except OSError:
        pass
    socket.socket.close(ssock)


def read_until(ssock, hasher, expect=None, echo=False):
    buf = bytearray(1 << 16)
    view = memoryview(buf)
    try:
        while expect is None or hasher.n < expect:
            n = ssock.recv_into(buf)
            if n == 0:
                return "eof"
            hasher.update(view[:n])
            if echo:
                ssock.sendall(view[:n])
        return "expect"
    except ssl.SSLEOFError:
        return "truncated"
    except ssl.SSLError as e:
        return "alert:" + (e.reason or type(e).__name__)
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return "error:" + type(e).__name__


def client(args):
    toolslib.lifetime(args.timeout + 5)
    ctx = context(False, args)
    raw = toolslib.connect(args.connect, timeout=args.timeout)
    sent = toolslib.Hasher()
    recv = toolslib.Hasher()
    fields = {"handshake": "ok", "version": "-", "peer": "-", "end": "-", "error": "-"}
    try:
        ssock = ctx.wrap_socket(raw, server_hostname=None if args.no_verify else args.server_name,
                                suppress_ragged_eofs=False)
        fields["version"] = ssock.version()
        fields["peer"] = subject(ssock.getpeercert())
    except (ssl.SSLError, OSError) as e:
        fields["handshake"] = "fail"
        fields["error"] = (getattr(e, "reason", None) or type(e).__name__).replace(" ", "_")
        raw.close()
    else:
        try:
            if args.data is not None:
                chunks = [args.data.encode()]
            else:
                chunks = toolslib.data_source(args.size, seed=args.seed)
            for chunk in chunks:
                ssock.sendall(chunk)
                sent.update(chunk)
        except (ssl.SSLError, OSError) as e:
            fields["error"] = "send:" + (getattr(e, "reason", None) or type(e).__name__)
        if args.truncate:
            if args.expect:
                fields["end"] = read_until(ssock, recv, args.expect)
            time.sleep(args.linger)
            drop_tcp(ssock)
            fields["end"] = "truncated"
        else:
            if args.clean_close and args.expect is None:
                fields["end"] = "expect"  # nothing to wait for: close now
            else:
                fields["end"] = read_until(ssock, recv, args.expect)
            if args.clean_close and fields["end"] in ("expect", "eof"):
                try:
                    ssock.unwrap()
                    fields["end"] = "closed"
                except (ssl.SSLError, OSError) as e:
                    fields["end"] = "unwrap:" + (getattr(e, "reason", None) or type(e).__name__)
            ssock.close()
    toolslib.out("handshake=%s version=%s peer=%s sent=%d sent_sha256=%s recv=%d recv_sha256=%s end=%s error=%s" % (
        fields["handshake"], fields["version"], fields["peer"], sent.n, sent.hexdigest(),
        recv.n, recv.hexdigest(), fields["end"], fields["error"]))


def serve(ctx, raw, idx, args):
    recv = toolslib.Hasher()
    sent = toolslib.Hasher()
    rec = {"handshake": "ok", "end": "-", "peer": "-", "error": "-"}
    raw.settimeout(args.timeout)
    try:
        ssock = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
        rec["peer"] = subject(ssock.getpeercert())
    except (ssl.SSLError, OSError) as e:
        rec["handshake"] = "fail"
        rec["error"] = (getattr(e, "reason", None) or type(e).__name__).replace(" ", "_")
        raw.close()
    else:
        try:
            for chunk in toolslib.data_source(args.send, seed=args.seed):
                ssock.sendall(chunk)
                sent.update(chunk)
        except (ssl.SSLError, OSError) as e:
            rec["error"] = "send:" + (getattr(e, "reason", None) or type(e).__name__)
        if args.truncate:
            time.sleep(args.linger)
            drop_tcp(ssock)
            rec["end"] = "truncated-by-us"
        else:
            rec["end"] = read_until(ssock, recv, echo=args.echo)
            if rec["end"] == "eof":
                try:
                    ssock.unwrap()
                except (ssl.SSLError, OSError):
                    pass
            ssock.close()
    if args.record_dir:
        toolslib.write_atomic(
            os.path.join(args.record_dir, "conn-%d" % idx),
            "handshake=%s received=%d sha256=%s end=%s sent=%d sent_sha256=%s peer=%s error=%s\n" % (
                rec["handshake"], recv.n, recv.hexdigest(), rec["end"], sent.n, sent.hexdigest(),
                rec["peer"], rec["error"]))


def server(args):
    toolslib.lifetime(args.lifetime)
    ctx = context(True, args)
    if args.record_dir:
        os.makedirs(args.record_dir, exist_ok=True)
    if args.count_file:
        toolslib.write_atomic(args.count_file, "0\n")
    lsock = toolslib.listen(args.listen)
    n = 0
    while True:
        raw, _ = lsock.accept()
        n += 1
        if args.count_file:
            toolslib.write_atomic(args.count_file, "%d\n" % n)
        threading.Thread(target=serve, args=(ctx, raw, n, args), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("client", "server"):
        p = sub.add_parser(name)
        p.add_argument("--cert")
        p.add_argument("--key")
        p.add_argument("--ca")
        p.add_argument("--tls12", action="store_true", help="limit to TLS 1.2")
        p.add_argument("--size", type=toolslib.parse_size, default=0)
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--truncate", action="store_true", help="drop TCP without close_notify")
        p.add_argument("--linger", type=float, default=0.3, help="seconds to wait before --truncate")
        p.add_argument("--timeout", type=float, default=30)
    c = sub.choices["client"]
    c.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    c.add_argument("--server-name", default="localhost", help="name to verify and send as SNI")
    c.add_argument("--no-verify", action="store_true")
    c.add_argument("--data")
    c.add_argument("--expect", type=int, default=None, help="stop reading after this many bytes")
    c.add_argument("--clean-close", action="store_true", help="send close_notify at the end")
    s = sub.choices["server"]
    s.add_argument("--listen", required=True)
    s.add_argument("--require-cert", action="store_true")
    s.add_argument("--echo", action="store_true")
    s.add_argument("--send", type=toolslib.parse_size, default=0)
    s.add_argument("--count-file")
    s.add_argument("--record-dir")
    s.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    if args.cmd == "client":
        client(args)
    else:
        server(args)


if __name__ == "__main__":
    main()
