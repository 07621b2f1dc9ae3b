# shellcheck shell=bash disable=SC2034
# bench/tools/pair.sh -- shared set-up for bench/load.sh and bench/soak.sh.
# Sourced, not run. Builds, on 127.0.0.1 only:
#
#   driver --plain--> A (sheath, mode client, client cert)
#          --TLS 1.3, mutual--> B (sheath, mode server, verify require)
#          --plain--> echo backend (tools/sheathload.py echo)
#
# Ports: free ones below the ephemeral range (tests/tools/free-ports.py). Every
# process started here is recorded and, on exit, sent SIGTERM by PID, given
# 5 s, then SIGKILLed by PID. Certificates come from tests/gen-certs.sh in
# a scratch directory that is removed on exit (KEEP=1 keeps it).
#
# Caller sets NAME (log prefix), MAXCONN (sheath max_connections, global)
# and optionally KEEP, then calls pair_start. Afterwards: WORK, PY, TOOL,
# PA, PB, PE, MA, MB (metrics ports), PID_A, PID_B, PID_E are set.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
SHEATH=${SHEATH:-$TOP/src/sheath}
TOOL=$BENCH_DIR/tools/sheathload.py
STARTED=()

log() { printf '[%s %s] %s\n' "${NAME:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 2; }

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || die "python3 is required"
command -v certtool >/dev/null || die "certtool is required (apt-get install -y gnutls-bin)"
[[ -x $SHEATH ]] || die "sheath binary not found at $SHEATH (cd $TOP && make -j2, or set SHEATH)"

pair_stop_pid() { # PID: TERM, up to 5 s, then KILL; reaps it
	local p=$1 i
	kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || break
		[[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) == Z ]] && break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

pair_cleanup() {
	local i
	# newest first: the driver, then A, then B, then the backend
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		pair_stop_pid "${STARTED[i]}"
	done
	if [[ -n ${WORK:-} && -d $WORK ]]; then
		if [[ ${KEEP:-0} == 1 ]]; then
			log "scratch directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap pair_cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# pair_bg LOGNAME CMD...: start CMD in the background; sets LAST_PID
pair_bg() {
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 </dev/null &
	LAST_PID=$!
	STARTED+=("$LAST_PID")
}

pair_listening() { # PORT
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp
}

pair_wait_listen() { # PORT PID: up to 10 s; fail if PID died
	local i
	for i in $(seq 1 200); do
		pair_listening "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

pair_fds() { # NEED: raise the open-file limit (to 65536 if allowed) for
	# everything started from here; fatal if it stays below NEED
	local need=$1 want=65536
	((want < need)) && want=$need
	if (($(ulimit -Hn) < want)); then
		ulimit -Hn "$want" 2>/dev/null || true
	fi
	ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
	(($(ulimit -n) >= need)) || die "open-file limit is $(ulimit -n) (hard $(ulimit -Hn)), need $need"
}

pair_start() {
	WORK=$(mktemp -d "/tmp/sheath-$NAME.XXXXXX") || die "mktemp failed"
	"$TOP/tests/gen-certs.sh" "$WORK/certs" >"$WORK/gen-certs.log" 2>&1 ||
		die "tests/gen-certs.sh failed: $(tail -n 3 "$WORK/gen-certs.log")"
	local C=$WORK/certs
	read -r PA PB PE MA MB < <("$PY" "$BENCH_DIR/../tests/tools/free-ports.py" 5) || die "no free ports"

	cat >"$WORK/a.conf" <<-EOF
		include_dir = "";
		log_level = "warning";
		max_connections = $MAXCONN;
		metrics = "127.0.0.1:$MA";
		services = ( {
		  name = "$NAME-a"; mode = "client";
		  accept = "127.0.0.1:$PA"; connect = "127.0.0.1:$PB";
		  cert = "$C/client.crt"; key = "$C/client.key"; ca = "$C/ca.crt";
		} );
	EOF
	cat >"$WORK/b.conf" <<-EOF
		include_dir = "";
		log_level = "warning";
		max_connections = $MAXCONN;
		metrics = "127.0.0.1:$MB";
		services = ( {
		  name = "$NAME-b"; mode = "server"; verify = "require";
		  accept = "127.0.0.1:$PB"; connect = "127.0.0.1:$PE";
		  cert = "$C/server.crt"; key = "$C/server.key"; ca = "$C/ca.crt";
		} );
	EOF
	local f
	for f in a b; do
		"$SHEATH" -t -c "$WORK/$f.conf" >"$WORK/$f-check.log" 2>&1 ||
			die "sheath -t rejected $f.conf: $(cat "$WORK/$f-check.log")"
	done

	pair_bg echo "$PY" "$TOOL" echo --port "$PE" --lifetime "$ECHO_LIFETIME"
	PID_E=$LAST_PID
	pair_wait_listen "$PE" "$PID_E" || die "echo backend did not start: $(cat "$WORK/echo.log")"
	pair_bg b "$SHEATH" -f -c "$WORK/b.conf"
	PID_B=$LAST_PID
	pair_wait_listen "$PB" "$PID_B" || die "B did not start: $(tail -n 5 "$WORK/b.log")"
	pair_bg a "$SHEATH" -f -c "$WORK/a.conf"
	PID_A=$LAST_PID
	pair_wait_listen "$PA" "$PID_A" || die "A did not start: $(tail -n 5 "$WORK/a.log")"

	# prove the pair before loading it: one 64 KiB stream
	"$PY" "$TOOL" load --port "$PA" --conns 1 --seconds 20 --min-size 64K --max-size 64K \
		>"$WORK/smoke.json" 2>&1 || die "a single 64 KiB stream through the pair failed: $(grep -A3 failures "$WORK/smoke.json" | head -n 8)"
	log "pair up: $("$SHEATH" -V | head -n 1); A pid $PID_A (127.0.0.1:$PA), B pid $PID_B (127.0.0.1:$PB), echo pid $PID_E; max_connections $MAXCONN; open-file limit $(ulimit -n)"
}

pair_alive() { # NAME PID
	kill -0 "$2" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$2/stat" 2>/dev/null) != Z ]]
}

# pair_metric_sum PORT REGEX: sum of the /metrics lines matching REGEX
pair_metric_sum() {
	"$PY" - "$1" "$2" <<-'EOF'
		import re, socket, sys
		try:
		    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
		    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
		    buf = b""
		    while True:
		        d = s.recv(65536)
		        if not d:
		            break
		        buf += d
		except OSError:
		    print("?"); sys.exit(0)
		tot = 0
		for line in buf.decode("latin-1").splitlines():
		    if not line.startswith("#") and re.search(sys.argv[2], line):
		        tot += float(line.rsplit(" ", 1)[1])
		print(int(tot))
	EOF
}

# pair_outcomes PORT: "closed=N truncated=N ..." (non-zero outcomes), rejections
pair_outcomes() {
	"$PY" - "$1" <<-'EOF'
		import re, socket, sys
		try:
		    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
		    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
		    buf = b""
		    while True:
		        d = s.recv(65536)
		        if not d:
		            break
		        buf += d
		except OSError as e:
		    print("metrics unavailable (%s)" % e); sys.exit(0)
		out = []
		for line in buf.decode("latin-1").splitlines():
		    m = re.match(r'sheath_connections_(ended_total|rejected_total|accepted_total|active)\{([^}]*)\} (\S+)', line)
		    if not m or float(m.group(3)) == 0 and m.group(1) != "active":
		        continue
		    lab = dict(kv.split("=", 1) for kv in m.group(2).split(","))
		    what = {"ended_total": "ended:", "rejected_total": "rejected:", "accepted_total": "accepted",
		            "active": "active"}[m.group(1)]
		    key = what + lab.get("outcome", lab.get("reason", "")).strip('"')
		    out.append("%s=%d" % (key, float(m.group(3))))
		m = re.search(r'sheath_handshake_failures_total\{[^}]*\} (\S+)', buf.decode("latin-1"))
		if m and float(m.group(1)):
		    out.append("handshake_failures=%d" % float(m.group(1)))
		print(" ".join(out))
	EOF
}

# pair_settle: after the load, wait up to 15 s for A and B to count no
# active connection; sets active_a and active_b (the counts, or ?), out_a
# and out_b (pair_outcomes) and alive_a and alive_b (yes or no).
pair_settle() {
	active_a="?" active_b="?"
	for _ in $(seq 1 30); do
		active_a=$(pair_metric_sum "$MA" '^sheath_connections_active\{')
		active_b=$(pair_metric_sum "$MB" '^sheath_connections_active\{')
		[[ $active_a == 0 && $active_b == 0 ]] && break
		sleep 0.5
	done
	out_a=$(pair_outcomes "$MA")
	out_b=$(pair_outcomes "$MB")
	alive_a=yes alive_b=yes
	pair_alive A "$PID_A" || alive_a=no
	pair_alive B "$PID_B" || alive_b=no
}

# pair_log_lines: what A and B logged (at log_level "warning" a healthy
# sheath logs nothing), as "a.log N lines, b.log N lines"; pair_log_show
# prints the first lines of each.
pair_log_lines() {
	echo "a.log $(wc -l <"$WORK/a.log") lines, b.log $(wc -l <"$WORK/b.log") lines"
}
pair_log_show() {
	local f
	for f in a b; do
		[[ -s $WORK/$f.log ]] || continue
		echo "--- $f.log (first 10 of $(wc -l <"$WORK/$f.log") lines)"
		head -n 10 "$WORK/$f.log"
	done
}
