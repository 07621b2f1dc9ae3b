#!/usr/bin/env bash
# bench/reload-soak.sh -- reload under load.
#
#   tests/tools/streams.py --plain--> A (sheath client) --TLS--> B (sheath server) --plain--> echo
#
# SOAK_STREAMS concurrent streams (default 200), each of a random size in
# 64 KiB..4 MiB, paced over 5..15 s and started within 3 s, go through the
# pair to an echo backend; every stream's bytes come back and are compared
# by count and SHA-256. Meanwhile B receives SOAK_HUPS SIGHUPs (default 20)
# spread over the run, each after its configuration was switched between two
# server certificates (same CA, CN server-a / server-b) and two idle
# timeouts, so every reload really changes something.
#
# Prints the streams ok/failed and the reloads sent/logged, and exits 1 on
# any failed stream, a failed reload or a sheath instance that died.
# Everything listens on 127.0.0.1 only, on free ports below the ephemeral range; every
# wait is bounded and every process started here is killed by PID on exit.
#
# Environment:
#   SHEATH          sheath binary (default: ../src/sheath beside this script)
#   SOAK_STREAMS    concurrent streams (default 200)
#   SOAK_HUPS       SIGHUPs sent to B (default 20)
#   SOAK_WORKERS    workers for B (default 1; 2 soaks the supervisor)
#   SOAK_SEED       seed for sizes, timings and data (default 1)
#   SOAK_KEEP=1     keep the scratch directory (configs, logs)
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
SHEATH=${SHEATH:-$TOP/src/sheath}
TOOLS=$TOP/tests/tools
STREAMS=${SOAK_STREAMS:-200}
HUPS=${SOAK_HUPS:-20}
WORKERS=${SOAK_WORKERS:-1}
SEED=${SOAK_SEED:-1}
# streams start within 3 s and last 5..15 s: the HUPs go out over 16 s
SPREAD=3 MIN_T=5 MAX_T=15
HUP_SPAN=16

log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || die "python3 is required"
command -v certtool >/dev/null || die "certtool is required (apt-get install -y gnutls-bin)"
[[ -x $SHEATH ]] || die "sheath binary not found at $SHEATH (make, or set SHEATH)"

