#!/usr/bin/env python3
"""Load and soak drivers for bench/load.sh and bench/soak.sh (stdlib only).

One process, non-blocking sockets, one selectors (epoll) loop: thousands of
streams cost a few KiB each here, never a thread.

Subcommands:
  echo --port P [--lifetime S]
      echo backend on 127.0.0.1:P. Bounded buffering per connection (stops
      reading while 256 KiB are waiting to go back); on EOF from the peer it
      sends what is left, shuts down its write side and closes. Prints
      "listening" once bound.

  load --port P --conns N --seconds S [--min-size B] [--max-size B]
       [--seed X] [--ramp R] [--pid NAME=PID ...] [--json FILE]
      N streams to 127.0.0.1:P, each with a payload of a random size in
      [min, max] (uniform, seeded). Phase 1 (establish): every stream sends
      the first byte of its payload and waits for its echo, so it is
      established end to end (client -> A -> TLS -> B -> backend); at most R
      streams are in that phase at once (0: all N at once). Phase 2
      (transfer): once every stream is established or has failed, all send
      the rest of their payload at the same time while reading the echo,
      shut down their write side and read until EOF. A stream is ok when
      the echo has exactly the payload's length and SHA-256. Everything
      must end within S seconds of the start; what has not is failed
      (timeout). VmRSS/VmHWM and open descriptors of each --pid are sampled
      every 0.25 s. Exit status 0 only if every stream is ok and every
      watched process is still alive.

  soak --port P --workers W --seconds S [--min-size B] [--max-size B]
       [--seed X] [--pid NAME=PID ...] [--metrics NAME=PORT ...]
       [--interval 5] --csv FILE [--json FILE] [--tolerance 0.10]
      W workers, each looping for S seconds: connect, send a random-sized
      payload, shut down the write side, read the echo to EOF, check length
      and SHA-256, close, repeat. Every --interval seconds one CSV row:
      RSS, peak RSS, descriptors and CPU seconds of each --pid, streams
      ok/failed so far, the stream rate, the 1-minute load average and,
      with --metrics, sheath_connections_active of that instance. At the
      end: plateau = median VmRSS over [60 s, 120 s) (start) and over the
      last 60 s (end); for runs shorter than 3 minutes [S/6, S/3) and
      [2S/3, S]; the last row, taken after every stream ended, is not in
      the plateau. PASS if no stream failed, every watched process is alive
      and, for every process, end <= start * (1 + tolerance).

Payloads: a 8 MiB pool of seeded pseudo-random bytes; a stream's payload is
a sequence of 32 KiB chunks, each starting with a 16-byte tag (stream id,
chunk index) followed by pool bytes from a per-stream random offset. Every
stream's bytes are thus distinct, so bytes of one stream delivered into
another never pass the check. Besides the SHA-256, the receiver compares
the echo with the regenerated payload as it arrives, so a mismatch is
reported with the offset of its first wrong byte.
"""

import argparse
import collections
import errno
import hashlib
import json
import os
import random
import selectors
import socket
import statistics
import struct
import sys
import time

POOL_SIZE = 8 << 20
CHUNK = 32 << 10
TAG = 16
RECV_SIZE = 256 << 10


def parse_size(s):
    s = str(s).strip()
    mult = 1
    if s[-1:].upper() in ("K", "M", "G"):
        mult = 1 << {"K": 10, "M": 20, "G": 30}[s[-1].upper()]
        s = s[:-1]
    return int(float(s) * mult)


def now():
    return time.monotonic()


# --------------------------------------------------------------------------
# payloads

class Pool:
    def __init__(self, seed):
        # pool has one extra chunk so a slice never wraps
        self.data = random.Random(("pool", seed).__repr__()).randbytes(POOL_SIZE + CHUNK)


