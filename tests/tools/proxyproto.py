"""PROXY protocol v1 and v2 (HAProxy spec, "proxy-protocol.txt"): a strict
parser and a builder, stdlib only, written for the sheath tests and sharing
no code with sheath.

parse(buf) -> (header dict, bytes used) or (None, 0) if more bytes are
needed; raises ProxyError for anything that is not a valid header.

The dict has: version (1|2), command ("PROXY"|"LOCAL"|"UNKNOWN"), family
("TCP4"|"TCP6"|"UNIX"|"UNSPEC"|"UNKNOWN"), src and dst ("IP:PORT",
"[V6]:PORT", or None), tlvs (list of (type, bytes) in order), and, decoded
from the TLVs: alpn, authority, crc32c ("ok" when present and right), ssl
(dict: client, verify, subs (list of (type, bytes)), version, cn, cipher,
sig_alg, key_alg), ja4 (TLV 0xE4), unique_id, netns."""

import ipaddress
import struct

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107

PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_SUBTYPE_SSL_VERSION = 0x21
PP2_SUBTYPE_SSL_CN = 0x22
PP2_SUBTYPE_SSL_CIPHER = 0x23
PP2_SUBTYPE_SSL_SIG_ALG = 0x24
PP2_SUBTYPE_SSL_KEY_ALG = 0x25
PP2_TYPE_NETNS = 0x30
PP2_TYPE_JA4 = 0xE4

PP2_CLIENT_SSL = 0x01
PP2_CLIENT_CERT_CONN = 0x02
PP2_CLIENT_CERT_SESS = 0x04


class ProxyError(Exception):
    pass


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _fmt(ip, port):
    return ("[%s]:%d" if ip.version == 6 else "%s:%d") % (ip, port)


def _v1_port(text):
    if not text.isdigit() or (len(text) > 1 and text[0] == "0") or int(text) > 65535:
        raise ProxyError("v1: bad port %r" % text)
    return int(text)


def _v1_ip(text, version):
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyError("v1: bad address %r" % text) from None
    if ip.version != version:
        raise ProxyError("v1: address %r is not IPv%d" % (text, version))
    return ip