WORK=$(mktemp -d /tmp/sheath-soak.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [[ ${SOAK_KEEP:-0} == 1 ]]; then
		log "scratch directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# certificates: the test fixtures, plus two server certificates to swap
"$TOP/tests/gen-certs.sh" "$WORK/certs" || die "gen-certs.sh failed"
C=$WORK/certs
for name in a b; do
	printf '%s\n' "cn = \"server-$name\"" "serial = $((300 + ${#name} + RANDOM))" \
		'expiration_days = 30' 'dns_name = "localhost"' 'ip_address = "127.0.0.1"' \
		'tls_www_server' 'signing_key' >"$WORK/$name.tmpl"
	certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
		--outfile "$C/server-$name.key" >/dev/null 2>&1 || die "certtool"
	chmod 600 "$C/server-$name.key"
	certtool --generate-certificate --load-privkey "$C/server-$name.key" \
		--load-ca-certificate "$C/ca.crt" --load-ca-privkey "$C/ca.key" \
		--template "$WORK/$name.tmpl" --outfile "$C/server-$name.crt" >/dev/null 2>&1 || die "certtool"
done

read -r PA PB PE < <("$PY" "$TOP/tests/tools/free-ports.py" 3)

wait_port() { # PORT
	local hex i
	hex=$(printf ':%04X' "$1")
	for i in $(seq 1 100); do
		awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
			/proc/net/tcp && return 0
		sleep 0.05
	done
	die "port $1 not listening after 5 s"
}

# conf_b VARIANT: B's config with certificate server-VARIANT
conf_b() {
	local v=$1 idle=300
	[[ $v == b ]] && idle=301
	cat >"$WORK/b.conf.new" <<-EOF
		log_level = "notice";
		include_dir = "";
		shutdown_timeout = 5;
		workers = $WORKERS;
		services = ( {
		  name = "soak"; mode = "server"; accept = "127.0.0.1:$PB"; connect = "127.0.0.1:$PE";
		  cert = "$C/server-$v.crt"; key = "$C/server-$v.key"; ca = "$C/ca.crt";
		  allow_cn = [ "client1" ]; timeout_idle = $idle;
		} );
	EOF
	mv -f "$WORK/b.conf.new" "$WORK/b.conf"
}
conf_b a
cat >"$WORK/a.conf" <<EOF
log_level = "notice";
include_dir = "";
shutdown_timeout = 5;
services = ( {
  name = "soak"; mode = "client"; accept = "127.0.0.1:$PA"; connect = "127.0.0.1:$PB";
  cert = "$C/client.crt"; key = "$C/client.key"; ca = "$C/ca.crt"; verify_name = "localhost";
} );
EOF

# the echo backend holds one thread per stream; the pair many descriptors
ulimit -n 65536 2>/dev/null || true
"$PY" "$TOOLS/echo-server.py" --listen "127.0.0.1:$PE" --lifetime 600 >"$WORK/echo.log" 2>&1 &
PIDS+=($!)
"$SHEATH" -f -c "$WORK/b.conf" >"$WORK/b.log" 2>&1 </dev/null &
B=$!
PIDS+=("$B")
"$SHEATH" -f -c "$WORK/a.conf" >"$WORK/a.log" 2>&1 </dev/null &
A=$!
PIDS+=("$A")
wait_port "$PE"
wait_port "$PB"
wait_port "$PA"
log "sheath $("$SHEATH" -V | head -n 1); B workers=$WORKERS; $STREAMS streams, $HUPS SIGHUPs over ${HUP_SPAN}s"

"$PY" "$TOOLS/streams.py" --connect "127.0.0.1:$PA" --streams "$STREAMS" \
	--min-size 64K --max-size 4M --min-time "$MIN_T" --max-time "$MAX_T" \
	--start-spread "$SPREAD" --seed "$SEED" --timeout 60 >"$WORK/streams.out" 2>&1 &
S=$!
PIDS+=("$S")

# the SIGHUPs: one every HUP_SPAN/HUPS seconds, each with a switched config
interval=$(awk -v s="$HUP_SPAN" -v n="$HUPS" 'BEGIN { printf "%.3f", s / (n + 1) }')
sent=0
variant=a
for i in $(seq 1 "$HUPS"); do
	sleep "$interval"
	kill -0 "$S" 2>/dev/null || { log "streams finished before SIGHUP $i"; }
	[[ $variant == a ]] && variant=b || variant=a
	conf_b "$variant"
	kill -HUP "$B" 2>/dev/null && sent=$((sent + 1))
done
log "sent $sent SIGHUPs; waiting for the streams"

status=0
wait "$S" || status=$?
cat "$WORK/streams.out"
summary=$(grep '^streams=' "$WORK/streams.out")
ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$summary")
failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$summary")
# let the last reload finish before counting
for _ in $(seq 1 50); do
	(($(grep -Ec 'configuration reloaded|reload failed' "$WORK/b.log") >= sent)) && break
	sleep 0.1
done
reloaded=$(grep -c 'configuration reloaded' "$WORK/b.log")
reload_failed=$(grep -c 'reload failed' "$WORK/b.log")
alive=yes
kill -0 "$A" 2>/dev/null && kill -0 "$B" 2>/dev/null || alive=no
# after the run, a new connection gets the certificate of the last config
last_cn=$("$PY" "$TOOLS/tls-peer.py" client --connect "127.0.0.1:$PB" --ca "$C/ca.crt" \
	--cert "$C/client.crt" --key "$C/client.key" --data x --expect 1 --clean-close --timeout 10 |
	sed -n 's/.* peer=\([^ ]*\) .*/\1/p')

echo "reload-soak: streams ok=${ok:-0} failed=${failed:-?} of $STREAMS; SIGHUPs sent=$sent reloaded=$reloaded reload_failed=$reload_failed; B workers=$WORKERS; instances alive=$alive; last config CN=server-$variant, served CN=${last_cn#CN=}"
errors=$(grep -Ec ': (error|warning): ' "$WORK/a.log" "$WORK/b.log" | awk -F: '{ s += $NF } END { print s + 0 }')
if ((errors)); then
	echo "errors/warnings logged by the pair:"
	grep -E ': (error|warning): ' "$WORK/a.log" "$WORK/b.log" | head -n 20
fi
rc=0
[[ $status == 0 && ${failed:-1} == 0 && ${ok:-0} == "$STREAMS" ]] || rc=1
[[ $reloaded == "$sent" && $reload_failed == 0 ]] || rc=1
[[ $alive == yes ]] || rc=1
[[ $last_cn == "CN=server-$variant" ]] || rc=1
((rc == 0)) && echo "reload-soak: PASS" || echo "reload-soak: FAIL"
exit "$rc"
