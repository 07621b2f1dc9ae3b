#!/usr/bin/env python3
"""Many concurrent echo streams, each checked end to end.

Opens --streams connections to --connect (an echo service behind it). Stream
i starts after a random delay in [0, --start-spread] s, sends a random number
of bytes in [--min-size, --max-size] paced to last a random time in
[--min-time, --max-time] s, half-closes, and reads everything back until
EOF, concurrently with sending. A stream is ok when it read back exactly as
many bytes as it sent, with the same SHA-256, ending in a clean EOF.

Prints one line per failed stream ("FAIL stream=I ...") and a summary:
  streams=N ok=N failed=N bytes=TOTAL_SENT elapsed=S
Exit status 0 when every stream is ok, 1 otherwise."""

import argparse
import hashlib
import random
import socket
import threading
import time

import toolslib

POOL = 8 << 20
CHUNK = 65536


def stream(i, args, pool, results):
    rng = random.Random(args.seed * 100003 + i)
    size = rng.randint(args.min_size, args.max_size)
    pace = rng.uniform(args.min_time, args.max_time)
    off = rng.randrange(POOL - size)
    data = pool[off:off + size]
    time.sleep(rng.uniform(0, args.start_spread))
    res = {"stream": i, "size": size, "sent": 0, "recv": 0, "end": "eof", "error": ""}
    sent_h = hashlib.sha256()
    recv_h = toolslib.Hasher()
    try:
        sock = toolslib.connect(args.connect, timeout=args.timeout)
    except OSError as e:
        res["end"] = "connect:" + type(e).__name__
        results[i] = res
        return

    def sender():
        t0 = time.monotonic()
        try:
            pos = 0
            while pos < size:
                n = min(CHUNK, size - pos)
                sock.sendall(data[pos:pos + n])
                sent_h.update(data[pos:pos + n])
                pos += n
                res["sent"] = pos
                # pace: be at byte pos no earlier than pos/size of the time
                ahead = t0 + pace * pos / size - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            res["error"] = "send:" + type(e).__name__

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    res["end"] = toolslib.read_to_eof(sock, recv_h)
    res["recv"] = recv_h.n
    t.join(args.timeout)
    sock.close()
    res["ok"] = (res["end"] == "eof" and not res["error"] and res["sent"] == size
                 and res["recv"] == size and sent_h.digest() == recv_h.digest())
    results[i] = res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True, help="HOST:PORT, [V6]:PORT or unix:/path")
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--min-size", type=toolslib.parse_size, default=64 << 10)
    ap.add_argument("--max-size", type=toolslib.parse_size, default=4 << 20)
    ap.add_argument("--min-time", type=float, default=5, help="shortest pacing of one stream (s)")
    ap.add_argument("--max-time", type=float, default=15, help="longest pacing of one stream (s)")
    ap.add_argument("--start-spread", type=float, default=3, help="streams start within this many seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60, help="per socket operation, and the join")
    args = ap.parse_args()
    if args.max_size > POOL - 1 or args.min_size > args.max_size:
        ap.error("sizes must satisfy min <= max < 8 MiB")
    toolslib.lifetime(args.start_spread + args.max_time + 2 * args.timeout + 30)
    pool = memoryview(random.Random(args.seed).randbytes(POOL))
    results = [None] * args.streams
    t0 = time.monotonic()
    threads = [threading.Thread(target=stream, args=(i, args, pool, results), daemon=True)
               for i in range(args.streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    ok = failed = total = 0
    for r in results:
        if r is None:
            failed += 1
            continue
        total += r["sent"]
        if r.get("ok"):
            ok += 1
        else:
            failed += 1
            toolslib.out("FAIL stream=%d size=%d sent=%d recv=%d end=%s error=%s" % (
                r["stream"], r["size"], r["sent"], r["recv"], r["end"], r["error"] or "-"))
    toolslib.out("streams=%d ok=%d failed=%d bytes=%d elapsed=%.1f" % (
        args.streams, ok, failed, total, elapsed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