def parse_v1(buf):
    end = buf.find(b"\r\n")
    if end < 0:
        if len(buf) >= V1_MAX:
            raise ProxyError("v1: no CRLF within %d bytes" % V1_MAX)
        if b"\n" in buf or b"\r" in buf[:-1]:
            raise ProxyError("v1: stray CR or LF")
        return None, 0
    if end + 2 > V1_MAX:
        raise ProxyError("v1: line longer than %d bytes" % V1_MAX)
    try:
        line = buf[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyError("v1: not ASCII") from None
    parts = line.split(" ")
    hdr = {"version": 1, "tlvs": [], "src": None, "dst": None}
    if parts[0] != "PROXY" or len(parts) < 2:
        raise ProxyError("v1: bad line %r" % line)
    if parts[1] == "UNKNOWN":
        hdr.update(command="UNKNOWN", family="UNKNOWN")
        return hdr, end + 2
    if parts[1] not in ("TCP4", "TCP6") or len(parts) != 6:
        raise ProxyError("v1: bad line %r" % line)
    ver = 4 if parts[1] == "TCP4" else 6
    src, dst = _v1_ip(parts[2], ver), _v1_ip(parts[3], ver)
    sport, dport = _v1_port(parts[4]), _v1_port(parts[5])
    hdr.update(command="PROXY", family=parts[1], src=_fmt(src, sport), dst=_fmt(dst, dport))
    return hdr, end + 2


def _parse_tlvs(data, what):
    out = []
    pos = 0
    while pos < len(data):
        if pos + 3 > len(data):
            raise ProxyError("v2: %s: truncated TLV header at %d" % (what, pos))
        t, n = data[pos], struct.unpack("!H", data[pos + 1:pos + 3])[0]
        if pos + 3 + n > len(data):
            raise ProxyError("v2: %s: TLV 0x%02x length %d overruns" % (what, t, n))
        out.append((t, data[pos + 3:pos + 3 + n], pos))
        pos += 3 + n
    return out


def _ascii(value, what):
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyError("v2: %s is not ASCII: %r" % (what, value)) from None


def parse_v2(buf):
    if len(buf) < 16:
        return None, 0
    ver_cmd, fam, length = buf[12], buf[13], struct.unpack("!H", buf[14:16])[0]
    if ver_cmd >> 4 != 2:
        raise ProxyError("v2: version %d" % (ver_cmd >> 4))
    cmd = ver_cmd & 0x0F
    if cmd not in (0, 1):
        raise ProxyError("v2: command %d" % cmd)
    if len(buf) < 16 + length:
        return None, 0
    body = buf[16:16 + length]
    hdr = {"version": 2, "command": "LOCAL" if cmd == 0 else "PROXY", "src": None, "dst": None}
    families = {0x00: ("UNSPEC", 0), 0x11: ("TCP4", 12), 0x12: ("UDP4", 12),
                0x21: ("TCP6", 36), 0x22: ("UDP6", 36), 0x31: ("UNIX", 216), 0x32: ("UNIXDGRAM", 216)}
    if fam not in families:
        raise ProxyError("v2: family/protocol byte 0x%02x" % fam)
    hdr["family"], alen = families[fam]
    if cmd == 1 and fam == 0x00:
        pass  # PROXY over UNSPEC: the receiver must ignore the address
    if length < alen:
        raise ProxyError("v2: length %d shorter than the %s address block" % (length, hdr["family"]))
    if hdr["family"] in ("TCP4", "UDP4"):
        s, d = ipaddress.IPv4Address(body[0:4]), ipaddress.IPv4Address(body[4:8])
        sp, dp = struct.unpack("!HH", body[8:12])
        hdr["src"], hdr["dst"] = _fmt(s, sp), _fmt(d, dp)
    elif hdr["family"] in ("TCP6", "UDP6"):
        s, d = ipaddress.IPv6Address(body[0:16]), ipaddress.IPv6Address(body[16:32])
        sp, dp = struct.unpack("!HH", body[32:36])
        hdr["src"], hdr["dst"] = _fmt(s, sp), _fmt(d, dp)
    elif hdr["family"].startswith("UNIX"):
        hdr["src"] = "unix:" + body[0:108].split(b"\0")[0].decode(errors="replace")
        hdr["dst"] = "unix:" + body[108:216].split(b"\0")[0].decode(errors="replace")
    tlvs = _parse_tlvs(body[alen:], "TLVs")
    hdr["tlvs"] = [(t, v) for t, v, _ in tlvs]
    seen = set()
    for t, v, off in tlvs:
        if t in seen and t != PP2_TYPE_NOOP:
            raise ProxyError("v2: TLV 0x%02x appears twice" % t)
        seen.add(t)
        if t == PP2_TYPE_ALPN:
            hdr["alpn"] = _ascii(v, "ALPN")
        elif t == PP2_TYPE_AUTHORITY:
            hdr["authority"] = _ascii(v, "authority")
        elif t == PP2_TYPE_CRC32C:
            if len(v) != 4:
                raise ProxyError("v2: CRC32C TLV of %d bytes" % len(v))
            whole = bytearray(buf[:16 + length])
            pos = 16 + alen + off + 3
            whole[pos:pos + 4] = b"\0\0\0\0"
            if crc32c(bytes(whole)) != struct.unpack("!I", v)[0]:
                raise ProxyError("v2: CRC32C mismatch")
            hdr["crc32c"] = "ok"
        elif t == PP2_TYPE_UNIQUE_ID:
            if len(v) > 128:
                raise ProxyError("v2: UNIQUE_ID longer than 128 bytes")
            hdr["unique_id"] = v.hex()
        elif t == PP2_TYPE_SSL:
            if len(v) < 5:
                raise ProxyError("v2: SSL TLV of %d bytes" % len(v))
            ssl = {"client": v[0], "verify": struct.unpack("!I", v[1:5])[0], "subs": []}
            names = {PP2_SUBTYPE_SSL_VERSION: "version", PP2_SUBTYPE_SSL_CN: "cn",
                     PP2_SUBTYPE_SSL_CIPHER: "cipher", PP2_SUBTYPE_SSL_SIG_ALG: "sig_alg",
                     PP2_SUBTYPE_SSL_KEY_ALG: "key_alg"}
            for st, sv, _ in _parse_tlvs(v[5:], "SSL sub-TLVs"):
                ssl["subs"].append((st, sv))
                if st in names:
                    if names[st] in ssl:
                        raise ProxyError("v2: SSL sub-TLV 0x%02x appears twice" % st)
                    ssl[names[st]] = sv.decode("utf-8") if st == PP2_SUBTYPE_SSL_CN else _ascii(sv, names[st])
            hdr["ssl"] = ssl
        elif t == PP2_TYPE_JA4:
            hdr["ja4"] = _ascii(v, "JA4")
        elif t == PP2_TYPE_NETNS:
            hdr["netns"] = _ascii(v, "netns")
    return hdr, 16 + length


def parse(buf):
    """Parse a header at the start of BUF; see the module doc."""
    if buf[:len(V2_SIG)] == V2_SIG[:len(buf)] and len(buf) < len(V2_SIG):
        return None, 0  # could still become a v2 signature
    if buf.startswith(V2_SIG):
        return parse_v2(buf)
    if b"PROXY"[:len(buf)] == buf[:5] and len(buf) < 5:
        return None, 0
    if buf.startswith(b"PROXY "):
        return parse_v1(buf)
    raise ProxyError("no PROXY signature: %r" % bytes(buf[:16]))


# --- builders (for clients in front of an accept_proxy listener) ----------

def build_v1(src, dst, unknown=False):
    if unknown:
        return b"PROXY UNKNOWN\r\n"
    (sip, sport), (dip, dport) = _split(src), _split(dst)
    fam = "TCP6" if sip.version == 6 else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, sip, dip, sport, dport)).encode()


def build_v2(src=None, dst=None, local=False, tlvs=(), crc=False):
    """A v2 header; with crc, a CRC32C TLV (computed over the whole header)
    is appended."""
    body = b""
    fam = 0x00
    if src is not None:
        (sip, sport), (dip, dport) = _split(src), _split(dst)
        fam = 0x21 if sip.version == 6 else 0x11
        body = sip.packed + dip.packed + struct.pack("!HH", sport, dport)
    for t, v in tlvs:
        body += struct.pack("!BH", t, len(v)) + v
    if crc:
        body += struct.pack("!BH", PP2_TYPE_CRC32C, 4) + b"\0\0\0\0"
    hdr = V2_SIG + bytes([0x20 if local else 0x21, fam]) + struct.pack("!H", len(body)) + body
    if crc:
        hdr = hdr[:-4] + struct.pack("!I", crc32c(hdr))
    return hdr


def _split(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return ipaddress.ip_address(host), int(port)
