#!/usr/bin/env bash
# bench/soak.sh [MINUTES] -- connection churn through a sheath pair, watching memory.
#
#   tools/sheathload.py soak --plain--> A (sheath client, client cert)
#       --mutual TLS--> B (sheath server, verify require) --plain--> echo
#
# For MINUTES (default 10; decimals allowed for a smoke test),
# SOAK_WORKERS (default 50) concurrent workers each loop: connect to A,
# send a random payload of SOAK_MIN..SOAK_MAX (default 1..64 KiB, seeded),
# half-close, read the echo to EOF, check length and SHA-256, close, and
# start over at once. Every new connection is a full mutually
# authenticated TLS handshake between A and B and a new connection from B to
# the backend. A stream that takes longer than 30 s is failed.
#
# Every SOAK_INTERVAL seconds (default 5) one CSV row: VmRSS, VmHWM, open
# descriptors and CPU seconds of A and B, their active connections (from
# sheath's /metrics), streams ok/failed so far, streams per second, stream
# duration p50/max over the interval, and the load average.
#
# Verdict: the RSS plateau at the start is the median of the samples in
# minute 1..2, the one at the end the median over the last minute (for runs
# under 3 minutes: [T/6, T/3) and [2T/3, T]). PASS only if no stream
# failed, both sheath processes are alive, no connection is left active in
# A or B after the run, and for A and for B end <= start * (1 + tolerance)
# (SOAK_TOLERANCE, default 0.10; a shrinking RSS passes). Exit 0 on PASS,
# 1 on FAIL, 2 on a set-up error.
#
# Environment:
#   SHEATH          sheath binary (default: ../src/sheath beside this script)
#   SOAK_WORKERS    concurrent workers (default 50)
#   SOAK_MIN, SOAK_MAX   payload size range (default 1K, 64K)
#   SOAK_SEED       seed for sizes and data (default 1)
#   SOAK_INTERVAL   seconds between samples (default 5)
#   SOAK_TOLERANCE  allowed RSS growth, fraction (default 0.10)
#   SOAK_CSV        where the samples go (default /tmp/sheath-soak-DATE.csv;
#                   the JSON summary goes beside it, .json)
#   KEEP=1          keep the scratch directory (configs, logs)
set -uo pipefail