class Gen:
    """Deterministic payload of `size` bytes for stream `sid`."""
    __slots__ = ("pool", "sid", "size", "off", "pos", "idx")

    def __init__(self, pool, sid, size, off):
        self.pool, self.sid, self.size, self.off = pool, sid, size, off
        self.pos = 0
        self.idx = 0

    def chunk(self, limit=None):
        """Next piece (at most CHUNK bytes, at most up to `limit` total)."""
        end = self.size if limit is None else min(self.size, limit)
        if self.pos >= end:
            return b""
        # chunk boundaries are fixed (multiples of CHUNK) whatever `limit`
        cstart = self.idx * CHUNK
        cdata = self._full_chunk(self.idx)
        piece = cdata[self.pos - cstart:min(end, cstart + CHUNK) - cstart]
        self.pos += len(piece)
        if self.pos == cstart + CHUNK:
            self.idx += 1
        return piece

    def _full_chunk(self, idx):
        o = (self.off + idx * 40503) % POOL_SIZE
        return struct.pack("<QQ", self.sid, idx) + self.pool.data[o:o + CHUNK - TAG]


# --------------------------------------------------------------------------
# process sampling

def read_status(pid):
    """dict with rss_kib, hwm_kib, fds, cpu_s; None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
        with open("/proc/%d/stat" % pid) as f:
            ps = f.read()
        fds = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None
    fields = ps[ps.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    out = {"rss_kib": 0, "hwm_kib": 0, "fds": fds,
           "cpu_s": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")}
    for line in st.splitlines():
        if line.startswith("VmRSS:"):
            out["rss_kib"] = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            out["hwm_kib"] = int(line.split()[1])
    return out


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return -1.0


def scrape_active(port, timeout=2.0):
    """sum of sheath_connections_active from 127.0.0.1:port/metrics, or ''."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
    except OSError:
        return ""
    total = None
    for line in buf.decode("latin-1").splitlines():
        if line.startswith("sheath_connections_active{"):
            total = (total or 0) + int(float(line.rsplit(" ", 1)[1]))
    return "" if total is None else total


def parse_pids(items):
    out = []
    for it in items or []:
        name, _, pid = it.partition("=")
        out.append((name, int(pid)))
    return out


class Watch:
    """Samples the watched processes; remembers maxima and deaths."""

    def __init__(self, pids):
        self.pids = pids
        self.max_rss = {n: 0 for n, _ in pids}
        self.max_fds = {n: 0 for n, _ in pids}
        self.first = {}
        self.last = {}
        self.dead = {}

    def sample(self, t):
        cur = {}
        for name, pid in self.pids:
            st = read_status(pid)
            if st is None:
                self.dead.setdefault(name, round(t, 2))
                continue
            cur[name] = st
            self.first.setdefault(name, st)
            self.last[name] = st
            self.max_rss[name] = max(self.max_rss[name], st["rss_kib"])
            self.max_fds[name] = max(self.max_fds[name], st["fds"])
        return cur


# --------------------------------------------------------------------------
# streams

class Stream:
    __slots__ = ("sid", "size", "sock", "gen", "exp", "expbuf", "hs", "hr",
                 "out", "sent", "recvd", "limit", "shut", "state", "t0",
                 "t_est", "t_end", "err", "bad_at", "events")

    def __init__(self, pool, sid, size, off):
        self.sid, self.size = sid, size
        self.gen = Gen(pool, sid, size, off)
        self.exp = Gen(pool, sid, size, off)
        self.expbuf = b""
        self.hs = hashlib.sha256()
        self.hr = hashlib.sha256()
        self.out = None        # memoryview of the piece being sent
        self.sent = 0
        self.recvd = 0
        self.limit = size
        self.shut = False
        self.state = "new"
        self.t0 = self.t_est = self.t_end = None
        self.err = None
        self.bad_at = None
        self.events = 0
        self.sock = None


