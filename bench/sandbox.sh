#!/bin/bash
# bench/sandbox.sh -- the full-handshake rate of a sheath pair with the
# seccomp sandbox on (the default) and with `sandbox = false`, in the same
# run, in alternating rounds so that a busy neighbour hurts both alike.
#
#   driver --plain--> A (client) --TLS 1.3, mutual, no resumption--> B (server)
#          --plain--> echo backend
#
# Two such pairs run side by side, one per setting, on one echo backend;
# each round drives one pair, then the other (the order alternates), for
# SECONDS with W concurrent streams of tools/sheathload.py soak: connect,
# send 1 to 64 bytes, read the echo, close. Every stream is a new TCP
# connection and a full TLS handshake between A and B
# (session_resumption = false on both). workers = 1 (the default), so with
# the sandbox each end is a supervisor and one filtered worker, and without
# it one process.
#
# Environment: SHEATH (default ../src/sheath), ROUNDS (default 4), SECONDS_
# (per round and setting, default 10), STREAMS (default 8), KEEP=1 keeps the
# scratch directory. Prints one line per measurement and a summary.
# No set -e: tools/pair.sh's clean-up (an EXIT trap) must not stop at a
# kill of a process that is already gone; every step checks for itself.
set -uo pipefail

NAME=sandbox
MAXCONN=10000
ECHO_LIFETIME=3600
ROUNDS=${ROUNDS:-4}
SECS=${SECONDS_:-10}
STREAMS=${STREAMS:-8}
# shellcheck source=bench/tools/pair.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools/pair.sh"

WORK=$(mktemp -d "/tmp/sheath-$NAME.XXXXXX") || die "mktemp failed"
"$TOP/tests/gen-certs.sh" "$WORK/certs" >"$WORK/gen-certs.log" 2>&1 ||
	die "tests/gen-certs.sh failed: $(tail -n 3 "$WORK/gen-certs.log")"
C=$WORK/certs
read -r PE PA_on PB_on PA_off PB_off < <("$PY" "$BENCH_DIR/../tests/tools/free-ports.py" 5) ||
	die "no free ports"

conf() { # FILE SANDBOX MODE ACCEPT CONNECT CERT KEY
	cat >"$1" <<-EOF
		include_dir = "";
		log_level = "warning";
		max_connections = $MAXCONN;
		sandbox = $2;
		services = ( {
		  name = "$3"; mode = "$3"; session_resumption = false;
		  accept = "127.0.0.1:$4"; connect = "127.0.0.1:$5";
		  cert = "$C/$6.crt"; key = "$C/$6.key"; ca = "$C/ca.crt";
		} );
	EOF
}

pair_bg echo "$PY" "$TOOL" echo --port "$PE" --lifetime "$ECHO_LIFETIME"
pair_wait_listen "$PE" "$LAST_PID" || die "echo backend did not start"
for s in on off; do
	sb=true
	[[ $s == on ]] || sb=false
	pa=PA_$s pb=PB_$s
	conf "$WORK/b-$s.conf" "$sb" server "${!pb}" "$PE" server
	conf "$WORK/a-$s.conf" "$sb" client "${!pa}" "${!pb}" client
	sed -i 's/mode = "client";/mode = "client"; verify_name = "localhost";/' "$WORK/a-$s.conf"
	pair_bg "b-$s" "$SHEATH" -f -c "$WORK/b-$s.conf"
	pair_wait_listen "${!pb}" "$LAST_PID" || die "B ($s) did not start: $(tail -n 5 "$WORK/b-$s.log")"
	pair_bg "a-$s" "$SHEATH" -f -c "$WORK/a-$s.conf"
	pair_wait_listen "${!pa}" "$LAST_PID" || die "A ($s) did not start: $(tail -n 5 "$WORK/a-$s.log")"
done

# one soak run; prints the rate
drive() { # SETTING ROUND
	local pa=PA_$1
	"$PY" "$TOOL" soak --port "${!pa}" --workers "$STREAMS" --seconds "$SECS" \
		--min-size 1 --max-size 64 --seed "$2" --interval "$SECS" \
		--csv "$WORK/$1-$2.csv" --json "$WORK/$1-$2.json" >"$WORK/$1-$2.out" 2>&1 ||
		die "soak against the sandbox=$1 pair failed: $(tail -n 3 "$WORK/$1-$2.out")"
	"$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["streams_per_s"])' "$WORK/$1-$2.json"
}

declare -A all=([on]= [off]=)
log "$ROUNDS rounds of ${SECS}s per setting, $STREAMS streams, full handshakes (sheath $("$SHEATH" -V))"
for r in $(seq 1 "$ROUNDS"); do
	order="on off"
	((r % 2)) || order="off on"
	for s in $order; do
		rate=$(drive "$s" "$r")
		all[$s]+="$rate "
		printf 'round %d sandbox=%-3s %8s handshakes/s\n' "$r" "$s" "$rate"
	done
done
for s in on off; do
	pa=PA_$s
	# the pair is still alive and, with the sandbox, filtered
	printf 'sandbox=%-3s rounds: %s\n' "$s" "${all[$s]}"
done
"$PY" - "${all[on]}" "${all[off]}" <<'EOF'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
mon, moff = statistics.median(on), statistics.median(off)
print("median: sandbox on %.1f/s, off %.1f/s, on/off = %.3f; spread on %.1f-%.1f, off %.1f-%.1f"
      % (mon, moff, mon / moff, min(on), max(on), min(off), max(off)))
EOF
grep -h 'SIGSYS' "$WORK"/*.log && die "a worker was killed by its sandbox"
exit 0