NAME=soak # read by tools/pair.sh
MINUTES=${1:-10}
[[ $MINUTES =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
	echo "usage: $0 [MINUTES]" >&2
	exit 2
}
SECS=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')
((SECS >= 12)) || {
	echo "$0: MINUTES must be at least 0.2" >&2
	exit 2
}
WORKERS=${SOAK_WORKERS:-50}
MIN=${SOAK_MIN:-1K}
MAX=${SOAK_MAX:-64K}
SEED=${SOAK_SEED:-1}
INTERVAL=${SOAK_INTERVAL:-5}
# Runs under 3 minutes judge growth between [S/6, S/3) and the last third:
# the first window must hold a sample.
if ((SECS < 180)) && awk -v i="$INTERVAL" -v s="$SECS" 'BEGIN { exit !(i > s / 6) }'; then
	echo "$0: a ${SECS}s soak needs SOAK_INTERVAL <= $((SECS / 6)) s (have $INTERVAL)" >&2
	exit 2
fi
TOL=${SOAK_TOLERANCE:-0.10}
CSV=${SOAK_CSV:-/tmp/sheath-soak-$(date +%Y%m%d-%H%M%S).csv}
JSON=${CSV%.csv}.json
MAXCONN=10000
((2 * WORKERS + 1000 > MAXCONN)) && MAXCONN=$((2 * WORKERS + 1000))
ECHO_LIFETIME=$((SECS + 600))

# shellcheck source-path=SCRIPTDIR source=tools/pair.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools/pair.sh"

pair_fds $((4 * WORKERS + 1024))
mkdir -p "$(dirname "$CSV")" || die "cannot create the directory of $CSV"
: >"$CSV" || die "cannot write $CSV"

pair_start
log "$WORKERS workers, payload $MIN..$MAX (seed $SEED), ${SECS}s, a sample every ${INTERVAL}s into $CSV; load average $(cut -d' ' -f1-3 /proc/loadavg)"

timeout -k 5 $((SECS + 120)) "$PY" "$TOOL" soak --port "$PA" --workers "$WORKERS" \
	--seconds "$SECS" --min-size "$MIN" --max-size "$MAX" --seed "$SEED" \
	--interval "$INTERVAL" --tolerance "$TOL" \
	--pid "A=$PID_A" --pid "B=$PID_B" --metrics "A=$MA" --metrics "B=$MB" \
	--csv "$CSV" --json "$JSON" >"$WORK/driver.out" 2>"$WORK/driver.err"
drv_rc=$?

# connections must all end in A and B once the streams did
pair_settle

if [[ ! -s $JSON ]]; then
	log "the driver produced no result (exit $drv_rc):"
	tail -n 20 "$WORK/driver.out" "$WORK/driver.err" >&2
	echo '{}' >"$JSON"
fi

rc=0
((drv_rc == 0)) || rc=1
[[ $alive_a == yes && $alive_b == yes ]] || rc=1
[[ $active_a == 0 && $active_b == 0 ]] || rc=1

"$PY" - "$JSON" "$rc" "$alive_a" "$alive_b" "$out_a" "$out_b" "$active_a" "$active_b" "$CSV" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
alive = {"A": sys.argv[3], "B": sys.argv[4]}
outc = {"A": sys.argv[5], "B": sys.argv[6]}
active = {"A": sys.argv[7], "B": sys.argv[8]}
csv = sys.argv[9]
P = d.get("procs", {})
def mib(k):
    return "-" if k is None else "%.2f" % (k / 1024)
print()
print("sheath soak: %s workers, payload %s..%s bytes (seed %s), %s s, samples in %s" % (
    d.get("workers"), d.get("min_size"), d.get("max_size"), d.get("seed"), d.get("seconds"), csv))
print("  streams ok / failed: %s / %s  (%s streams/s, %.1f MiB of payload each way)" % (
    d.get("streams_ok"), d.get("streams_failed"), d.get("streams_per_s"), d.get("payload_bytes_ok", 0) / 2**20))
ws, we = d.get("window_start_s", ["?", "?"]), d.get("window_end_s", ["?", "?"])
print()
hdr = ("", "RSS start MiB", "RSS end MiB", "growth", "RSS max MiB", "fds first/last/max", "CPU s", "alive", "active after")
rows = []
for n in ("A", "B"):
    p = P.get(n, {})
    g = p.get("growth_pct")
    rows.append(("sheath " + n,
                 "%s (n=%s)" % (mib(p.get("rss_plateau_start_kib")), p.get("samples_start")),
                 "%s (n=%s)" % (mib(p.get("rss_plateau_end_kib")), p.get("samples_end")),
                 "-" if g is None else "%+.1f%%%s" % (g, "" if p.get("within_tolerance") else " !"),
                 mib(p.get("rss_max_kib")),
                 "%s/%s/%s" % (p.get("fds_first"), p.get("fds_last"), p.get("fds_max")),
                 str(p.get("cpu_s")), alive[n], active[n]))
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
for r in [hdr] + rows:
    print("  " + "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
print("  (start plateau: median over %s..%s s; end: over %s..%s s; tolerance +%s%%)" % (
    ws[0], ws[1], we[0], we[1], round(100 * d.get("tolerance", 0), 1)))
for n in ("A", "B"):
    print("  sheath %s /metrics after: %s" % (n, outc[n]))
print("  load average at end (2 cores, shared): %s" % d.get("loadavg_end"))
if d.get("streams_failed"):
    print("  failure reasons: %s" % d.get("failure_reasons"))
    for f in d.get("failures", [])[:10]:
        print("    stream %(stream)d size %(size)d started at %(at_s)s s: %(reason)s (sent %(sent)d, echoed %(echoed)d)" % f)
print("soak: %s" % ("PASS" if rc == 0 else "FAIL"))
EOF
if [[ -s $WORK/a.log || -s $WORK/b.log ]]; then
	echo "sheath logged ($(pair_log_lines)):"
	pair_log_show
fi
if ((rc != 0)); then
	echo "reproduce: SHEATH=$SHEATH SOAK_WORKERS=$WORKERS SOAK_MIN=$MIN SOAK_MAX=$MAX SOAK_SEED=$SEED KEEP=1 $0 $MINUTES"
fi
exit "$rc"