class Driver:
    """Runs Stream objects on one selector. Callbacks: on_est(stream),
    on_done(stream) (ok or failed: stream.err is None when ok)."""

    def __init__(self, port, stream_timeout=None):
        self.addr = ("127.0.0.1", port)
        self.sel = selectors.DefaultSelector()
        self.live = set()
        self.on_est = lambda s: None
        self.on_done = lambda s: None
        self.stream_timeout = stream_timeout
        self.bytes_sent = 0
        self.bytes_recvd = 0

    def start(self, st):
        st.t0 = now()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            st.sock = None
            self.fail(st, "socket: %s" % errno.errorcode.get(e.errno, e))
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        st.sock = sock
        st.state = "connecting"
        self.live.add(st)
        rc = sock.connect_ex(self.addr)
        if rc not in (0, errno.EINPROGRESS, errno.EAGAIN):
            self.fail(st, "connect: %s" % errno.errorcode.get(rc, rc))
            return
        self.set_events(st, selectors.EVENT_WRITE)

    def set_events(self, st, ev):
        if ev == st.events or st.sock is None:
            return
        if st.events == 0:
            self.sel.register(st.sock, ev, st)
        elif ev == 0:
            self.sel.unregister(st.sock)
        else:
            self.sel.modify(st.sock, ev, st)
        st.events = ev

    def want(self, st):
        ev = selectors.EVENT_READ
        if st.out is not None or \
                (not st.shut and (st.gen.pos < st.limit or st.gen.pos >= st.size)):
            ev |= selectors.EVENT_WRITE
        self.set_events(st, ev)

    def close(self, st):
        if st.sock is not None:
            self.set_events(st, 0)
            try:
                st.sock.close()
            except OSError:
                pass
            st.sock = None
        self.live.discard(st)
        st.t_end = now()

    def fail(self, st, why):
        if st.state in ("ok", "failed"):
            return
        st.err = why
        st.state = "failed"
        self.close(st)
        self.on_done(st)

    def succeed(self, st):
        st.state = "ok"
        self.close(st)
        self.on_done(st)

    def release(self, st, limit):
        """allow st to send up to `limit` bytes of its payload."""
        st.limit = limit
        if st.sock is not None and st.state not in ("connecting",):
            self.want(st)

    def expire(self, deadline_for):
        t = now()
        for st in list(self.live):
            d = deadline_for(st)
            if d is not None and t >= d:
                self.fail(st, "timeout (%s, sent %d/%d, echoed %d)" %
                          (st.state, st.sent, st.size, st.recvd))

    def poll(self, timeout):
        for key, mask in self.sel.select(timeout):
            st = key.data
            if st.sock is None:
                continue
            if st.state == "connecting":
                rc = st.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if rc:
                    self.fail(st, "connect: %s" % errno.errorcode.get(rc, rc))
                    continue
                st.state = "open"
                self.want(st)
                continue
            if mask & selectors.EVENT_READ:
                self.do_read(st)
            if st.sock is not None and mask & selectors.EVENT_WRITE:
                self.do_write(st)
            if st.sock is not None:
                self.want(st)

    def do_write(self, st):
        for _ in range(8):
            if st.out is None:
                piece = st.gen.chunk(st.limit)
                if not piece:
                    break
                st.hs.update(piece)
                st.out = memoryview(piece)
            try:
                n = st.sock.send(st.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.fail(st, "send: %s after %d/%d bytes" %
                          (errno.errorcode.get(e.errno, e), st.sent, st.size))
                return
            st.sent += n
            self.bytes_sent += n
            st.out = st.out[n:] if n < len(st.out) else None
            if st.out is not None:
                return
        if st.out is None and not st.shut and st.gen.pos >= st.size:
            try:
                st.sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                self.fail(st, "shutdown: %s" % errno.errorcode.get(e.errno, e))
                return
            st.shut = True

    def do_read(self, st):
        try:
            data = st.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.fail(st, "recv: %s after %d/%d bytes echoed" %
                      (errno.errorcode.get(e.errno, e), st.recvd, st.size))
            return
        if not data:
            if st.recvd == st.size and st.bad_at is None and \
                    st.hr.digest() == st.hs.digest() and st.sent == st.size:
                self.succeed(st)
            elif st.recvd < st.size:
                self.fail(st, "EOF after %d/%d bytes echoed (sent %d)" %
                          (st.recvd, st.size, st.sent))
            else:
                self.fail(st, "SHA-256 mismatch (first wrong byte at %s)" % st.bad_at)
            return
        first = st.recvd == 0
        st.hr.update(data)
        self.bytes_recvd += len(data)
        if st.recvd + len(data) > st.size:
            st.recvd += len(data)
            self.fail(st, "echo longer than payload (%d > %d)" % (st.recvd, st.size))
            return
        if st.bad_at is None:
            self.compare(st, data)
        st.recvd += len(data)
        if first and st.state == "open":
            st.state = "established"
            st.t_est = now()
            self.on_est(st)

    def compare(self, st, data):
        need = len(data)
        while len(st.expbuf) < need:
            piece = st.exp.chunk()
            if not piece:
                break
            st.expbuf += piece
        exp = st.expbuf[:need]
        st.expbuf = st.expbuf[need:]
        if exp != data:
            i = 0
            while i < len(data) and i < len(exp) and data[i] == exp[i]:
                i += 1
            st.bad_at = st.recvd + i


def new_stream(pool, rng, sid, lo, hi):
    return Stream(pool, sid, rng.randint(lo, hi), rng.randrange(POOL_SIZE))


def reasons_of(failed):
    c = collections.Counter()
    for st in failed:
        r = st.err or "?"
        # group by the reason without the numbers
        key = r.split(" after ")[0].split(" (")[0]
        c[key] += 1
    return dict(c.most_common())


# --------------------------------------------------------------------------
# load

def cmd_load(a):
    pool = Pool(a.seed)
    rng = random.Random(a.seed)
    lo, hi = parse_size(a.min_size), parse_size(a.max_size)
    streams = [new_stream(pool, rng, i + 1, lo, hi) for i in range(a.conns)]
    total_payload = sum(s.size for s in streams)
    watch = Watch(parse_pids(a.pid))
    drv = Driver(a.port)
    t_start = now()
    deadline = t_start + a.seconds
    watch.sample(0.0)
    pending = collections.deque(streams)
    inflight = 0          # started, neither established nor done
    est_now = 0           # established and not done
    peak = 0
    accounted = 0         # established or failed (for the barrier)
    released = False
    t_barrier = None
    done_ok, done_failed = [], []
    est_times = []

    def on_est(st):
        nonlocal inflight, est_now, peak, accounted
        inflight -= 1
        est_now += 1
        peak = max(peak, est_now)
        accounted += 1
        est_times.append(st.t_est - st.t0)
        if released:
            drv.release(st, st.size)

    def on_done(st):
        nonlocal inflight, est_now, accounted
        if st.t_est is None:
            inflight -= 1
            accounted += 1
        else:
            est_now -= 1
        (done_ok if st.err is None else done_failed).append(st)

    drv.on_est, drv.on_done = on_est, on_done
    for st in streams:
        st.limit = min(1, st.size)
    ramp = a.ramp if a.ramp > 0 else a.conns
    next_sample = now()
    barrier_deadline = t_start + a.seconds * 0.5
    while len(done_ok) + len(done_failed) < a.conns:
        t = now()
        while pending and inflight < ramp:
            st = pending.popleft()
            inflight += 1
            drv.start(st)
        if not released and (accounted >= a.conns or t >= barrier_deadline):
            released = True
            t_barrier = t
            for st in list(drv.live):
                drv.release(st, st.size)
            for st in pending:
                st.limit = st.size
        if t >= deadline:
            for st in list(pending):
                st.t0 = t
                st.err = "timeout (never started)"
                st.state = "failed"
                done_failed.append(st)
            pending.clear()
            drv.expire(lambda s: deadline)
            break
        if t >= next_sample:
            watch.sample(t - t_start)
            next_sample = t + 0.25
        drv.poll(min(0.25, max(0.0, deadline - t)))
    t_end = now()
    watch.sample(t_end - t_start)
    elapsed = t_end - t_start
    res = {
        "conns": a.conns, "ok": len(done_ok), "failed": len(done_failed),
        "payload_bytes": total_payload,
        "bytes_sent": drv.bytes_sent, "bytes_echoed": drv.bytes_recvd,
        "min_size": lo, "max_size": hi, "seed": a.seed, "ramp": a.ramp,
        "elapsed_s": round(elapsed, 3),
        "establish_phase_s": round((t_barrier or t_end) - t_start, 3),
        "transfer_phase_s": round(t_end - (t_barrier or t_end), 3),
        "all_established_at_once": peak == a.conns,
        "peak_concurrent_established": peak,
        "establish_time_ms_p50": round(1000 * statistics.median(est_times), 1) if est_times else None,
        "establish_time_ms_max": round(1000 * max(est_times), 1) if est_times else None,
        "echo_gbit_s": round(drv.bytes_recvd * 8 / elapsed / 1e9, 3),
        "failure_reasons": reasons_of(done_failed),
        "failures": [{"stream": s.sid, "size": s.size, "reason": s.err,
                      "sent": s.sent, "echoed": s.recvd,
                      "after_s": round((s.t_end or t_end) - (s.t0 or t_start), 3)}
                     for s in sorted(done_failed, key=lambda s: s.sid)[:20]],
        "procs": {},
        "loadavg_end": loadavg(),
    }
    for name, pid in watch.pids:
        f, l = watch.first.get(name, {}), watch.last.get(name, {})
        res["procs"][name] = {
            "pid": pid, "alive": name not in watch.dead,
            "died_at_s": watch.dead.get(name),
            "rss_start_kib": f.get("rss_kib"), "rss_max_kib": watch.max_rss[name],
            "rss_end_kib": l.get("rss_kib"), "hwm_kib": l.get("hwm_kib"),
            "fds_start": f.get("fds"), "fds_max": watch.max_fds[name],
            "cpu_s": round(l.get("cpu_s", 0) - f.get("cpu_s", 0), 2),
        }
    out = json.dumps(res, indent=1)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(out + "\n")
    print(out)
    ok = res["failed"] == 0 and res["ok"] == a.conns and not watch.dead
    return 0 if ok else 1


# --------------------------------------------------------------------------
# soak

def cmd_soak(a):
    pool = Pool(a.seed)
    rng = random.Random(a.seed)
    lo, hi = parse_size(a.min_size), parse_size(a.max_size)
    watch = Watch(parse_pids(a.pid))
    metrics = parse_pids(a.metrics)  # NAME=PORT
    drv = Driver(a.port)
    t_start = now()
    t_stop = t_start + a.seconds
    stream_timeout = a.stream_timeout
    sid = 0
    ok = 0
    failed = []
    n_failed = 0
    bytes_ok = 0
    lat = []                      # per-stream duration of the last interval
    csv = open(a.csv, "w")
    cols = ["t_s"]
    for name, _ in watch.pids:
        cols += ["rss_%s_kib" % name, "hwm_%s_kib" % name, "fds_%s" % name, "cpu_%s_s" % name]
    for name, _ in metrics:
        cols += ["active_%s" % name]
    cols += ["streams_ok", "streams_failed", "streams_per_s", "p50_ms", "max_ms", "loadavg1"]
    csv.write(",".join(cols) + "\n")
    csv.flush()
    samples = []                  # (t, {name: rss})
    last_ok = 0
    last_t = 0.0

    def start_one():
        nonlocal sid
        sid += 1
        drv.start(new_stream(pool, rng, sid, lo, hi))

    def on_done(st):
        nonlocal ok, n_failed, bytes_ok
        if st.err is None:
            ok += 1
            bytes_ok += st.size
            lat.append(st.t_end - st.t0)
        else:
            n_failed += 1
            if len(failed) < 50:
                failed.append(st)
        if now() < t_stop:
            start_one()

    drv.on_done = on_done

    def sample(t, final=False):
        nonlocal last_ok, last_t
        cur = watch.sample(t)
        row = ["%.1f" % t]
        for name, _ in watch.pids:
            st = cur.get(name)
            row += ["%d" % st["rss_kib"], "%d" % st["hwm_kib"], "%d" % st["fds"],
                    "%.2f" % st["cpu_s"]] if st else ["", "", "", ""]
        for name, port in metrics:
            row.append(str(scrape_active(port)))
        rate = "%.1f" % ((ok - last_ok) / (t - last_t)) if t - last_t >= 1.0 else ""
        row += [str(ok), str(n_failed), rate,
                "%.1f" % (1000 * statistics.median(lat)) if lat else "",
                "%.1f" % (1000 * max(lat)) if lat else "", "%.2f" % loadavg()]
        lat.clear()
        last_ok, last_t = ok, t
        csv.write(",".join(row) + "\n")
        csv.flush()
        if not final:
            samples.append((t, {n: s["rss_kib"] for n, s in cur.items()}))

    sample(0.0)
    for _ in range(a.workers):
        start_one()
    next_sample = t_start + a.interval
    end_wait = t_stop + stream_timeout + 5
    while True:
        t = now()
        if t >= next_sample:
            sample(t - t_start)
            next_sample += a.interval
        if t >= t_stop and not drv.live:
            break
        if t >= end_wait:
            drv.expire(lambda s: t)
            break
        drv.expire(lambda s: s.t0 + stream_timeout)
        drv.poll(max(0.0, min(0.2, next_sample - t)))
        if watch.dead and len(watch.dead) == len(watch.pids):
            # everything died: no point in going on
            drv.expire(lambda s: t)
            break
    t_end = now() - t_start
    sample(t_end, final=True)
    csv.close()

    T = a.seconds
    if T >= 180:
        w_start, w_end = (60.0, 120.0), (T - 60.0, T + 1e9)
    else:
        w_start, w_end = (T / 6, T / 3), (2 * T / 3, T + 1e9)
    # (the last CSV row, taken once every stream has finished, is not in
    # the end plateau: it is the idle state, not the load one)

    def median_in(name, lo_t, hi_t):
        v = [r[name] for t, r in samples if lo_t <= t < hi_t and name in r]
        return (statistics.median(v), len(v)) if v else (None, 0)

    res = {
        "seconds": T, "workers": a.workers, "min_size": lo, "max_size": hi, "seed": a.seed,
        "streams_ok": ok, "streams_failed": n_failed, "streams_started": sid,
        "payload_bytes_ok": bytes_ok, "elapsed_s": round(t_end, 1),
        "streams_per_s": round(ok / t_end, 1) if t_end > 0 else 0,
        "window_start_s": [round(w_start[0], 1), round(w_start[1], 1)],
        "window_end_s": [round(w_end[0], 1), round(T, 1)],
        "tolerance": a.tolerance,
        "failure_reasons": reasons_of(failed),
        "failures": [{"stream": s.sid, "size": s.size, "reason": s.err,
                      "sent": s.sent, "echoed": s.recvd,
                      "at_s": round((s.t0 or 0) - t_start, 2)} for s in failed[:20]],
        "procs": {}, "loadavg_end": loadavg(),
    }
    verdict = n_failed == 0 and not watch.dead and ok > 0
    for name, pid in watch.pids:
        s0, n0 = median_in(name, *w_start)
        s1, n1 = median_in(name, *w_end)
        f, l = watch.first.get(name, {}), watch.last.get(name, {})
        growth = (s1 - s0) / s0 if s0 and s1 is not None else None
        within = growth is not None and growth <= a.tolerance
        verdict = verdict and within
        res["procs"][name] = {
            "pid": pid, "alive": name not in watch.dead, "died_at_s": watch.dead.get(name),
            "rss_first_kib": f.get("rss_kib"), "rss_max_kib": watch.max_rss[name],
            "rss_plateau_start_kib": s0, "samples_start": n0,
            "rss_plateau_end_kib": s1, "samples_end": n1,
            "growth_pct": None if growth is None else round(100 * growth, 2),
            "within_tolerance": within,
            "hwm_kib": l.get("hwm_kib"), "fds_first": f.get("fds"),
            "fds_last": l.get("fds"), "fds_max": watch.max_fds[name],
            "cpu_s": round(l.get("cpu_s", 0) - f.get("cpu_s", 0), 1),
        }
    res["pass"] = verdict
    out = json.dumps(res, indent=1)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(out + "\n")
    print(out)
    return 0 if verdict else 1


# --------------------------------------------------------------------------
# echo backend

def cmd_echo(a):
    HIGH = 256 << 10
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", a.port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    conns = {}   # sock -> [bytearray pending, eof, events]
    deadline = now() + a.lifetime
    print("listening", flush=True)

    def drop(s):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        conns.pop(s, None)
        s.close()

    def update(s, c):
        ev = 0
        if not c[1] and len(c[0]) < HIGH:
            ev |= selectors.EVENT_READ
        if c[0]:
            ev |= selectors.EVENT_WRITE
        if c[1] and not c[0]:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            drop(s)
            return
        if ev != c[2]:
            if ev == 0:
                sel.unregister(s)
            elif c[2] == 0:
                sel.register(s, ev, c)
            else:
                sel.modify(s, ev, c)
            c[2] = ev

    while now() < deadline:
        for key, mask in sel.select(1.0):
            s = key.fileobj
            if key.data is None:
                for _ in range(256):
                    try:
                        cs, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            print("echo: accept: %s" % e, file=sys.stderr, flush=True)
                            time.sleep(0.01)
                        break
                    cs.setblocking(False)
                    c = [bytearray(), False, selectors.EVENT_READ]
                    conns[cs] = c
                    sel.register(cs, selectors.EVENT_READ, c)
                continue
            c = key.data
            if s not in conns:
                continue
            if mask & selectors.EVENT_READ:
                try:
                    d = s.recv(RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    d = None
                except OSError:
                    drop(s)
                    continue
                if d == b"":
                    c[1] = True
                elif d:
                    c[0] += d
            if mask & selectors.EVENT_WRITE and c[0]:
                try:
                    n = s.send(c[0])
                    del c[0][:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    drop(s)
                    continue
            update(s, c)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("echo")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--lifetime", type=float, default=3600)
    for name in ("load", "soak"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--seconds", type=float, required=True)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--pid", action="append", help="NAME=PID to sample")
        p.add_argument("--json")
        if name == "load":
            p.add_argument("--conns", type=int, required=True)
            p.add_argument("--min-size", default="1K")
            p.add_argument("--max-size", default="1M")
            p.add_argument("--ramp", type=int, default=128)
        else:
            p.add_argument("--workers", type=int, default=50)
            p.add_argument("--min-size", default="1K")
            p.add_argument("--max-size", default="64K")
            p.add_argument("--metrics", action="append", help="NAME=PORT of a /metrics endpoint")
            p.add_argument("--interval", type=float, default=5.0)
            p.add_argument("--stream-timeout", type=float, default=30.0)
            p.add_argument("--tolerance", type=float, default=0.10)
            p.add_argument("--csv", required=True)
    a = ap.parse_args()
    return {"echo": cmd_echo, "load": cmd_load, "soak": cmd_soak}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
