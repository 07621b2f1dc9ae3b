#!/usr/bin/env bash
# bench/load.sh [CONNS] [SECONDS] -- many concurrent streams through a sheath pair.
#
#   tools/sheathload.py load --plain--> A (sheath client, client cert)
#       --mutual TLS--> B (sheath server, verify require) --plain--> echo
#
# CONNS (default 2000) streams, each with a payload of a random size in
# LOAD_MIN..LOAD_MAX (default 1 KiB..1 MiB, uniform, seeded), go through the
# pair to an echo backend. The driver is one process with non-blocking
# sockets. First every stream is established end to end (its first byte
# has come back; at most LOAD_RAMP streams handshaking at once), then all
# CONNS send the rest of their payload at the same time while reading the
# echo, half-close, and read to EOF. A stream is ok when the echo has the
# payload's exact length and SHA-256. Everything must be done within
# SECONDS (default 60) of the first connect; what is not is failed.
#
# Reported: streams ok/failed (with reasons), bytes, elapsed time (both
# phases), peak concurrent streams, VmRSS of A and B (before, sampled max
# every 0.25 s, after, and the kernel's VmHWM), their CPU seconds and open
# descriptors, and the connection outcomes from sheath's own /metrics.
# sheath's max_connections is set to max(10000, 2*CONNS + 1000) so that the
# limit is never what is measured; a "connection limit" or "out of file
# descriptors" line in the logs fails the run.
#
# Exit status: 0 all streams ok, both sheath processes alive, no
# connection left active in A or B 15 s after the end; 1 otherwise;
# 2 set-up error.
#
# Environment:
#   SHEATH       sheath binary (default: ../src/sheath beside this script)
#   LOAD_MIN, LOAD_MAX   payload size range (default 1K, 1M; K/M suffixes)
#   LOAD_SEED    seed for sizes and data (default 1)
#   LOAD_RAMP    streams handshaking at once while establishing (default
#                128; 0 = all CONNS connect at once)
#   KEEP=1       keep the scratch directory (configs, logs, JSON)
set -uo pipefail

NAME=load # read by tools/pair.sh
CONNS=${1:-2000}
SECS=${2:-60}
[[ $CONNS =~ ^[1-9][0-9]*$ && $SECS =~ ^[1-9][0-9]*$ ]] || {
	echo "usage: $0 [CONNS] [SECONDS]" >&2
	exit 2
}
MIN=${LOAD_MIN:-1K}
MAX=${LOAD_MAX:-1M}
SEED=${LOAD_SEED:-1}
RAMP=${LOAD_RAMP:-128}
MAXCONN=$((2 * CONNS + 1000))
((MAXCONN < 10000)) && MAXCONN=10000
ECHO_LIFETIME=$((SECS + 300))

# shellcheck source-path=SCRIPTDIR source=tools/pair.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools/pair.sh"

# A and B hold two descriptors per stream, the driver and the backend one;
# the limit is inherited by everything started below
pair_fds $((2 * CONNS + 1024))

pair_start
log "$CONNS streams of $MIN..$MAX (seed $SEED, ramp $RAMP), bound ${SECS}s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

timeout -k 5 $((SECS + 60)) "$PY" "$TOOL" load --port "$PA" --conns "$CONNS" --seconds "$SECS" \
	--min-size "$MIN" --max-size "$MAX" --seed "$SEED" --ramp "$RAMP" \
	--pid "A=$PID_A" --pid "B=$PID_B" --pid "echo=$PID_E" --json "$WORK/load.json" \
	>"$WORK/driver.out" 2>"$WORK/driver.err"
drv_rc=$?

# connections must all end in A and B once the streams did
pair_settle
limit_lines=$(cat "$WORK/a.log" "$WORK/b.log" | grep -Ec 'connection limit|out of file descriptors')

if [[ ! -s $WORK/load.json ]]; then
	log "the driver produced no result (exit $drv_rc):"
	tail -n 20 "$WORK/driver.out" "$WORK/driver.err" >&2
	echo '{}' >"$WORK/load.json"
