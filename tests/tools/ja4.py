#!/usr/bin/env python3
"""Independent JA4 (TLS client) fingerprint calculator, after the FoxIO
specification, for checking the ja4= value sheath logs and sends in the
PROXY v2 TLV 0xE4. Stdlib only; shares no code with sheath.

  ja4.py selftest
      check the calculator against a published vector; prints "selftest ok"
  ja4.py compute FILE
      FILE holds the raw bytes a TLS client sent first (one or more TLS
      records carrying a ClientHello); prints the JA4 and, on a second line,
      the parsed fields (for debugging)
  ja4.py capture --listen HOST:PORT --out FILE [--timeout S]
      accept one connection, read TLS records until the whole ClientHello
      arrived, write those bytes to FILE, then close the connection (the
      client's handshake fails, which is fine: only its hello is wanted)

JA4 = a_b_c where
  a = "t" + version ("13", "12", ..., from the highest supported_versions
      entry, else the legacy version) + "d" (SNI present) or "i" + 2-digit
      cipher count + 2-digit extension count (both without GREASE, capped at
      99; SNI and ALPN are counted) + first and last character of the first
      ALPN value ("00" without ALPN; hex digits when not alphanumeric)
  b = first 12 hex of sha256 of the sorted 4-hex cipher suites joined by ","
  c = first 12 hex of sha256 of the sorted extensions without SNI (0000) and
      ALPN (0010), joined by ",", then "_" and the signature algorithms in
      their original order (no "_" part when there are none)
  an empty list hashes to "000000000000"."""

import argparse
import hashlib
import socket
import struct
import sys
import time

GREASE = {0x0A0A + 0x1010 * i for i in range(16)}
VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10",
            0x0300: "s3", 0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}


class ParseError(Exception):
    pass


def hash12(text):
    if not text:
        return "000000000000"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def alpn_chars(value):
    if not value:
        return "00"
    first, last = value[0], value[-1]

    def alnum(b):
        return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A

    if alnum(first) and alnum(last):
        return chr(first) + chr(last)
    h = value.hex()
    return h[0] + h[-1]


def ja4_from_fields(version, sni, ciphers, extensions, alpn, sigalgs, proto="t"):
    """version: int (e.g. 0x0304); sni: bool; ciphers, extensions, sigalgs:
    lists of ints in wire order; alpn: bytes of the first ALPN value or None."""
    ciphers = [c for c in ciphers if c not in GREASE]
    extensions = [e for e in extensions if e not in GREASE]
    sigalgs = [s for s in sigalgs if s not in GREASE]
    a = "%s%s%s%02d%02d%s" % (proto, VERSIONS.get(version, "00"), "d" if sni else "i",
                              min(len(ciphers), 99), min(len(extensions), 99),
                              alpn_chars(alpn or b""))
    b = hash12(",".join("%04x" % c for c in sorted(ciphers)))
    ext_part = ",".join("%04x" % e for e in sorted(extensions) if e not in (0x0000, 0x0010))
    if sigalgs:
        c_text = ext_part + "_" + ",".join("%04x" % s for s in sigalgs)
    else:
        c_text = ext_part
    c = hash12(c_text) if ext_part or sigalgs else "000000000000"
    return "%s_%s_%s" % (a, b, c)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ParseError("truncated at %d (+%d of %d)" % (self.pos, n, len(self.data)))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u24(self):
        b = self.take(3)
        return (b[0] << 16) | (b[1] << 8) | b[2]

    def vec(self, lenbytes):
        n = {1: self.u8, 2: self.u16, 3: self.u24}[lenbytes]()
        return self.take(n)

    def done(self):
        return self.pos == len(self.data)


