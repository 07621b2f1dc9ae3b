#!/usr/bin/env python3
"""PROXY-protocol backend: a plaintext server that expects a PROXY v1 or v2
header at the start of every connection, parses it strictly (proxyproto.py)
and records it together with the bytes that followed it.

--count-file F   number of connections accepted so far (0 at start)
--record-dir D   for connection N (from 1) writes D/conn-N when it is done,
                 one line of KEY=VALUE fields (values %-escaped, so they hold
                 no spaces):
                   header=ok|error:REASON version=1|2 command=PROXY|LOCAL|UNKNOWN
                   family=TCP4|TCP6|... src=ADDR dst=ADDR tlvs=01,02,20,e4
                   alpn=.. authority=.. crc32c=ok ssl_client=0xNN ssl_verify=N
                   ssl_version=.. ssl_cn=.. ssl_cipher=.. ssl_sig_alg=..
                   ssl_key_alg=.. ssl_subs=21,22,.. ja4=..
                   received=B sha256=H sent=S end=eof|reset|timeout|error:...
                 (fields whose TLV is absent are "-")
--echo           send back every payload byte (not the header)
A connection without a valid header is recorded with header=error:... and
closed at once. The process exits after --lifetime seconds."""

import argparse
import os
import socket
import threading
import urllib.parse

import proxyproto
import toolslib

lock = threading.Lock()
count = 0


def esc(value):
    if value is None:
        return "-"
    return urllib.parse.quote(str(value), safe="/:[].,+@!*()_-")


def serve(conn, idx, args):
    rec = {"header": "ok"}
    recv_h = toolslib.Hasher()
    sent = 0
    end = "eof"
    conn.settimeout(args.timeout)
    buf = b""
    hdr = None
    try:
        while hdr is None:
            try:
                hdr, used = proxyproto.parse(buf)
            except proxyproto.ProxyError as e:
                rec["header"] = "error:" + str(e)
                break
            if hdr is not None:
                break
            data = conn.recv(65536)
            if not data:
                rec["header"] = "error:eof-before-header(%d bytes)" % len(buf)
                break
            buf += data
        if hdr is not None:
            rest = buf[used:]
            ssl = hdr.get("ssl") or {}
            rec.update(
                version=hdr["version"], command=hdr["command"], family=hdr["family"],
                src=hdr["src"], dst=hdr["dst"],
                tlvs=",".join("%02x" % t for t, _ in hdr["tlvs"]) or None,
                alpn=hdr.get("alpn"), authority=hdr.get("authority"), crc32c=hdr.get("crc32c"),
                ssl_client=("0x%02x" % ssl["client"]) if ssl else None,
                ssl_verify=ssl.get("verify"), ssl_version=ssl.get("version"), ssl_cn=ssl.get("cn"),
                ssl_cipher=ssl.get("cipher"), ssl_sig_alg=ssl.get("sig_alg"),
                ssl_key_alg=ssl.get("key_alg"),
                ssl_subs=",".join("%02x" % t for t, _ in ssl.get("subs", [])) or None,
                ja4=hdr.get("ja4"))
            if rest:
                recv_h.update(rest)
                if args.echo:
                    conn.sendall(rest)
                    sent += len(rest)
            while True:
                try:
                    data = conn.recv(1 << 18)
                except ConnectionResetError:
                    end = "reset"
                    break
                if not data:
                    break
                recv_h.update(data)
                if args.echo:
                    conn.sendall(data)
                    sent += len(data)
            if end == "eof":
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        else:
            end = "closed-by-us"
    except socket.timeout:
        end = "timeout"
    except OSError as e:
        end = "error:" + type(e).__name__
    finally:
        conn.close()
    if args.record_dir:
        fields = ["header", "version", "command", "family", "src", "dst", "tlvs", "alpn",
                  "authority", "crc32c", "ssl_client", "ssl_verify", "ssl_version", "ssl_cn",
                  "ssl_cipher", "ssl_sig_alg", "ssl_key_alg", "ssl_subs", "ja4"]
        line = " ".join("%s=%s" % (k, esc(rec.get(k))) for k in fields)
        line += " received=%d sha256=%s sent=%d end=%s\n" % (recv_h.n, recv_h.hexdigest(), sent, end)
        toolslib.write_atomic(os.path.join(args.record_dir, "conn-%d" % idx), line)


def main():
    global count
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--count-file")
    ap.add_argument("--record-dir")
    ap.add_argument("--echo", action="store_true")
    ap.add_argument("--timeout", type=float, default=20, help="per-connection read timeout")
    ap.add_argument("--lifetime", type=float, default=120)
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
        threading.Thread(target=serve, args=(conn, idx, args), daemon=True).start()


if __name__ == "__main__":
    main()