fi

rc=0
((drv_rc == 0)) || rc=1
[[ $alive_a == yes && $alive_b == yes ]] || rc=1
[[ $active_a == 0 && $active_b == 0 ]] || rc=1
((limit_lines == 0)) || rc=1

"$PY" - "$WORK/load.json" "$rc" "$CONNS" "$MIN" "$MAX" "$SEED" "$SECS" "$alive_a" "$alive_b" \
	"$out_a" "$out_b" "$active_a" "$active_b" "$limit_lines" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
conns, lo, hi, seed, secs, alive_a, alive_b, out_a, out_b, active_a, active_b, limit_lines = sys.argv[3:]
P = d.get("procs", {})
def mib(k):
    return "-" if k is None else "%.1f" % (k / 1024)
def g(k, dflt="?"):
    v = d.get(k)
    return dflt if v is None else v
print()
print("sheath load: %s concurrent streams, payload %s..%s (seed %s), bound %s s" % (conns, lo, hi, seed, secs))
rows = [
    ("streams ok / failed", "%s / %s of %s" % (g("ok"), g("failed"), g("conns"))),
    ("peak concurrent streams (end to end)", "%s (all at once: %s)" % (g("peak_concurrent_established"), g("all_established_at_once"))),
    ("payload bytes, sent / echoed", "%s / %s (%.1f / %.1f MiB)" % (g("bytes_sent"), g("bytes_echoed"),
                                                                    g("bytes_sent", 0) / 2**20, g("bytes_echoed", 0) / 2**20)),
    ("elapsed: total (establish + transfer)", "%s s (%s + %s)" % (g("elapsed_s"), g("establish_phase_s"), g("transfer_phase_s"))),
    ("time to establish a stream p50 / max", "%s / %s ms" % (g("establish_time_ms_p50"), g("establish_time_ms_max"))),
    ("echo throughput (whole run)", "%s Gbit/s" % g("echo_gbit_s")),
]
for n in ("A", "B"):
    p = P.get(n, {})
    rows.append(("sheath %s VmRSS before / max / after" % n,
                 "%s / %s / %s MiB (VmHWM %s MiB)" % (mib(p.get("rss_start_kib")), mib(p.get("rss_max_kib")),
                                                     mib(p.get("rss_end_kib")), mib(p.get("hwm_kib")))))
    rows.append(("sheath %s CPU / max open fds / alive" % n,
                 "%s s / %s / %s" % (p.get("cpu_s"), p.get("fds_max"), alive_a if n == "A" else alive_b)))
rows += [
    ("sheath A /metrics after", out_a),
    ("sheath B /metrics after", out_b),
    ("connections still active A / B", "%s / %s" % (active_a, active_b)),
    ("connection-limit/EMFILE log lines", limit_lines),
    ("load average at end (2 cores, shared)", g("loadavg_end")),
]
w = max(len(r[0]) for r in rows)
for k, v in rows:
    print("  %-*s  %s" % (w, k, v))
if d.get("failed"):
    print("  failure reasons: %s" % d.get("failure_reasons"))
    for f in d.get("failures", [])[:10]:
        print("    stream %(stream)d size %(size)d: %(reason)s (sent %(sent)d, echoed %(echoed)d, after %(after_s)s s)" % f)
print("load: %s" % ("PASS" if rc == 0 else "FAIL"))
EOF
if [[ -s $WORK/a.log || -s $WORK/b.log ]]; then
	echo "sheath logged ($(pair_log_lines)):"
	pair_log_show
fi
if ((rc != 0)); then
	echo "reproduce: SHEATH=$SHEATH LOAD_MIN=$MIN LOAD_MAX=$MAX LOAD_SEED=$SEED LOAD_RAMP=$RAMP KEEP=1 $0 $CONNS $SECS"
fi
exit "$rc"
