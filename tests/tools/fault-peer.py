#!/usr/bin/env python3
"""Fault peer: TLS clients that misbehave on purpose (python ssl, stdlib).

Every subcommand connects to --connect and prints one line of KEY=VALUE
fields; "result" is how the connection ended from this side:
eof|reset|timeout|closed|truncated|expect|alert:...|error:... and "elapsed"
the seconds from connect to that end. Exit status 0 in every case.

half-hello   build a real ClientHello (python ssl with a MemoryBIO), send its
             first half, wait --linger s, then close with SO_LINGER 0 (RST).
             Prints: result=sent-rst hello=N sent=M
garbage      send --kind bytes instead of a ClientHello, then read until
             EOF/reset/--timeout:
               random      --size seeded random bytes, first byte 0xff (no
                           TLS content type)
               http        an HTTP/1.1 GET request
               bad-record  a TLS handshake record of --size bytes holding
                           one ClientHello message of the right length
                           whose contents are random
             Prints: result=R recv=N elapsed=S sent=M
stall-hello  send a full ClientHello and then nothing; read (never
             answering) until EOF/reset/--timeout.
             Prints: result=R recv=N elapsed=S hello=M
rst-after    handshake (--cert/--key/--ca), send --size seeded bytes, read
             --expect bytes back (echo backend), then close the TCP socket
             under the TLS session with SO_LINGER 0 (RST, no close_notify).
             Prints: result=sent-rst sent=N sent_sha256=H recv=M
             recv_sha256=H2 version=V
tls-echo     handshake, then send --size seeded bytes while reading
             concurrently until --size bytes came back (echo backend), then
             close_notify. Prints: result=R peer=SUBJECT version=V sent=N
             sent_sha256=H recv=M recv_sha256=H2 elapsed=S"""

import argparse
import random
import selectors
import socket
import ssl
import struct
import time

import toolslib


