#!/usr/bin/env python3
"""Helpers for bench/run.sh (stdlib only).

Subcommands:
  echo PORT [LIFETIME]       echo server on 127.0.0.1:PORT (selectors, any
                             number of connections, bounded buffering);
                             prints "listening" once bound
  sanity PORT BYTES [TMO]    send BYTES random bytes through 127.0.0.1:PORT to
                             an echo backend while reading the echo; compare
                             SHA-256 of what went out and what came back
  http PORT                  one GET / (Connection: close); expects 200 + body
  idle PORT N TMO            open N connections, each sends one byte and waits
                             for its echo; prints "ready OK FAILED SECONDS" and
                             then holds every socket open until killed
  procstat PID...            JSON totals over the PIDs and all descendants:
                             rss_kib, pss_kib, fds, cpu_ticks, nprocs
  cpuinfo                    CPU model name
  report RAWDIR MD JSON      build the markdown table and the JSON file
"""

import errno
import hashlib
import json
import os
import selectors
import signal
import socket
import statistics
import sys
import threading
import time


# --------------------------------------------------------------------------
# echo server

def cmd_echo(port, lifetime="3600"):
    deadline = time.monotonic() + float(lifetime)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", int(port)))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    pending = {}  # sock -> bytearray waiting to be written
    HIGH = 1 << 20
    print("listening", flush=True)

    def close(s):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        pending.pop(s, None)
        s.close()

    def update(s):
        ev = 0
        buf = pending[s]
        if len(buf) < HIGH:
            ev |= selectors.EVENT_READ
        if buf:
            ev |= selectors.EVENT_WRITE
        try:
            if ev:
                sel.modify(s, ev, "c")
        except (KeyError, ValueError):
            pass

    while time.monotonic() < deadline:
        for key, mask in sel.select(1.0):
            s = key.fileobj
            if key.data is None:
                for _ in range(256):
                    try:
                        c, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:  # EMFILE etc.: back off a little
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            time.sleep(0.01)
                        break
                    c.setblocking(False)
                    pending[c] = bytearray()
                    sel.register(c, selectors.EVENT_READ, "c")
                continue
            if s not in pending:
                continue
            buf = pending[s]
            if mask & selectors.EVENT_READ:
                try:
                    data = s.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    close(s)
                    continue
                if data == b"":
                    # peer finished sending: flush what we have, then close
                    if buf:
                        try:
                            s.setblocking(True)
                            s.settimeout(10)
                            s.sendall(buf)
                        except OSError:
                            pass
                    try:
                        s.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    close(s)
                    continue
                if data:
                    buf += data
            if buf:
                try:
                    n = s.send(buf)
                    del buf[:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    close(s)
                    continue
            update(s)


# --------------------------------------------------------------------------
# sanity transfer

def cmd_sanity(port, nbytes, timeout="60"):
    nbytes = int(nbytes)
    timeout = float(timeout)
    data = os.urandom(nbytes)
    want = hashlib.sha256(data).hexdigest()
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
    s.settimeout(timeout)
    err = []

    def sender():
        try:
            view = memoryview(data)
            for off in range(0, nbytes, 1 << 16):
                s.sendall(view[off:off + (1 << 16)])
        except OSError as e:
            err.append("send: %s" % e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    h = hashlib.sha256()
    got = 0
    start = time.monotonic()
    try:
        while got < nbytes:
            if time.monotonic() - start > timeout:
                raise socket.timeout("overall timeout")
            chunk = s.recv(min(1 << 18, nbytes - got))
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
    except OSError as e:
        err.append("recv: %s" % e)
    t.join(5)
    s.close()
    have = h.hexdigest()
    if got != nbytes or have != want or err:
        print("FAIL sent %d bytes sha256 %s, got back %d bytes sha256 %s %s"
              % (nbytes, want, got, have, "; ".join(err)))
        sys.exit(1)
    print("ok %d bytes sha256 %s in %.2fs" % (nbytes, want, time.monotonic() - start))


# --------------------------------------------------------------------------
# HTTP check

def cmd_http(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    resp = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    head, _, body = resp.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" " or body != b"sheath-bench\n":
        print("FAIL status %r body %r" % (status, body[:80]))
        sys.exit(1)
    print("ok %s" % status.decode())


# --------------------------------------------------------------------------
# idle connections

def cmd_idle(port, n, timeout):
    n = int(n)
    deadline = time.monotonic() + float(timeout)
    addr = ("127.0.0.1", int(port))
    sel = selectors.DefaultSelector()
    MAX_INFLIGHT = 64
    established = []
    failed = 0
    todo = n
    inflight = 0
    start = time.monotonic()

    def launch():
        nonlocal inflight, todo
        try:
            s = socket.socket()
        except OSError as e:
            # out of descriptors itself: report what it holds, not a crash
            print("client: %s after %d connections" % (e.strerror, len(established)),
                  file=sys.stderr, flush=True)
            todo = 0
            return
        s.setblocking(False)
        try:
            s.connect(addr)
        except BlockingIOError:
            pass
        sel.register(s, selectors.EVENT_WRITE, "connecting")
        inflight += 1

    while (todo > 0 or inflight > 0) and time.monotonic() < deadline:
        while todo > 0 and inflight < MAX_INFLIGHT:
            todo -= 1
            launch()
        for key, mask in sel.select(0.5):
            s = key.fileobj
            state = key.data
            ok = True
            if state == "connecting":
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e == 0:
                    try:
                        s.send(b"x")
                        sel.modify(s, selectors.EVENT_READ, "waiting")
                        continue
                    except OSError:
                        ok = False
                else:
                    ok = False
            elif state == "waiting":
                try:
                    b = s.recv(1)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                if b == b"x":
                    sel.unregister(s)
                    inflight -= 1
                    established.append(s)
                    continue
                ok = False
            if not ok:
                sel.unregister(s)
                s.close()
                inflight -= 1
                failed += 1
                todo += 1  # retry, bounded by the deadline
                if failed > n:  # hopeless
                    todo = 0
    elapsed = time.monotonic() - start
    print("ready %d %d %.2f" % (len(established), failed, elapsed), flush=True)
    # hold everything open until told to go
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    hold_until = time.monotonic() + 600
    while time.monotonic() < hold_until:
        time.sleep(1)


# --------------------------------------------------------------------------
# process statistics

def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree(pids):
    kids = _children_map()
    seen = []
    stack = list(pids)
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.append(p)
        stack.extend(kids.get(p, []))
    return seen


def _proc_one(pid):
    r = {"rss_kib": 0, "pss_kib": 0, "fds": 0, "cpu_ticks": 0}
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime=14 stime=15 cutime=16 cstime=17
    r["cpu_ticks"] = sum(int(fields[i - 3]) for i in (14, 15, 16, 17))
    # A zombie (exited, not yet reaped) has no memory and no fd table, but its
    # CPU time above still counts: never drop a process for a missing file.
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    r["rss_kib"] = int(line.split()[1])
    except OSError:
        pass
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    r["pss_kib"] = int(line.split()[1])
    except OSError:
        pass
    try:
        r["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        pass
    return r


def procstat(pids):
    tot = {"rss_kib": 0, "pss_kib": 0, "fds": 0, "cpu_ticks": 0, "nprocs": 0}
    for p in _tree(pids):
        try:
            r = _proc_one(p)
        except (OSError, ValueError, IndexError):
            continue
        for k, v in r.items():
            tot[k] += v
        tot["nprocs"] += 1
    return tot


def _foreign_ticks(root):
    """CPU ticks (utime+stime+cutime+cstime) summed over every user-space
    process that is not in root's tree. Summing over the whole set (rather
    than per PID) keeps a foreign child that exits during the window right:
    its time moves into its parent's cutime."""
    kids = {}
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        pid, ppid = int(d), int(fields[1])
        kids.setdefault(ppid, []).append(pid)
        stats[pid] = (ppid, sum(int(fields[i - 3]) for i in (14, 15, 16, 17)))
    ours = set()
    stack = [root]
    while stack:
        p = stack.pop()
        if p not in ours:
            ours.add(p)
            stack.extend(kids.get(p, []))
    tot = 0
    for pid, (ppid, ticks) in stats.items():
        if pid in ours or pid == 2 or ppid == 2:  # ours, or a kernel thread
            continue
        tot += ticks
    return tot


def cmd_foreign(root, state_file, mode):
    """foreign ROOT FILE begin|end: 'begin' stores a snapshot; 'end' prints
    the CPU other user processes used since, in percent of one core."""
    root = int(root)
    now = time.monotonic()
    ticks = _foreign_ticks(root)
    if mode == "begin":
        with open(state_file, "w") as f:
            json.dump({"t": now, "ticks": ticks}, f)
        return
    with open(state_file) as f:
        b = json.load(f)
    hz = os.sysconf("SC_CLK_TCK")
    pct = 100.0 * (ticks - b["ticks"]) / hz / max(1e-3, now - b["t"])
    print("%.1f" % max(0.0, pct))


def cmd_procstat(*pids):
    print(json.dumps(procstat([int(p) for p in pids])))


def cmd_cpuinfo():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                print(line.split(":", 1)[1].strip())
                return
    print("unknown")


# --------------------------------------------------------------------------
# report

METRICS = [
    # key, label, unit, better, decimals
    ("bulk1_gbps", "Bulk throughput, 1 stream", "Gbit/s", "higher", 2),
    ("bulk4_gbps", "Bulk throughput, 4 streams", "Gbit/s", "higher", 2),
    ("cps", "New connections/s (full TLS handshake each)", "conn/s", "higher", 0),
    ("cps_resumed", "New connections/s with session resumption (sheath only)", "conn/s", "higher", 0),
    ("resumed_fraction", "Share of those handshakes that resumed (B's /metrics)", "", "higher", 3),
    ("cps_resumed_psk_ke", "New connections/s, resumption without (EC)DHE (opt-in `priority` +PSK, no forward secrecy; sheath only)", "conn/s", "higher", 0),
    ("resumed_psk_ke_fraction", "Share of those handshakes that resumed (B's /metrics)", "", "higher", 3),
    ("segs_per_conn", "TCP segments sent per request in the new-connection test (all hops)", "segments", "lower", 1),
    ("lat_p50_ms", "Keep-alive request latency p50", "ms", "lower", 3),
    ("lat_p99_ms", "Keep-alive request latency p99", "ms", "lower", 3),
    ("ka_rps", "Keep-alive requests/s (same run)", "req/s", "higher", 0),
    # one row each per idle-connection count N (see idle_metrics)
    ("@idle", None, None, None, None),
    ("cpu_s_per_gib", "CPU seconds per GiB (A+B user+sys, 1 stream)", "s/GiB", "lower", 3),
    ("cpu_s_per_gib4", "CPU seconds per GiB (A+B user+sys, 4 streams)", "s/GiB", "lower", 3),
    ("bulk1_frac_direct", "1-stream bulk as fraction of direct", "", "higher", 3),
    ("foreign_cpu_pct", "Other processes' CPU during timed tests: median (max)", "% of a core", "lower", 0),
]


def idle_metrics(counts):
    """The per-count rows of the idle-connection test."""
    rows = []
    for n in counts:
        rows += [
            ("idle_ok_%d" % n, "Idle connections held end-to-end (of %d)" % n, "conns", "higher", 0),
            ("mem_kib_per_conn_%d" % n, "Memory per idle connection, %d conns (A+B VmRSS)" % n, "KiB", "lower", 1),
            ("pss_kib_per_conn_%d" % n, "Memory per idle connection, %d conns (A+B PSS)" % n, "KiB", "lower", 1),
            ("fds_per_conn_%d" % n, "File descriptors per idle connection, %d conns (A+B)" % n, "fds", "lower", 2),
        ]
    return rows


# The targets of the performance issue, as (label, metric, peer, op, bound):
# met when sheath/peer (or, with peer None, the value itself) op bound.
TARGETS = [
    ("Bulk 1 stream >= 1.0x HAProxy", "bulk1_gbps", "haproxy", ">=", 1.0),
    ("Bulk 1 stream >= 1.3x stunnel", "bulk1_gbps", "stunnel", ">=", 1.3),
    ("Bulk 4 streams >= 1.0x HAProxy", "bulk4_gbps", "haproxy", ">=", 1.0),
    ("Bulk 4 streams >= 1.3x stunnel", "bulk4_gbps", "stunnel", ">=", 1.3),
    ("New connections/s (full handshakes) >= 1.0x HAProxy", "cps", "haproxy", ">=", 1.0),
    ("New connections/s (full handshakes) >= 1.2x stunnel", "cps", "stunnel", ">=", 1.2),
    ("With resumption >= 2x sheath's own full-handshake rate", "cps_resumed", "@cps", ">=", 2.0),
    ("Latency p99 <= HAProxy's", "lat_p99_ms", "haproxy", "<=", 1.0),
    ("CPU per GiB <= HAProxy's", "cpu_s_per_gib", "haproxy", "<=", 1.0),
]


def idle_targets(counts):
    out = []
    for n in counts:
        out += [
            ("Memory per idle connection (%d) <= 0.5x HAProxy" % n, "mem_kib_per_conn_%d" % n, "haproxy", "<=", 0.5),
            ("Memory per idle connection (%d) <= 0.25x stunnel" % n, "mem_kib_per_conn_%d" % n, "stunnel", "<=", 0.25),
        ]
        if n >= 9000:
            out.append(("%d idle connections held by one pair" % n, "idle_ok_%d" % n, None, ">=", float(n)))
    return out


def _fmt(v, dec):
    if v is None:
        return "n/a"
    return ("%%.%df" % dec) % v


def _cell(vals, dec):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    med = statistics.median(vals)
    if len(vals) == 1:
        return _fmt(med, dec)
    return "%s (%s–%s)" % (_fmt(med, dec), _fmt(min(vals), dec), _fmt(max(vals), dec))


def cmd_report(rawdir, md_path, json_path):
    with open(os.path.join(rawdir, "meta.json")) as f:
        meta = json.load(f)
    impls = meta["impls"]
    results = {}
    notes = {}
    for impl in impls:
        results[impl] = {}
        p = os.path.join(rawdir, impl + ".jsonl")
        if os.path.exists(p):
            with open(p) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    rec = json.loads(line)
                    if rec.get("metric") == "note":
                        notes.setdefault(impl, []).append(rec["text"])
                        continue
                    results[impl].setdefault(rec["metric"], {"runs": [], "raw": []})
                    results[impl][rec["metric"]]["runs"].append(rec["value"])
                    results[impl][rec["metric"]]["raw"].append(rec.get("raw"))
    # derived: fraction of direct
    direct = [v for v in results.get("direct", {}).get("bulk1_gbps", {}).get("runs", []) if v is not None]
    dmed = statistics.median(direct) if direct else None
    for impl in impls:
        runs = [v for v in results[impl].get("bulk1_gbps", {}).get("runs", []) if v is not None]
        if runs and dmed:
            results[impl]["bulk1_frac_direct"] = {"runs": [v / dmed for v in runs], "raw": []}
    for impl in impls:
        for m, d in results[impl].items():
            vals = [v for v in d["runs"] if v is not None]
            if vals:
                d["median"] = statistics.median(vals)
                d["min"] = min(vals)
                d["max"] = max(vals)
            else:
                d["median"] = d["min"] = d["max"] = None

    def med(impl, m):
        return results.get(impl, {}).get(m, {}).get("median")

    out = []
    conns = meta["conns"] if isinstance(meta["conns"], list) else [meta["conns"]]
    out.append("Run %s on %s; kernel %s; %s repetition(s) per metric, "
               "%s s per timed test, %s idle connections; sheath with workers = %s per end%s."
               % (meta["date"], meta["cpu"], meta["kernel"], meta["runs"],
                  meta["duration"], " and ".join(str(n) for n in conns),
                  meta.get("sheath_workers", 1), " (BENCH_QUICK)" if meta["quick"] else ""))
    out.append("Repetitions are interleaved: round r runs repetition r of every test "
               "for every implementation.")
    if meta.get("suites"):
        out.append("Every pair offers the TLS 1.3 cipher suites `%s` in this order "
                   "(sheath's default order; OpenSSL's own default puts AES-256-GCM first)."
                   % meta["suites"])
    else:
        out.append("Each implementation offers its default TLS 1.3 cipher suites (BENCH_SUITES=openssl).")
    out.append("")
    out.append("Cells: median (min–max) over the repetitions. "
               "`n/a`: not applicable (no tunnel) or not measured.")
    out.append("")
    cols = [i for i in impls]
    counts = meta["conns"] if isinstance(meta["conns"], list) else [meta["conns"]]
    metrics = []
    for m in METRICS:
        metrics += idle_metrics(counts) if m[0] == "@idle" else [m]
    out.append("| metric | unit | better | " + " | ".join(cols) + " |")
    out.append("|---|---|---|" + "---|" * len(cols))
    for key, label, unit, better, dec in metrics:
        row = [label, unit, better]
        for impl in cols:
            if impl in meta.get("skipped", {}):
                row.append("skipped")
            elif key == "foreign_cpu_pct":
                vals = [v for v in results[impl].get(key, {}).get("runs", []) if v is not None]
                row.append("%s (%s)" % (_fmt(statistics.median(vals), dec), _fmt(max(vals), dec))
                           if vals else "n/a")
            else:
                row.append(_cell(results[impl].get(key, {}).get("runs", []), dec))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    # ratios
    ratios = {}
    out.append("Ratios of medians (sheath / peer). For `higher` metrics a ratio "
               "above 1 favours sheath; for `lower` metrics a ratio below 1 does.")
    out.append("")
    out.append("| metric | better | sheath/stunnel | sheath/haproxy | sheath/socat |")
    out.append("|---|---|---|---|---|")
    for key, label, unit, better, dec in metrics:
        if key in ("bulk1_frac_direct", "foreign_cpu_pct", "cps_resumed",
                   "resumed_fraction", "cps_resumed_psk_ke",
                   "resumed_psk_ke_fraction") or key.startswith("idle_ok_"):
            continue
        row = [label, better]
        for peer in ("stunnel", "haproxy", "socat"):
            a, b = med("sheath", key), med(peer, key)
            if a is None or b is None or b == 0:
                row.append("n/a")
            else:
                r = a / b
                ratios.setdefault(peer, {})[key] = r
                row.append("%.2f" % r)
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    # targets
    def series(impl, m):
        return results.get(impl, {}).get(m, {}).get("runs", [])

    def per_round(key, peer):
        """The target's ratio in each round (rounds are interleaved, so the
        two figures of a round were measured minutes apart); [] when the
        two series do not line up round for round."""
        if peer is None:
            return []
        other = series("sheath", peer[1:]) if peer.startswith("@") else series(peer, key)
        mine = series("sheath", key)
        if len(mine) != len(other) or len(mine) < 2:
            return []
        return [x / y if x is not None and y else None for x, y in zip(mine, other)]

    out.append("Targets (medians of this run; then the ratio of each round, "
               "and in how many rounds it was met):")
    out.append("")
    out.append("| target | measured | met | per round | rounds met |")
    out.append("|---|---|---|---|---|")
    targets = {}
    for label, key, peer, op, bound in TARGETS + idle_targets(counts):
        a = med("sheath", key)
        if peer is None:
            b, what = 1.0, None
        elif peer.startswith("@"):
            b, what = med("sheath", peer[1:]), "%s/sheath %s" % (key, peer[1:])
        else:
            b, what = med(peer, key), "sheath/%s" % peer
        if a is None or not b:
            out.append("| %s | not measured | n/a | | |" % label)
            targets[label] = None
            continue
        def meets(x):
            return x >= bound if op == ">=" else x <= bound

        v = a / b
        met = meets(v)
        rounds = per_round(key, peer)
        known = [r for r in rounds if r is not None]
        rounds_met = sum(1 for r in known if meets(r))
        targets[label] = {"value": v, "bound": bound, "op": op, "met": met,
                          "rounds": rounds, "rounds_met": rounds_met if known else None}
        shown = "%.0f" % v if peer is None else "%.2f (%s)" % (v, what)
        out.append("| %s | %s | %s | %s | %s |" % (
            label, shown, "yes" if met else "**no**",
            ", ".join("n/a" if r is None else "%.2f" % r for r in rounds) or "–",
            "%d of %d" % (rounds_met, len(known)) if known else "–"))
    out.append("")
    full, nodhe = med("sheath", "cps"), med("sheath", "cps_resumed_psk_ke")
    if full and nodhe:
        out.append("Not a target, for comparison: resumption without (EC)DHE (opt-in, "
                   "resumed sessions lose forward secrecy) = %.2fx sheath's own "
                   "full-handshake rate." % (nodhe / full))
        out.append("")
    # physical limits
    phys = meta.get("physical", {})
    out.append("Physical limits on this machine:")
    out.append("")
    if phys.get("cipher_line"):
        out.append("- `gnutls-cli --benchmark-ciphers`: `%s` (one core, encryption only)" % phys["cipher_line"])
    if phys.get("openssl_line"):
        out.append("- `%s` (one core, encryption only)" % phys["openssl_line"])
    if dmed:
        out.append("- direct loopback TCP, 1 stream (iperf3, no tunnel): %.2f Gbit/s" % dmed)
    s1 = med("sheath", "bulk1_gbps")
    if s1 is not None and dmed:
        out.append("- sheath 1-stream bulk: %.2f Gbit/s = %.1f%% of direct loopback" % (s1, 100 * s1 / dmed))
    if s1 is not None and phys.get("cipher_gbps"):
        out.append("- sheath 1-stream bulk = %.1f%% of the single-core %s encryption rate (%.2f Gbit/s); "
                   "every byte is encrypted once (A) and decrypted once (B)"
                   % (100 * s1 / phys["cipher_gbps"], phys.get("cipher_name", "cipher"), phys["cipher_gbps"]))
    out.append("")
    if meta.get("negotiated"):
        out.append("Negotiated on B (probe with gnutls-cli and the client certificate):")
        out.append("")
        for impl in cols:
            if impl in meta["negotiated"]:
                out.append("- %s: `%s`" % (impl, meta["negotiated"][impl]))
        out.append("")
    if meta.get("versions"):
        out.append("Versions: " + "; ".join("%s %s" % (k, v) for k, v in meta["versions"].items()))
        out.append("")
    if meta.get("skipped"):
        for k, v in meta["skipped"].items():
            out.append("- skipped %s: %s" % (k, v))
        out.append("")
    if notes:
        out.append("Notes and problems seen during the run:")
        out.append("")
        for impl, ns in notes.items():
            for n in ns:
                out.append("- %s: %s" % (impl, n))
        out.append("")
    md = "\n".join(out)
    with open(md_path, "w") as f:
        f.write(md + "\n")
    print(md)
    doc = {"meta": meta, "results": results, "ratios_sheath_over": ratios,
           "targets": targets, "notes": notes}
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd = sys.argv[1]
    fn = globals().get("cmd_" + cmd)
    if fn is None:
        print(__doc__)
        sys.exit(2)
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
