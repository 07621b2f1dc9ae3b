#!/usr/bin/env python3
"""Client that may open with a PROXY protocol header, then speaks TLS (python
ssl, i.e. OpenSSL) or plaintext, sends data and reads the echo.

--header none|v1|v2|v1-unknown|v2-local|garbage|hex:HEX
    what to send first (default none); v1/v2 carry --src and --dst
--split S   send the header in two pieces, S seconds apart
--coalesce  (plaintext only) send the header and the first data chunk in one
            write, so the peer reads them together
--tlvs      (v2) add NOOP, AUTHORITY "tlv.example", UNIQUE_ID and a correct
            CRC32C TLV to the header
--tls       do a TLS handshake after the header (--ca, --cert/--key, --sni
            NAME sent as SNI, --alpn P (repeat), --tls12); the server's chain
            is verified against --ca, its name is not checked (the SNI may
            be any name)
--data TEXT | --size N [--seed S]   what to send; then read until --expect
            bytes (default: as many as were sent) arrived, EOF, or --timeout
Prints one line:
  handshake=ok|fail|- version=V cipher=C alpn=P resumed=yes|no|- local=ADDR
  sent=N sent_sha256=H recv=M recv_sha256=H2 end=expect|eof|reset|timeout|
  alert:.. error=...
--connections N   do all of it N times in a row (one line each), offering the
            TLS session of the previous connection for resumption"""

import argparse
import socket
import ssl
import time

import proxyproto
import toolslib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True)
    ap.add_argument("--header", default="none")
    ap.add_argument("--src", default="192.0.2.10:40000")
    ap.add_argument("--dst", default="192.0.2.20:443")
    ap.add_argument("--split", type=float, default=0)
    ap.add_argument("--coalesce", action="store_true")
    ap.add_argument("--tlvs", action="store_true")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--sni", default=None)
    ap.add_argument("--alpn", action="append", default=[])
    ap.add_argument("--tls12", action="store_true")
    ap.add_argument("--data")
    ap.add_argument("--size", type=toolslib.parse_size, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--expect", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--connections", type=int, default=1)
    args = ap.parse_args()
    toolslib.lifetime((args.timeout + args.split) * args.connections + 5)

    if args.header == "none":
        header = b""
    elif args.header == "v1":
        header = proxyproto.build_v1(args.src, args.dst)
    elif args.header == "v1-unknown":
        header = proxyproto.build_v1(None, None, unknown=True)
    elif args.header == "v2":
        tlvs = []
        if args.tlvs:
            tlvs = [(proxyproto.PP2_TYPE_NOOP, b"\0\0\0"),
                    (proxyproto.PP2_TYPE_AUTHORITY, b"tlv.example"),
                    (proxyproto.PP2_TYPE_UNIQUE_ID, b"\x01\x02\x03\x04")]
        header = proxyproto.build_v2(args.src, args.dst, tlvs=tlvs, crc=args.tlvs)
    elif args.header == "v2-local":
        header = proxyproto.build_v2(local=True)
    elif args.header == "garbage":
        header = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n"
    elif args.header.startswith("hex:"):
        header = bytes.fromhex(args.header[4:])
    else:
        ap.error("bad --header")

    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.ca)
        if args.cert:
            ctx.load_cert_chain(args.cert, args.key)
        if args.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if args.alpn:
            ctx.set_alpn_protocols(args.alpn)
    session = None
    for _ in range(args.connections):
        session = one(args, header, ctx, session)


def one(args, header, ctx, session):
    f = {"handshake": "-", "version": "-", "cipher": "-", "alpn": "-", "resumed": "-",
         "end": "-", "error": "-"}
    sent = toolslib.Hasher()
    recv = toolslib.Hasher()
    try:
        sock = toolslib.connect(args.connect, timeout=args.timeout)
    except ConnectionResetError:
        # a server that closes at once with a reset (a refused source) can
        # do so before connect() has looked at the socket's status
        toolslib.out("handshake=- version=- cipher=- alpn=- resumed=- local=- sent=0 recv=0 "
                     "end=reset error=connect")
        return None
    local = toolslib.local_name(sock)
    new_session = None
    try:
        pending = b""
        if header and args.coalesce and ctx is None:
            pending = header
        elif header:
            if args.split:
                half = len(header) // 2
                sock.sendall(header[:half])
                time.sleep(args.split)
                sock.sendall(header[half:])
            else:
                sock.sendall(header)
        conn = sock
        if ctx is not None:
            try:
                conn = ctx.wrap_socket(sock, server_hostname=args.sni, suppress_ragged_eofs=False,
                                       session=session)
            except (ssl.SSLError, OSError) as e:
                f["handshake"] = "fail"
                f["error"] = (getattr(e, "reason", None) or type(e).__name__).replace(" ", "_")
                raise
            f["handshake"] = "ok"
            f["version"] = conn.version()
            f["cipher"] = conn.cipher()[0]
            f["alpn"] = conn.selected_alpn_protocol() or "-"
            f["resumed"] = "yes" if conn.session_reused else "no"
        chunks = [args.data.encode()] if args.data is not None else toolslib.data_source(args.size, seed=args.seed)
        for chunk in chunks:
            conn.sendall(pending + chunk)
            pending = b""
            sent.update(chunk)
        if pending:
            conn.sendall(pending)
        expect = args.expect if args.expect is not None else sent.n
        f["end"] = "expect"
        while recv.n < expect:
            data = conn.recv(65536)
            if not data:
                f["end"] = "eof"
                break
            recv.update(data)
        if ctx is not None:
            new_session = conn.session  # TLS 1.3 tickets arrived with the data
        if f["end"] == "expect" and ctx is not None:
            try:
                conn.unwrap()
            except (ssl.SSLError, OSError):
                pass
    except ssl.SSLEOFError:
        f["end"] = "truncated"
    except ssl.SSLError as e:
        f["end"] = "alert:" + (e.reason or type(e).__name__)
    except ConnectionResetError:
        f["end"] = "reset"
    except socket.timeout:
        f["end"] = "timeout"
    except OSError as e:
        f["end"] = "error:" + type(e).__name__
    except ValueError as e:  # ssl on a socket the peer already closed
        f["end"] = "error:" + type(e).__name__
    sock.close()
    toolslib.out("handshake=%s version=%s cipher=%s alpn=%s resumed=%s local=%s sent=%d sent_sha256=%s "
                 "recv=%d recv_sha256=%s end=%s error=%s" % (
                     f["handshake"], f["version"], f["cipher"], f["alpn"], f["resumed"], local, sent.n,
                     sent.hexdigest(), recv.n, recv.hexdigest(), f["end"], f["error"]))
    return new_session

if __name__ == "__main__":
    main()