def client_ctx(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.ca:
        ctx.load_verify_locations(args.ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def client_hello(args):
    """The bytes of a real first flight (one ClientHello record)."""
    ctx = client_ctx(args)
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname=args.server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outg.read()


def rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_to_end(sock, timeout):
    """Read until EOF/reset/timeout. Returns (result, bytes read)."""
    n = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                return "eof", n
            n += len(data)
    except ConnectionResetError:
        return "reset", n
    except socket.timeout:
        return "timeout", n
    except OSError as e:
        return "error:" + type(e).__name__, n


def subject(cert):
    if not cert:
        return "-"
    parts = []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            parts.append("%s=%s" % ({"commonName": "CN", "organizationalUnitName": "OU"}.get(k, k), v))
    return ",".join(parts) or "-"


def cmd_half_hello(args):
    hello = client_hello(args)
    sock = toolslib.connect(args.connect, timeout=args.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    half = hello[:len(hello) // 2]
    sock.sendall(half)
    time.sleep(args.linger)
    rst_close(sock)
    toolslib.out("result=sent-rst hello=%d sent=%d" % (len(hello), len(half)))


def cmd_garbage(args):
    rng = random.Random(args.seed)
    if args.kind == "random":
        data = b"\xff" + rng.randbytes(max(0, args.size - 1))
    elif args.kind == "http":
        data = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: fault-peer\r\nAccept: */*\r\n\r\n"
    elif args.kind == "bad-record":
        # a ClientHello message of the announced length, random inside
        body = b"\x01" + struct.pack("!I", args.size - 4)[1:] + rng.randbytes(args.size - 4)
        data = bytes([0x16, 0x03, 0x01]) + struct.pack("!H", len(body)) + body
    else:
        raise SystemExit("unknown kind " + args.kind)
    start = time.monotonic()
    sock = toolslib.connect(args.connect, timeout=args.timeout)
    try:
        sock.sendall(data)
    except OSError:
        pass
    result, n = read_to_end(sock, args.timeout)
    sock.close()
    toolslib.out("result=%s recv=%d elapsed=%.3f sent=%d" % (result, n, time.monotonic() - start, len(data)))


def cmd_stall_hello(args):
    hello = client_hello(args)
    start = time.monotonic()
    sock = toolslib.connect(args.connect, timeout=args.timeout)
    sock.sendall(hello)
    result, n = read_to_end(sock, args.timeout)
    sock.close()
    toolslib.out("result=%s recv=%d elapsed=%.3f hello=%d" % (result, n, time.monotonic() - start, len(hello)))


def tls_connect(args):
    raw = toolslib.connect(args.connect, timeout=args.timeout)
    ssock = client_ctx(args).wrap_socket(raw, server_hostname=args.server_name,
                                         suppress_ragged_eofs=False)
    return ssock


def cmd_rst_after(args):
    sent = toolslib.Hasher()
    recv = toolslib.Hasher()
    ssock = tls_connect(args)
    for chunk in toolslib.data_source(args.size, seed=args.seed):
        ssock.sendall(chunk)
        sent.update(chunk)
    while recv.n < args.expect:
        data = ssock.recv(65536)
        if not data:
            break
        recv.update(data)
    time.sleep(args.linger)
    version = ssock.version()
    # the raw socket under the TLS session: no close_notify, a RST
    fd = ssock.detach()
    s = socket.socket(fileno=fd)
    rst_close(s)
    toolslib.out("result=sent-rst sent=%d sent_sha256=%s recv=%d recv_sha256=%s version=%s" % (
        sent.n, sent.hexdigest(), recv.n, recv.hexdigest(), version))


def cmd_tls_echo(args):
    sent = toolslib.Hasher()
    recv = toolslib.Hasher()
    start = time.monotonic()
    try:
        ssock = tls_connect(args)
    except (ssl.SSLError, OSError) as e:
        toolslib.out("result=handshake:%s peer=- version=- sent=0 recv=0 elapsed=%.3f" % (
            (getattr(e, "reason", None) or type(e).__name__).replace(" ", "_"), time.monotonic() - start))
        return
    peer = subject(ssock.getpeercert())
    version = ssock.version()
    # python ssl objects must not be read and written from two threads at
    # once: interleave both directions with non-blocking I/O instead.
    ssock.setblocking(False)
    chunks = iter(toolslib.data_source(args.size, seed=args.seed))
    pending = b""
    result = "expect"
    deadline = time.monotonic() + args.timeout
    sel = selectors.DefaultSelector()
    sel.register(ssock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    done_sending = False
    try:
        while recv.n < args.size:
            if time.monotonic() > deadline:
                result = "timeout"
                break
            if not pending and not done_sending:
                pending = next(chunks, None)
                if pending is None:
                    pending = b""
                    done_sending = True
                    sel.modify(ssock, selectors.EVENT_READ)
                else:
                    pending = bytes(pending)
            progressed = False
            if pending:
                try:
                    n = ssock.send(pending[:16384])
                    sent.update(pending[:n])
                    pending = pending[n:]
                    progressed = True
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
            try:
                data = ssock.recv(65536)
                if not data:
                    result = "eof"
                    break
                recv.update(data)
                progressed = True
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
            if not progressed:
                sel.select(0.2)
        if result == "expect":
            ssock.setblocking(True)
            ssock.settimeout(max(0.5, deadline - time.monotonic()))
            try:
                ssock.unwrap()
                result = "closed"
            except (ssl.SSLError, OSError) as e:
                result = "unwrap:" + (getattr(e, "reason", None) or type(e).__name__)
    except ssl.SSLEOFError:
        result = "truncated"
    except ssl.SSLError as e:
        result = "alert:" + (e.reason or type(e).__name__)
    except ConnectionResetError:
        result = "reset"
    except OSError as e:
        result = "error:" + type(e).__name__
    ssock.close()
    toolslib.out("result=%s peer=%s version=%s sent=%d sent_sha256=%s recv=%d recv_sha256=%s elapsed=%.3f" % (
        result, peer.replace(" ", "_"), version, sent.n, sent.hexdigest(), recv.n, recv.hexdigest(),
        time.monotonic() - start))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("half-hello", "garbage", "stall-hello", "rst-after", "tls-echo"):
        p = sub.add_parser(name)
        p.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
        p.add_argument("--cert")
        p.add_argument("--key")
        p.add_argument("--ca")
        p.add_argument("--server-name", default="localhost")
        p.add_argument("--size", type=toolslib.parse_size, default=0)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--expect", type=int, default=0)
        p.add_argument("--linger", type=float, default=0.3)
        p.add_argument("--kind", default="random")
        p.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args()
    toolslib.lifetime(args.timeout * 2 + 10)
    {"half-hello": cmd_half_hello, "garbage": cmd_garbage, "stall-hello": cmd_stall_hello,
     "rst-after": cmd_rst_after, "tls-echo": cmd_tls_echo}[args.cmd](args)


if __name__ == "__main__":
    main()