def handshake_from_records(raw):
    """Concatenate the handshake-record payloads of RAW; return (the first
    handshake message as bytes, or None if incomplete, bytes of records used)."""
    payload = bytearray()
    pos = 0
    while pos + 5 <= len(raw):
        ctype, _ver, length = struct.unpack("!BHH", raw[pos:pos + 5])
        if ctype != 22:
            raise ParseError("record type %d is not handshake" % ctype)
        if pos + 5 + length > len(raw):
            break
        payload += raw[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(payload) >= 4:
            need = 4 + ((payload[1] << 16) | (payload[2] << 8) | payload[3])
            if len(payload) >= need:
                return bytes(payload[:need]), pos
    return None, pos


def parse_client_hello(raw):
    msg, _ = handshake_from_records(raw)
    if msg is None:
        raise ParseError("incomplete ClientHello")
    r = Reader(msg)
    if r.u8() != 1:
        raise ParseError("not a ClientHello")
    body = Reader(r.vec(3))
    legacy_version = body.u16()
    body.take(32)  # random
    body.vec(1)  # session id
    cs = body.vec(2)
    if len(cs) % 2:
        raise ParseError("odd cipher suite list")
    ciphers = [struct.unpack("!H", cs[i:i + 2])[0] for i in range(0, len(cs), 2)]
    body.vec(1)  # compression methods
    extensions, sigalgs, alpn, versions, sni = [], [], None, [], False
    if not body.done():
        exts = Reader(body.vec(2))
        while not exts.done():
            etype = exts.u16()
            edata = Reader(exts.vec(2))
            extensions.append(etype)
            if etype == 0x0000:
                sni = True
            elif etype == 0x0010:
                lst = Reader(edata.vec(2))
                if not lst.done():
                    alpn = lst.vec(1)
            elif etype == 0x000D:
                lst = edata.vec(2)
                sigalgs = [struct.unpack("!H", lst[i:i + 2])[0] for i in range(0, len(lst) - 1, 2)]
            elif etype == 0x002B:
                lst = edata.vec(1)
                versions = [struct.unpack("!H", lst[i:i + 2])[0] for i in range(0, len(lst) - 1, 2)]
        if not body.done():
            raise ParseError("bytes after the extensions")
    real_versions = [v for v in versions if v not in GREASE]
    version = max(real_versions) if real_versions else legacy_version
    return {"version": version, "sni": sni, "ciphers": ciphers, "extensions": extensions,
            "alpn": alpn, "sigalgs": sigalgs}


def ja4_of_bytes(raw):
    f = parse_client_hello(raw)
    return ja4_from_fields(f["version"], f["sni"], f["ciphers"], f["extensions"], f["alpn"],
                           f["sigalgs"]), f


def selftest():
    # Published example (FoxIO JA4 technical details): Chrome-like hello.
    h = lambda s: [int(x, 16) for x in s.split(",")]
    got = ja4_from_fields(
        0x0304, True,
        h("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"),
        h("002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b"),
        b"h2", h("0403,0804,0401,0503,0805,0501,0806,0601"))
    want = "t13d1516h2_8daaf6152771_d8a2da3f94cd"
    if got != want:
        print("selftest FAILED: got %s want %s" % (got, want))
        return 1
    # GREASE values are ignored everywhere
    got2 = ja4_from_fields(
        0x0304, True,
        [0x2A2A] + h("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"),
        [0x3A3A] + h("002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b")
        + [0xFAFA],
        b"h2", h("0403,0804,0401,0503,0805,0501,0806,0601"))
    if got2 != want:
        print("selftest FAILED (GREASE): got %s" % got2)
        return 1
    # no ALPN, no SNI, no extensions at all
    got3 = ja4_from_fields(0x0303, False, [0x1301], [], None, [])
    if not got3.startswith("t12i0100" + "00_") or not got3.endswith("_000000000000"):
        print("selftest FAILED (empty): got %s" % got3)
        return 1
    # non-alphanumeric ALPN -> hex characters
    if alpn_chars(b"\x01ab\xff") != "0f" or alpn_chars(b"http/1.1") != "h1":
        print("selftest FAILED (alpn chars)")
        return 1
    print("selftest ok")
    return 0


def capture(args):
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    host, _, port = args.listen.rpartition(":")
    lsock.bind((host or "127.0.0.1", int(port)))
    lsock.listen(4)
    lsock.settimeout(args.timeout)
    conn, _ = lsock.accept()
    conn.settimeout(args.timeout)
    raw = b""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        data = conn.recv(65536)
        if not data:
            break
        raw += data
        msg, used = handshake_from_records(raw)
        if msg is not None:
            raw = raw[:used]
            break
    conn.close()
    lsock.close()
    with open(args.out, "wb") as f:
        f.write(raw)
    print("captured=%d" % len(raw))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selftest")
    c = sub.add_parser("compute")
    c.add_argument("file")
    p = sub.add_parser("capture")
    p.add_argument("--listen", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args()
    if args.cmd == "selftest":
        return selftest()
    if args.cmd == "compute":
        with open(args.file, "rb") as f:
            ja4, fields = ja4_of_bytes(f.read())
        print(ja4)
        print("version=%04x sni=%s ciphers=%s extensions=%s alpn=%r sigalgs=%s" % (
            fields["version"], fields["sni"], ",".join("%04x" % x for x in fields["ciphers"]),
            ",".join("%04x" % x for x in fields["extensions"]), fields["alpn"],
            ",".join("%04x" % x for x in fields["sigalgs"])))
        return 0
    capture(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
