#!/usr/bin/env python3
"""make-conn-seeds.py CERTDIR OUTDIR -- regenerate the TLS seeds of
corpus/conn: what a real client sends to a TLS server, captured in memory
(ssl.MemoryBIO, no sockets) from Python's OpenSSL client talking to Python's
OpenSSL server. CERTDIR is a tests/gen-certs.sh directory (server.crt,
client.crt, ...). The gnutls-cli ClientHello in the corpus was captured once
through socat (see the README) and is not regenerated here.

Every file holds the raw bytes from client to server, nothing else."""
import os
import ssl
import sys


def pump(src_obj, src_out, dst_in):
    data = src_out.read()
    if data:
        dst_in.write(data)
    return data


def capture(certdir, tls_max, client_cert, alpn, sni="localhost"):
    """Run a full in-memory handshake plus one request and its reply; return
    (client hello bytes, every byte the client sent)."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(os.path.join(certdir, "server.crt"),
                         os.path.join(certdir, "server.key"))
    sctx.load_verify_locations(os.path.join(certdir, "ca.crt"))
    sctx.verify_mode = ssl.CERT_OPTIONAL
    sctx.maximum_version = tls_max
    sctx.set_alpn_protocols(["h2", "http/1.1"])
    # No tickets: they are sent after the handshake and only add bytes.
    sctx.num_tickets = 0

    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(os.path.join(certdir, "ca.crt"))
    cctx.maximum_version = tls_max
    if client_cert:
        cctx.load_cert_chain(os.path.join(certdir, "client.crt"),
                             os.path.join(certdir, "client.key"))
    if alpn:
        cctx.set_alpn_protocols(alpn)

    c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cctx.wrap_bio(c_in, c_out, server_hostname=sni)
    server = sctx.wrap_bio(s_in, s_out, server_side=True)

    sent = b""
    hello = None
    c_done = s_done = False
    for _ in range(20):
        if not c_done:
            try:
                client.do_handshake()
                c_done = True
            except ssl.SSLWantReadError:
                pass
        out = pump(client, c_out, s_in)
        if hello is None:
            hello = out
        sent += out
        if not s_done:
            try:
                server.do_handshake()
                s_done = True
            except ssl.SSLWantReadError:
                pass
        pump(server, s_out, c_in)
        if c_done and s_done:
            break
    client.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    sent += pump(client, c_out, s_in)
    try:
        client.unwrap()
    except ssl.SSLWantReadError:
        pass
    sent += pump(client, c_out, s_in)
    return hello, sent


def main():
    certdir, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    v13, v12 = ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    hello, flight = capture(certdir, v13, True, ["h2", "http/1.1"])
    write("openssl-tls13-clienthello", hello)
    write("openssl-tls13-client-cert-session", flight)
    hello, flight = capture(certdir, v12, True, ["http/1.1"])
    write("openssl-tls12-clienthello", hello)
    write("openssl-tls12-client-cert-session", flight)
    hello, _ = capture(certdir, v13, False, None, sni=None)
    write("openssl-tls13-clienthello-no-sni-no-alpn", hello)

    # The TLS 1.3 ClientHello split over two records (the harness writes
    # one record at a time, so the handshake is reassembled).
    hello, _ = capture(certdir, v13, False, ["h2"])
    body = hello[5:]
    half = len(body) // 2
    write("openssl-tls13-clienthello-fragmented",
          hello[:3] + len(body[:half]).to_bytes(2, "big") + body[:half] +
          hello[:3] + len(body[half:]).to_bytes(2, "big") + body[half:])
    # Not TLS at all: a plaintext HTTP client on the TLS port.
    write("plaintext-http", b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
    # A fatal alert (handshake_failure) before any hello.
    write("alert-first", bytes([21, 3, 3, 0, 2, 2, 40]))
    # An SSLv2-compatible ClientHello offering TLS 1.0.
    specs = bytes.fromhex("00002f 000035 00c02f 00c030 00000a 0000ff"
                          .replace(" ", ""))
    v2 = bytes([1, 3, 1]) + len(specs).to_bytes(2, "big") + b"\0\0" + \
        (16).to_bytes(2, "big") + specs + bytes(range(16))
    write("sslv2-compat-clienthello", bytes([0x80, len(v2)]) + v2)

    # For the accept_proxy service (inputs starting with 'P' or '\\r'):
    # PROXY protocol headers followed by the TLS 1.2 ClientHello.
    hello12, _ = capture(certdir, v12, False, ["http/1.1"])
    write("proxy-v1-tcp4", b"PROXY TCP4 198.51.100.1 203.0.113.7 51000 443"
          b"\r\n" + hello12)
    write("proxy-v1-tcp6", b"PROXY TCP6 2001:db8::1 2001:db8::2 51000 443"
          b"\r\n" + hello12)
    write("proxy-v1-unknown", b"PROXY UNKNOWN\r\n" + hello12)
    sig = b"\r\n\r\n\0\r\nQUIT\n"

    def tlv(t, v):
        return bytes([t]) + len(v).to_bytes(2, "big") + v

    def v2(cmd, fam, addrs, tlvs=b""):
        # fuzz_conn delivers odd-sized inputs in 8 + 16 + rest bytes; keep
        # these even (an empty PP2_TYPE_NOOP TLV flips the parity) so the
        # whole header arrives at once.
        body = addrs + tlvs
        if (16 + len(body) + len(hello12)) % 2:
            body += tlv(0x04, b"")
        return sig + bytes([cmd, fam]) + len(body).to_bytes(2, "big") + body

    tcp4 = bytes([198, 51, 100, 1, 203, 0, 113, 7]) + \
        (51000).to_bytes(2, "big") + (443).to_bytes(2, "big")
    write("proxy-v2-tcp4-tlvs", v2(0x21, 0x11, tcp4,
          tlv(0x01, b"h2") + tlv(0x02, b"localhost") +
          tlv(0x04, b"\0" * 4)) + hello12)
    tcp6 = bytes.fromhex("20010db8000000000000000000000001"
                         "20010db8000000000000000000000002") + \
        (51000).to_bytes(2, "big") + (443).to_bytes(2, "big")
    write("proxy-v2-tcp6", v2(0x21, 0x21, tcp6) + hello12)
    unix = b"/run/lb.sock".ljust(108, b"\0") + b"/run/s.sock".ljust(108, b"\0")
    write("proxy-v2-unix", v2(0x21, 0x31, unix) + hello12)
    write("proxy-v2-local", v2(0x20, 0x00, b"") + hello12)


if __name__ == "__main__":
    main()
