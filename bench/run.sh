#!/usr/bin/env bash
# bench/run.sh -- compare sheath with stunnel, HAProxy and socat as a
# mutual-TLS tunnel pair on the loopback interface.
#
#   load tool -> A (plaintext in, TLS out + client cert)
#             -> B (TLS in, client cert required, plaintext out) -> backend
#
# Everything listens on 127.0.0.1 only, on free ports below the ephemeral range, every
# wait is bounded and every process this script starts is killed by PID on
# exit. See bench/README.md for what is measured and how to read the table.
#
# Environment:
#   SHEATH         sheath binary (default: ../src/sheath beside this script)
#   BENCH_QUICK=1  smoke test: 1 repetition, 2 s tests, 500 idle connections,
#                  no gnutls-cli cipher benchmark (it takes ~2 minutes)
#   BENCH_RUNS     repetitions per measurement (default 3; 1 when quick)
#   BENCH_DURATION seconds per timed test (default 5; 2 when quick)
#   BENCH_CONNS    idle connection counts for the memory test, each measured
#                  with a fresh pair (default "2000 9000"; "500" when quick)
#   BENCH_IMPLS    implementations to run (default "direct socat stunnel haproxy sheath")
#   BENCH_TESTS    tests to run (default "idle bulk http"; http is the
#                  connection rate, sheath's resumption rate and latency)
#   BENCH_CIPHERS  1/0: run gnutls-cli --benchmark-ciphers (default 1; 0 when quick)
#   BENCH_OUT      results directory (default bench/results)
#   BENCH_KEEP=1   keep the scratch directory (configs, logs, raw output)
#   BENCH_WAIT_QUIET  seconds to wait, before each implementation, for the
#                  machine to be quiet (others < 20% of a core); default 0.
#                  When set, every timed test also waits for a quiet second
#                  first and is repeated if others disturbed it
#   BENCH_RETRIES  repeats of a disturbed test with BENCH_WAIT_QUIET (default 3)
#   BENCH_SUITES   "same" (default): every pair offers the TLS 1.3 suites in
#                  sheath's default order, AES-128-GCM first; "openssl":
#                  stunnel and HAProxy keep OpenSSL's order (AES-256-GCM first)
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHEATH=${SHEATH:-$(cd "$BENCH_DIR/.." && pwd)/src/sheath}
QUICK=${BENCH_QUICK:-0}
[[ $QUICK == 0 || -z $QUICK ]] && QUICK=0 || QUICK=1
if ((QUICK)); then
	RUNS=${BENCH_RUNS:-1}
	DUR=${BENCH_DURATION:-2}
	CONNS_LIST=${BENCH_CONNS:-500}
	CIPHERS=${BENCH_CIPHERS:-0}
else
	RUNS=${BENCH_RUNS:-3}
	DUR=${BENCH_DURATION:-5}
	CONNS_LIST=${BENCH_CONNS:-2000 9000}
	CIPHERS=${BENCH_CIPHERS:-1}
fi
IMPLS=${BENCH_IMPLS:-direct socat stunnel haproxy sheath}
TESTS=${BENCH_TESTS:-idle bulk http}
for t in $TESTS; do
	case $t in idle | bulk | http) ;; *) echo "BENCH_TESTS: unknown test '$t' (idle bulk http)" >&2; exit 2 ;; esac
done
# the largest idle-connection count sets the open-file needs
CONNS=0
for n in $CONNS_LIST; do ((n > CONNS)) && CONNS=$n; done
# Full handshakes for every new connection, like stunnel's sessionResume = no
# and HAProxy's no-ssl-reuse below; BENCH_SHEATH_RESUME=1 measures sheath
# with session resumption instead.
if [[ ${BENCH_SHEATH_RESUME:-0} == 1 ]]; then SHEATH_RESUME=true; else SHEATH_RESUME=false; fi
SHEATH_EXTRA=	# more service keys for both ends of a sheath pair
# sheath's workers per end: by default one per core, as HAProxy runs one
# thread per core by default (BENCH_SHEATH_WORKERS=1 for a single loop).
SHEATH_WORKERS=${BENCH_SHEATH_WORKERS:-$(nproc 2>/dev/null || echo 1)}
# Every pair offers the TLS 1.3 cipher suites in sheath's default order
# (AES-128-GCM first), so all of them negotiate the same cipher and the
# columns compare the relays, not the ciphers. OpenSSL's own default puts
# AES-256-GCM first: BENCH_SUITES=openssl keeps each peer's default.
if [[ ${BENCH_SUITES:-same} == openssl ]]; then
	SUITES=
else
	SUITES=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
fi
# the order gnutls-cli offers in the probe of B: sheath's default (as A does)
PROBE_PRIORITY=NORMAL:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1
[[ -z $SUITES ]] && PROBE_PRIORITY=NORMAL
OUT=${BENCH_OUT:-$BENCH_DIR/results}
WAIT_QUIET=${BENCH_WAIT_QUIET:-0}
RETRIES=${BENCH_RETRIES:-3}
TOOL=$BENCH_DIR/benchtool.py
# listening ports from below the kernel's ephemeral range, which the
# outgoing connections of a large idle test can never take first
PORTS_TOOL=$BENCH_DIR/../tests/tools/free-ports.py

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
	die "python3 is required (apt-get install -y python3)"
for t in certtool timeout; do
	command -v "$t" >/dev/null || die "$t is required (apt-get install -y gnutls-bin coreutils)"
done
[[ -x $SHEATH ]] || die "sheath binary not found at $SHEATH (make src/sheath, or set SHEATH)"

# ---------------------------------------------------------------------------
# file descriptors: the idle-connection test needs several per connection in
# the client, A, B and the backend. Children inherit this limit.
want_fds=$((CONNS * 4 + 2000))
((want_fds < 65536)) && want_fds=65536
if (($(ulimit -Hn) < want_fds)); then
	ulimit -Hn "$want_fds" 2>/dev/null || true
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 20000)); then
	die "cannot raise the open-file limit to 20000 (have $(ulimit -n))"
fi
if (($(ulimit -n) < CONNS * 2 + 1000)); then
	log "warning: open-file limit $(ulimit -n) is low for BENCH_CONNS=$CONNS"
fi

# ---------------------------------------------------------------------------
# scratch space, process bookkeeping and cleanup

TMP=$(mktemp -d /tmp/sheath-bench.XXXXXX) || die "mktemp failed"
RAW=$TMP/raw
mkdir -p "$RAW" "$TMP/logs"
STARTED=() # every PID this script started
FAILED=0   # set when a pair did not work; the script then exits 1
REPORTED=0 # set once the tables are written

tree_pids() { # PID...: the PIDs and all their descendants
	"$PY" - "$@" <<'EOF'
import os, sys
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        kids.setdefault(int(st[st.rindex(")") + 2:].split()[1]), []).append(int(d))
out, stack = [], [int(p) for p in sys.argv[1:]]
while stack:
    p = stack.pop()
    if p not in out:
        out.append(p)
        stack.extend(kids.get(p, []))
print(" ".join(str(p) for p in out))
EOF
}

# stop_pids GRACE PID...: SIGTERM each PID (and its descendants), wait up to
# GRACE seconds, then SIGKILL what is left. Returns 1 if something needed KILL.
stop_pids() {
	local grace=$1
	shift
	(($#)) || return 0
	local all p alive deadline rc=0
	all=$(tree_pids "$@")
	for p in $all; do kill -TERM "$p" 2>/dev/null; done
	deadline=$(($(date +%s%N) + grace * 1000000000))
	while :; do
		alive=
		for p in $all; do
			if kill -0 "$p" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; then
				alive+=" $p"
			fi
		done
		[[ -z $alive ]] && break
		if (($(date +%s%N) > deadline)); then
			for p in $alive; do kill -KILL "$p" 2>/dev/null; done
			rc=1
			break
		fi
		sleep 0.05
	done
	for p in "$@"; do wait "$p" 2>/dev/null; done
	return $rc
}

cleanup() {
	local rc=$? live=() p
	for p in "${STARTED[@]}"; do
		kill -0 "$p" 2>/dev/null && live+=("$p")
	done
	((${#live[@]})) && stop_pids 3 "${live[@]}"
	# a run that did not finish keeps its raw results (raw/*.jsonl)
	if [[ ${BENCH_KEEP:-0} == 1 ]] || ((rc != 0 && !REPORTED)); then
		log "scratch directory kept: $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# start_bg NAME CMD...: start CMD in the background, output to logs/NAME.log;
# sets LAST_PID.
start_bg() {
	local name=$1
	shift
	"$@" >"$TMP/logs/$name.log" 2>&1 </dev/null &
	LAST_PID=$!
	STARTED+=("$LAST_PID")
}

# listening PORT: some socket listens on 127.0.0.1:PORT (from /proc/net/tcp,
# never connects, so never disturbs the listener).
listening() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp
}

# wait_listen PORT PID TIMEOUT: until PORT listens; fail if PID died first.
wait_listen() {
	local port=$1 pid=$2 timeout=$3 deadline
	deadline=$(($(date +%s%N) + timeout * 1000000000))
	until listening "$port"; do
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		(($(date +%s%N) > deadline)) && return 1
		sleep 0.02
	done
}

PORT_POOL=()
next_port() { # sets PORT
	if ((${#PORT_POOL[@]} == 0)); then
		read -ra PORT_POOL < <("$PY" "$PORTS_TOOL" 40)
	fi
	PORT=${PORT_POOL[0]}
	PORT_POOL=("${PORT_POOL[@]:1}")
}

json_str() { # escape for a JSON string body
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '%s' "$s"
}

# record IMPL METRIC VALUE [RAWJSON]
record() {
	printf '{"metric":"%s","value":%s,"raw":%s}\n' "$2" "${3:-null}" "${4:-null}" >>"$RAW/$1.jsonl"
}

# note IMPL TEXT: a problem or remark that goes into the report
note() {
	log "$1: $2"
	printf '{"metric":"note","text":"%s"}\n' "$(json_str "$2")" >>"$RAW/$1.jsonl"
}

fail_pair() { # IMPL TEXT: a pair that does not work is loud
	FAILED=1
	log "ERROR: $1: $2"
	note "$1" "FAILED: $2"
	local f
	for f in "$TMP"/logs/"$1"-*.log; do
		[[ -s $f ]] || continue
		log "----- ${f##*/} (last 20 lines)"
		tail -n 20 "$f" >&2
	done
}

calc() { "$PY" -c "import sys; print($1)"; }

# Foreign load: this machine may be shared. Around every timed test, the CPU
# time used by user-space processes outside this script's process tree is
# recorded (benchtool.py foreign) in percent of one core, so that a disturbed
# run can be told from a clean one. Kernel threads are left out: their work
# (softirq, writeback) is mostly caused by the benchmark itself.
foreign_begin() { "$PY" "$TOOL" foreign $$ "$TMP/foreign.state" begin; }
foreign_pct() { "$PY" "$TOOL" foreign $$ "$TMP/foreign.state" end; }
# wait_quiet [WINDOW [quietly]]: wait up to BENCH_WAIT_QUIET seconds for a
# WINDOW-second span (default 2) in which other processes use < 20% of a
# core. With BENCH_WAIT_QUIET=0 it only measures once and reports.
wait_quiet() {
	local win=${1:-2} quiet=${2:-} end=$((SECONDS + WAIT_QUIET)) pct waited=0
	while :; do
		foreign_begin
		sleep "$win"
		pct=$(foreign_pct)
		if ((${pct%.*} < 20)); then
			[[ -z $quiet || $waited == 1 ]] && log "background load: ${pct}% of a core"
			return 0
		fi
		if ((SECONDS >= end)); then
			log "warning: other processes use ${pct}% of a core on this machine; results will be disturbed"
			return 1
		fi
		((waited)) || log "other processes use ${pct}% of a core: waiting up to ${WAIT_QUIET}s for a quiet machine"
		waited=1
		sleep 1
	done
}

# ---------------------------------------------------------------------------
# certificates: ECDSA P-256 CA, server (DNS:localhost, IP:127.0.0.1), client

gen_certs() {
	local d=$TMP/certs
	mkdir -p "$d"
	(
		umask 077
		cd "$d" || exit 1
		key() { certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$1.key" >/dev/null 2>&1; }
		key ca && key server && key client || exit 1
		printf '%s\n' 'cn = "sheath bench CA"' 'serial = 1' 'expiration_days = 30' \
			'ca' 'cert_signing_key' >ca.tmpl
		printf '%s\n' 'cn = "localhost"' 'serial = 2' 'expiration_days = 30' \
			'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'tls_www_server' 'signing_key' >server.tmpl
		printf '%s\n' 'cn = "bench-client"' 'serial = 3' 'expiration_days = 30' \
			'tls_www_client' 'signing_key' >client.tmpl
		certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl \
			--outfile ca.crt >/dev/null 2>&1 || exit 1
		for n in server client; do
			certtool --generate-certificate --load-privkey "$n.key" --load-ca-certificate ca.crt \
				--load-ca-privkey ca.key --template "$n.tmpl" --outfile "$n.crt" >/dev/null 2>&1 || exit 1
			cat "$n.crt" "$n.key" >"$n.pem" # HAProxy wants both in one file
		done
		chmod 644 ./*.crt
	) || die "certificate generation with certtool failed"
	CERTS=$d
}

# ---------------------------------------------------------------------------
# backends (shared by all implementations)

start_backends() {
	next_port
	ECHO_PORT=$PORT
	start_bg echo "$PY" "$TOOL" echo "$ECHO_PORT" 7200
	ECHO_PID=$LAST_PID
	wait_listen "$ECHO_PORT" "$ECHO_PID" 10 || die "echo backend did not start"

	NGINX_PORT=
	if command -v nginx >/dev/null; then
		next_port
		NGINX_PORT=$PORT
		mkdir -p "$TMP/nginx"
		cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/logs/nginx-error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / { default_type text/plain; return 200 "sheath-bench\n"; }
    }
}
EOF
		start_bg nginx nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/logs/nginx-error.log"
		NGINX_PID=$LAST_PID
		if ! wait_listen "$NGINX_PORT" "$NGINX_PID" 10; then
			cat "$TMP/logs/nginx.log" "$TMP/logs/nginx-error.log" >&2 2>/dev/null
			die "nginx did not start"
		fi
		"$PY" "$TOOL" http "$NGINX_PORT" >/dev/null || die "nginx does not answer GET /"
	else
		log "nginx not installed: connection-rate and latency tests skipped (apt-get install -y nginx-light)"
	fi
	command -v iperf3 >/dev/null ||
		log "iperf3 not installed: bulk throughput and CPU/GiB skipped (apt-get install -y iperf3)"
	command -v wrk >/dev/null ||
		log "wrk not installed: connection-rate and latency tests skipped (apt-get install -y wrk)"
	cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
EOF
}

# ---------------------------------------------------------------------------
# tunnel pairs

impl_available() { # IMPL: sets WHY when not
	WHY=
	case $1 in
	direct) return 0 ;;
	socat) command -v socat >/dev/null || WHY="socat not installed (apt-get install -y socat)" ;;
	stunnel)
		STUNNEL=$(command -v stunnel4 || command -v stunnel) ||
			WHY="stunnel not installed (apt-get install -y stunnel4)"
		;;
	haproxy) command -v haproxy >/dev/null || WHY="haproxy not installed (apt-get install -y haproxy)" ;;
	sheath) [[ -x $SHEATH ]] || WHY="sheath binary not found at $SHEATH" ;;
	*) WHY="unknown implementation" ;;
	esac
	[[ -z $WHY ]]
}

# start_pair IMPL TAG BACKEND_PORT: start B (-> backend) and A (-> B).
# Sets PA (the port the load tool uses), PB, PID_A, PID_B.
start_pair() {
	local impl=$1 tag=$2 backend=$3 d
	PID_A= PID_B= PAIR_TAG=$tag
	if [[ $impl == direct ]]; then
		PA=$backend PB=
		return 0
	fi
	next_port
	PA=$PORT
	next_port
	PB=$PORT
	d=$TMP/conf/$impl-$tag
	mkdir -p "$d"
	case $impl in
	socat)
		start_bg "$impl-$tag-B" socat -lf "$TMP/logs/$impl-$tag-B.err" \
			"TCP-LISTEN:$PB,bind=127.0.0.1,reuseaddr,fork,backlog=4096" "TCP:127.0.0.1:$backend"
		PID_B=$LAST_PID
		start_bg "$impl-$tag-A" socat -lf "$TMP/logs/$impl-$tag-A.err" \
			"TCP-LISTEN:$PA,bind=127.0.0.1,reuseaddr,fork,backlog=4096" "TCP:127.0.0.1:$PB"
		PID_A=$LAST_PID
		;;
	stunnel)
		cat >"$d/A.conf" <<EOF
foreground = yes
pid =
debug = warning
[a]
client = yes
accept = 127.0.0.1:$PA
connect = 127.0.0.1:$PB
cert = $CERTS/client.crt
key = $CERTS/client.key
CAfile = $CERTS/ca.crt
verifyChain = yes
checkHost = localhost
sni = localhost
sessionResume = no
${SUITES:+ciphersuites = $SUITES}
EOF
		cat >"$d/B.conf" <<EOF
foreground = yes
pid =
debug = warning
[b]
accept = 127.0.0.1:$PB
connect = 127.0.0.1:$backend
cert = $CERTS/server.crt
key = $CERTS/server.key
CAfile = $CERTS/ca.crt
verifyChain = yes
requireCert = yes
${SUITES:+ciphersuites = $SUITES}
EOF
		start_bg "$impl-$tag-B" "$STUNNEL" "$d/B.conf"
		PID_B=$LAST_PID
		start_bg "$impl-$tag-A" "$STUNNEL" "$d/A.conf"
		PID_A=$LAST_PID
		;;
	haproxy)
		# HAProxy refuses to start when maxconn needs more descriptors than
		# the limit allows (about two per connection).
		local hmax=$((($(ulimit -n) - 1000) / 2))
		((hmax > 100000)) && hmax=100000
		local common="global
    maxconn $hmax${SUITES:+
    ssl-default-bind-ciphersuites $SUITES
    ssl-default-server-ciphersuites $SUITES}
defaults
    mode tcp
    timeout connect 10s
    timeout client 300s
    timeout server 300s
    maxconn $hmax"
		cat >"$d/A.cfg" <<EOF
$common
frontend a
    bind 127.0.0.1:$PA
    default_backend b
backend b
    server b 127.0.0.1:$PB ssl crt $CERTS/client.pem ca-file $CERTS/ca.crt verify required sni str(localhost) no-ssl-reuse
EOF
		cat >"$d/B.cfg" <<EOF
$common
frontend b
    bind 127.0.0.1:$PB ssl crt $CERTS/server.pem ca-file $CERTS/ca.crt verify required
    default_backend plain
backend plain
    server plain 127.0.0.1:$backend
EOF
		haproxy -c -q -f "$d/A.cfg" >"$TMP/logs/$impl-$tag-check.log" 2>&1 &&
			haproxy -c -q -f "$d/B.cfg" >>"$TMP/logs/$impl-$tag-check.log" 2>&1 ||
			{ fail_pair "$impl" "haproxy -c rejected the config"; return 1; }
		start_bg "$impl-$tag-B" haproxy -db -f "$d/B.cfg"
		PID_B=$LAST_PID
		start_bg "$impl-$tag-A" haproxy -db -f "$d/A.cfg"
		PID_A=$LAST_PID
		;;
	sheath)
		local maxc="" mline=""
		[[ -n ${SHEATH_METRICS_PORT:-} ]] && mline="metrics = \"127.0.0.1:$SHEATH_METRICS_PORT\";"
		((CONNS + 100 > 10000)) && maxc="max_connections = $((CONNS + 100));"
		cat >"$d/A.conf" <<EOF
log_level = "warning";
include_dir = "";
workers = $SHEATH_WORKERS;
$maxc
services = (
  { name = "a"; mode = "client"; accept = "127.0.0.1:$PA"; connect = "127.0.0.1:$PB";
    cert = "$CERTS/client.crt"; key = "$CERTS/client.key"; ca = "$CERTS/ca.crt";
    session_resumption = $SHEATH_RESUME; $SHEATH_EXTRA }
);
EOF
		cat >"$d/B.conf" <<EOF
log_level = "warning";
include_dir = "";
workers = $SHEATH_WORKERS;
$maxc
$mline
services = (
  { name = "b"; mode = "server"; accept = "127.0.0.1:$PB"; connect = "127.0.0.1:$backend";
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ca = "$CERTS/ca.crt";
    verify = "require"; session_resumption = $SHEATH_RESUME; $SHEATH_EXTRA }
);
EOF
		"$SHEATH" -c "$d/A.conf" -t >"$TMP/logs/$impl-$tag-check.log" 2>&1 &&
			"$SHEATH" -c "$d/B.conf" -t >>"$TMP/logs/$impl-$tag-check.log" 2>&1 ||
			{ fail_pair "$impl" "sheath -t rejected the config"; return 1; }
		start_bg "$impl-$tag-B" "$SHEATH" -c "$d/B.conf" -f
		PID_B=$LAST_PID
		start_bg "$impl-$tag-A" "$SHEATH" -c "$d/A.conf" -f
		PID_A=$LAST_PID
		;;
	esac
	if ! wait_listen "$PB" "$PID_B" 10 || ! wait_listen "$PA" "$PID_A" 10; then
		fail_pair "$impl" "A or B did not start listening within 10 s ($tag)"
		stop_pair "$impl"
		return 1
	fi
	return 0
}

pair_alive() { # IMPL TAG: both A and B still running?
	[[ $1 == direct ]] && return 0
	local who
	for who in A B; do
		local pid=PID_$who
		if ! kill -0 "${!pid}" 2>/dev/null; then
			local st=0
			wait "${!pid}" 2>/dev/null || st=$?
			fail_pair "$1" "$who (pid ${!pid}) died during the $2 test (exit status $st)"
			return 1
		fi
	done
}

stop_pair() { # IMPL
	[[ $1 == direct ]] && return 0
	local p
	# A first: B then has no client left. 10 s is far more than any needs.
	for p in "$PID_A" "$PID_B"; do
		[[ -n $p ]] || continue
		kill -0 "$p" 2>/dev/null || continue
		stop_pids 10 "$p" || note "$1" "pid $p did not exit within 10 s of SIGTERM; killed"
	done
	PID_A= PID_B=
	# At log_level "warning" a healthy sheath says nothing: show what it said.
	if [[ $1 == sheath ]]; then
		local f
		for f in "$TMP/logs/sheath-$PAIR_TAG-A.log" "$TMP/logs/sheath-$PAIR_TAG-B.log"; do
			[[ -s $f ]] && note sheath "${f##*/} ($(wc -l <"$f") lines): $(head -n 3 "$f" | tr '\n' ' ')"
		done
	fi
	return 0
}

cpu_ticks() { # PID...: utime+stime(+children) over the process trees
	"$PY" "$TOOL" procstat "$@" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["cpu_ticks"])'
}

# ---------------------------------------------------------------------------
# measurements

# 0. sanity: SHA-256-checked echo transfer; negotiated TLS parameters
test_sanity() {
	local impl=$1 bytes out
	bytes=$((QUICK ? 16 << 20 : 64 << 20))
	start_pair "$impl" sanity "$ECHO_PORT" || return 1
	if ! out=$(timeout 90 "$PY" "$TOOL" sanity "$PA" "$bytes" 60 2>&1); then
		fail_pair "$impl" "sanity transfer through the pair failed: $out"
		stop_pair "$impl"
		return 1
	fi
	log "$impl: sanity echo $out"
	if [[ $impl != direct && $impl != socat ]] && command -v gnutls-cli >/dev/null; then
		local desc
		desc=$(timeout 15 gnutls-cli --priority "$PROBE_PRIORITY" --x509cafile "$CERTS/ca.crt" \
			--x509certfile "$CERTS/client.crt" --x509keyfile "$CERTS/client.key" \
			--port "$PB" 127.0.0.1 </dev/null 2>&1 | sed -n 's/^- Description: //p' | head -n 1)
		log "$impl: B negotiates $desc"
		printf '%s\t%s\n' "$impl" "${desc:-unknown}" >>"$RAW/negotiated.tsv"
		[[ $desc == *TLS1.3* ]] || note "$impl" "B did not negotiate TLS 1.3 with gnutls-cli: '${desc:-no handshake}'"
	fi
	pair_alive "$impl" sanity || return 1
	stop_pair "$impl"
}

# timed CMD...: run one timed test with the foreign-load measurement around
# it (result in $FOREIGN, percent of a core). With BENCH_WAIT_QUIET > 0 it
# first waits for a quiet machine, and a test that other processes disturbed
# (>= 25% of a core) is repeated, up to BENCH_RETRIES times (default 3).
timed() {
	local tries=0 rc
	while :; do
		((WAIT_QUIET > 0)) && wait_quiet 1 quietly
		foreign_begin
		"$@"
		rc=$?
		FOREIGN=$(foreign_pct)
		if ((rc == 0 && WAIT_QUIET > 0 && ${FOREIGN%.*} >= 25 && tries < RETRIES)); then
			tries=$((tries + 1))
			log "other processes used ${FOREIGN}% of a core during that test: repeating it ($tries/$RETRIES)"
			continue
		fi
		return $rc
	done
}

record_foreign() { # IMPL LABEL
	record "$1" foreign_cpu_pct "$FOREIGN" "\"$2\""
	if ((${FOREIGN%.*} >= 25)); then
		log "$1: warning: other processes used ${FOREIGN}% of a core during $2; figures may be disturbed"
	fi
}

# 1 + 5. bulk throughput (iperf3) and CPU seconds per GiB (1 stream)
# bulk_once IMPL STREAMS TAG: one iperf3 run through the pair to a fresh
# one-shot iperf3 server on $IPERF_PORT. Sets B_BPS B_BYTES B_TICKS or B_ERR.
bulk_once() {
	local impl=$1 streams=$2 tag=$3 t0=0 t1=0 rc res spid
	B_ERR=
	start_bg "iperf3-s-$impl-$tag" iperf3 -s -1 -B 127.0.0.1 -p "$IPERF_PORT"
	spid=$LAST_PID
	if ! wait_listen "$IPERF_PORT" "$spid" 10; then
		B_ERR="iperf3 server did not start"
		stop_pids 3 "$spid"
		return 1
	fi
	local js="$TMP/logs/iperf3-$impl-$tag.json" par=()
	((streams > 1)) && par=(-P "$streams")
	[[ $impl != direct ]] && t0=$(cpu_ticks "$PID_A" "$PID_B")
	timeout $((DUR + 30)) iperf3 -c 127.0.0.1 -p "$PA" -t "$DUR" "${par[@]}" -J >"$js" 2>&1
	rc=$?
	if [[ $impl != direct ]]; then
		sleep 0.2 # let per-connection processes (socat) exit and be reaped
		t1=$(cpu_ticks "$PID_A" "$PID_B")
	fi
	stop_pids 3 "$spid"
	if ! res=$("$PY" - "$js" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("unparsable iperf3 output: %s" % e); sys.exit(1)
if d.get("error"):
    print("iperf3 error: %s" % d["error"]); sys.exit(1)
s = d["end"]["sum_received"]
if s["bytes"] <= 0:
    print("no bytes received"); sys.exit(1)
print(s["bits_per_second"], s["bytes"])
EOF
	) || ((rc != 0)); then
		B_ERR="iperf3 -P $streams failed (rc $rc): $res"
		return 1
	fi
	read -r B_BPS B_BYTES <<<"$res"
	B_TICKS=$((t1 - t0))
}

test_bulk() {
	local impl=$1 r streams
	command -v iperf3 >/dev/null || return 0
	next_port
	IPERF_PORT=$PORT
	start_pair "$impl" bulk "$IPERF_PORT" || return 1
	for streams in 1 4; do
		for ((r = R_FIRST; r <= R_LAST; r++)); do
			if ! timed bulk_once "$impl" "$streams" "$streams-$r"; then
				fail_pair "$impl" "bulk run $r: $B_ERR"
				record "$impl" "bulk${streams}_gbps" null
				pair_alive "$impl" bulk || break 2
				continue
			fi
			record_foreign "$impl" "bulk -P $streams run $r"
			local gbps extra=""
			gbps=$(calc "$B_BPS / 1e9")
			record "$impl" "bulk${streams}_gbps" "$gbps" "{\"bits_per_second\":$B_BPS,\"bytes\":$B_BYTES}"
			if [[ $impl != direct ]]; then
				# cpu_s_per_gib (1 stream, the target's) or cpu_s_per_gib4
				local hz cps key=cpu_s_per_gib
				((streams > 1)) && key+=$streams
				hz=$(getconf CLK_TCK)
				cps=$(calc "$B_TICKS / $hz / ($B_BYTES / 2**30)")
				record "$impl" "$key" "$cps" \
					"{\"cpu_ticks\":$B_TICKS,\"clk_tck\":$hz,\"bytes\":$B_BYTES}"
				extra=", A+B CPU $(calc "round($cps, 3)") s/GiB"
			fi
			log "$impl: bulk $streams stream(s) run $r: $(calc "round($gbps, 2)") Gbit/s$extra"
		done
	done
	pair_alive "$impl" bulk
	stop_pair "$impl"
}

# 2 + 3. new connections per second and keep-alive latency (wrk -> nginx)
# wrk_once IMPL NAME ARGS...: sets W_JS (the WRKJSON object) or W_ERR
wrk_once() {
	local impl=$1 name=$2 rc
	shift 2
	local f="$TMP/logs/wrk-$impl-$name.log"
	W_JS= W_ERR=
	timeout $((DUR + 30)) wrk "$@" -s "$TMP/report.lua" "http://127.0.0.1:$PA/" >"$f" 2>&1
	rc=$?
	W_JS=$(sed -n 's/^WRKJSON //p' "$f" | tail -n 1)
	if ((rc != 0)) || [[ -z $W_JS ]]; then
		W_ERR="wrk $name failed (rc $rc): $(tail -n 3 "$f" | tr '\n' ' ')"
		return 1
	fi
}

test_http() {
	local impl=$1 r
	[[ -n $NGINX_PORT ]] && command -v wrk >/dev/null || return 0
	start_pair "$impl" http "$NGINX_PORT" || return 1
	local out
	if ! out=$("$PY" "$TOOL" http "$PA" 2>&1); then
		fail_pair "$impl" "HTTP GET through the pair failed: $out"
		stop_pair "$impl"
		return 1
	fi
	for ((r = R_FIRST; r <= R_LAST; r++)); do
		local segs0 segs1
		segs0=$(tcp_out_segs)
		if ! timed wrk_once "$impl" "cps-$r" -t2 -c32 -d"${DUR}s" -H 'Connection: close'; then
			fail_pair "$impl" "$W_ERR"
			record "$impl" cps null
			continue
		fi
		segs1=$(tcp_out_segs)
		record_foreign "$impl" "wrk cps run $r"
		local v errs spc
		read -r v errs spc < <("$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
ok = d["requests"] - d["err_status"]
errs = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"]
print(ok / (d["duration_us"] / 1e6), errs, (int(sys.argv[3]) - int(sys.argv[2])) / max(1, d["requests"]))' "$W_JS" "$segs0" "$segs1")
		record "$impl" cps "$v" "$W_JS"
		record "$impl" segs_per_conn "$spc"
		log "$impl: new connections run $r: $(calc "round($v)") conn/s ($errs errors, $(calc "round($spc, 1)") TCP segments per request)"
		if [[ $errs != 0 ]]; then
			note "$impl" "wrk -c32 Connection: close run $r: $errs errors ($W_JS)"
		fi
	done
	for ((r = R_FIRST; r <= R_LAST; r++)); do
		if ! timed wrk_once "$impl" "lat-$r" --latency -t1 -c8 -d"${DUR}s"; then
			fail_pair "$impl" "$W_ERR"
			record "$impl" lat_p50_ms null
			continue
		fi
		record_foreign "$impl" "wrk keep-alive run $r"
		local p50 p99 rps errs
		read -r p50 p99 rps errs < <("$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
errs = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"]
print(d["p50_us"] / 1000, d["p99_us"] / 1000, d["requests"] / (d["duration_us"] / 1e6), errs)' "$W_JS")
		record "$impl" lat_p50_ms "$p50" "$W_JS"
		record "$impl" lat_p99_ms "$p99"
		record "$impl" ka_rps "$rps"
		log "$impl: keep-alive latency run $r: p50 $p50 ms, p99 $p99 ms, $(calc "round($rps)") req/s"
		[[ $errs == 0 ]] || note "$impl" "wrk keep-alive run $r: $errs errors ($W_JS)"
	done
	pair_alive "$impl" http
	stop_pair "$impl"
	[[ $impl == sheath ]] && test_resumed_cps
	return 0
}

# 2b. sheath only: the connection rate again, now with session resumption
# (tickets from B, a session cache in A), in the same run as the full-
# handshake rate it is compared with. B's /metrics says how many of the
# handshakes really resumed. Then once more with resumption that skips the
# (EC)DHE exchange (psk_ke): an opt-in through `priority` that gives up
# forward secrecy for resumed sessions, measured to show what that costs.
test_resumed_cps() {
	run_resumed_cps cps_resumed resumed_fraction http-resumed "" ||
		return 1
	local prio
	if ! prio=$(psk_ke_priority); then
		note sheath "sheath -T printed no default priority: the psk_ke run is skipped"
		return 0
	fi
	run_resumed_cps cps_resumed_psk_ke resumed_psk_ke_fraction \
		http-resumed-psk-ke "priority = \"$prio\";"
}

# psk_ke_priority: sheath's default priority, as `sheath -T` prints it, with
# the plain PSK key exchange appended so that a resumption skips (EC)DHE:
# how a user opts in (sheath.conf(5), Session resumption).
psk_ke_priority() {
	local conf="$TMP/priority.conf" p
	cat >"$conf" <<EOF
include_dir = "";
services = ( { name = "p"; mode = "server"; accept = "127.0.0.1:1"; connect = "127.0.0.1:2";
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ca = "$CERTS/ca.crt"; } );
EOF
	p=$("$SHEATH" -T -c "$conf" 2>/dev/null | sed -n 's/^ *priority = "\(.*\)";$/\1/p' | head -n 1)
	[[ -n $p ]] || return 1
	echo "$p:+PSK"
}

# run_resumed_cps METRIC FRACTION_METRIC TAG EXTRA_KEYS
run_resumed_cps() {
	local metric=$1 fmetric=$2 tag=$3 r saved=$SHEATH_RESUME before after
	next_port
	SHEATH_METRICS_PORT=$PORT
	SHEATH_RESUME=true
	SHEATH_EXTRA=$4
	start_pair sheath "$tag" "$NGINX_PORT"
	r=$?
	SHEATH_RESUME=$saved
	SHEATH_EXTRA=
	((r == 0)) || { SHEATH_METRICS_PORT=; return 1; }
	before=$(resumed_counts)
	for ((r = R_FIRST; r <= R_LAST; r++)); do
		if ! timed wrk_once sheath "$tag-$r" -t2 -c32 -d"${DUR}s" -H 'Connection: close'; then
			fail_pair sheath "$W_ERR"
			record sheath "$metric" null
			continue
		fi
		record_foreign sheath "wrk cps ($tag) run $r"
		local v
		v=$("$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
print((d["requests"] - d["err_status"]) / (d["duration_us"] / 1e6))' "$W_JS")
		record sheath "$metric" "$v" "$W_JS"
		log "sheath: new connections ($tag) run $r: $(calc "round($v)") conn/s"
	done
	after=$(resumed_counts)
	local frac
	frac=$(calc "(lambda b, a: (a[0] - b[0]) / max(1, a[1] - b[1]))([${before// /,}], [${after// /,}])")
	record sheath "$fmetric" "$frac" "{\"before\":[${before// /,}],\"after\":[${after// /,}]}"
	log "sheath: $(calc "round(100 * $frac, 1)")% of B's handshakes in the $tag runs were resumed"
	(($(calc "int($frac >= 0.9)"))) || note sheath "only $(calc "round(100 * $frac, 1)")% of the handshakes of the $tag runs resumed"
	pair_alive sheath "$tag"
	stop_pair sheath
	SHEATH_METRICS_PORT=
}

# tcp_out_segs: TCP segments this host has sent so far (all sockets; the
# machine is quiet during a test, and loopback carries only the test).
tcp_out_segs() {
	awk '$1 == "Tcp:" && $2 ~ /^[0-9]+$/ { print $12; exit }' /proc/net/snmp
}

# resumed_counts: "RESUMED TOTAL" verified handshakes of B, from its /metrics
resumed_counts() {
	"$PY" - "$SHEATH_METRICS_PORT" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
vals = {}
for line in text.splitlines():
    if line.startswith("#") or " " not in line:
        continue
    k, v = line.rsplit(" ", 1)
    vals[k] = float(v)
print(int(vals.get('sheath_handshakes_resumed_total{service="b"}', 0)),
      int(vals.get('sheath_handshake_duration_seconds_count{service="b"}', 0)))
EOF
}

# 4. memory and file descriptors per idle connection, for each count of
# BENCH_CONNS (fresh pair each run); the metric names carry the count
# (mem_kib_per_conn_2000, idle_ok_9000, ...).
test_idle() {
	local impl=$1 n
	[[ $impl == direct ]] && return 0
	for n in $CONNS_LIST; do
		idle_count "$impl" "$n" || return 1
	done
}

# idle_client IMPL CONNS TAG: start the idle client against A and wait for
# its "ready" line: sets IDLE_READY and IDLE_PID (the client, still holding
# its connections), or IDLE_WHY and returns 1 (the client is then stopped).
idle_client() {
	local impl=$1 conns=$2 tag=$3 tmo=$((60 + $2 / 50))
	local log="$TMP/logs/idle$conns-$impl-$tag.log" pid deadline st
	start_bg "idle$conns-$impl-$tag" "$PY" "$TOOL" idle "$PA" "$conns" "$tmo"
	pid=$LAST_PID deadline=$((SECONDS + tmo + 15))
	while ! grep -q '^ready' "$log" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null && ((SECONDS <= deadline)) || break
		sleep 0.1
	done
	IDLE_READY=$(grep '^ready' "$log" 2>/dev/null) IDLE_PID=$pid IDLE_WHY=
	[[ -n $IDLE_READY ]] && return 0
	if kill -0 "$pid" 2>/dev/null; then
		IDLE_WHY="no ready line within $((tmo + 15)) s"
		stop_pids 3 "$pid"
	else
		st=0
		wait "$pid" 2>/dev/null || st=$?
		IDLE_WHY="the client exited with status $st"
	fi
	IDLE_WHY+=" (log: $(tail -n 3 "$log" | tr '\n' ' '))"
	return 1
}

idle_count() { # IMPL CONNS
	local impl=$1 CONNS=$2 r
	for ((r = R_FIRST; r <= R_LAST; r++)); do
		start_pair "$impl" "idle$CONNS-$r" "$ECHO_PORT" || return 1
		# warm up: short transfers, 8 at a time, so that lazy start-up
		# allocations and the first touch of shared library pages are in
		# "before" for every thread and process of A and B (sheath
		# workers, HAProxy threads), not counted against the connections
		local out w wpids=() wfail=0
		for w in 1 2 3 4 5 6 7 8; do
			timeout 30 "$PY" "$TOOL" sanity "$PA" 65536 20 >"$TMP/logs/warm-$impl-$w.log" 2>&1 &
			wpids+=($!)
		done
		for w in "${wpids[@]}"; do wait "$w" || wfail=1; done
		if ((wfail)); then
			out=$(cat "$TMP"/logs/warm-"$impl"-*.log | tail -n 3)
			fail_pair "$impl" "warm-up transfer failed: $out"
			stop_pair "$impl"
			return 1
		fi
		sleep 0.2
		local before after
		before=$("$PY" "$TOOL" procstat "$PID_A" "$PID_B")
		# A client that ends without a result (seen once in many runs,
		# with an empty log) is started once more, with a note.
		local ready cpid try
		for try in 1 2; do
			idle_client "$impl" "$CONNS" "$r-$try" && break
			if ((try == 2)); then
				fail_pair "$impl" "idle client gave no result twice: $IDLE_WHY"
				stop_pair "$impl"
				return 1
			fi
			note "$impl" "idle run $r ($CONNS): $IDLE_WHY; started again"
		done
		ready=$IDLE_READY cpid=$IDLE_PID
		local _ ok failed secs
		read -r _ ok failed secs <<<"$ready"
		sleep 0.5 # let the last allocations settle
		after=$("$PY" "$TOOL" procstat "$PID_A" "$PID_B")
		pair_alive "$impl" "idle" || { stop_pids 3 "$cpid"; stop_pair "$impl"; return 1; }
		stop_pids 3 "$cpid"
		record "$impl" "idle_ok_$CONNS" "$ok" "{\"failed_attempts\":$failed,\"seconds\":$secs}"
		if ((ok < CONNS)); then
			fail_pair "$impl" "only $ok of $CONNS idle connections were established end-to-end ($failed failed attempts in ${secs}s)"
		elif ((failed > 0)); then
			note "$impl" "idle run $r: $failed connection attempts failed and were retried"
		fi
		if ((ok > 0)); then
			local vals
			vals=$("$PY" -c '
import json, sys
b, a, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print((a["rss_kib"] - b["rss_kib"]) / n, (a["pss_kib"] - b["pss_kib"]) / n, (a["fds"] - b["fds"]) / n)' \
				"$before" "$after" "$ok")
			local rss pss fds
			read -r rss pss fds <<<"$vals"
			record "$impl" "mem_kib_per_conn_$CONNS" "$rss" "{\"before\":$before,\"after\":$after,\"conns\":$ok,\"seconds\":$secs}"
			record "$impl" "pss_kib_per_conn_$CONNS" "$pss"
			record "$impl" "fds_per_conn_$CONNS" "$fds"
			log "$impl: idle run $r: $ok of $CONNS conns in ${secs}s, $(calc "round($rss, 1)") KiB RSS/conn, $(calc "round($pss, 1)") KiB PSS/conn, $fds fds/conn"
		fi
		stop_pair "$impl"
	done
}

# 6. physical limits
physical() {
	local line="" gbps="" name=""
	if ((CIPHERS)) && command -v gnutls-cli >/dev/null; then
		log "running gnutls-cli --benchmark-ciphers (about 2 minutes; BENCH_CIPHERS=0 skips)"
		timeout 300 gnutls-cli --benchmark-ciphers >"$TMP/logs/benchmark-ciphers.log" 2>&1
		for name in ${NEG_AEAD:-} AES-128-GCM AES-256-GCM; do
			line=$(grep -E "^ *$name [0-9.]+ [GM]B/sec" "$TMP/logs/benchmark-ciphers.log" | head -n 1 | sed 's/^ *//')
			[[ -n $line ]] && break
		done
		if [[ -n $line ]]; then
			gbps=$(awk '{v=$2; if ($3=="MB/sec") v/=1000; print v*8}' <<<"$line")
			name=${line%% *}
			if [[ -n ${NEG_AEAD:-} && $name != "$NEG_AEAD" ]]; then
				line="$line (gnutls-cli lists no $NEG_AEAD line)"
			fi
		fi
	fi
	local ossl="" evp=${NEG_AEAD:-AES-128-GCM}
	evp=${evp,,}
	if command -v openssl >/dev/null; then
		ossl=$(timeout 20 openssl speed -evp "$evp" -bytes 16384 -seconds 2 2>/dev/null |
			awk -v n="${evp^^}" '$1 == n {sub("k","",$2); printf "%.2f", $2*1000*8/1e9}')
	fi
	PHYS_LINE=$line PHYS_GBPS=$gbps PHYS_NAME=$name OSSL_GBPS=$ossl OSSL_EVP=$evp
}

versions() {
	local v
	{
		echo "sheath=$("$SHEATH" -V 2>&1 | head -n 1) (binary sha256 ${SHEATH_SHA:-?}...)"
		command -v stunnel4 >/dev/null && echo "stunnel=$(stunnel4 -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*')"
		command -v haproxy >/dev/null && echo "haproxy=$(haproxy -v 2>&1 | head -n 1 | awk '{print $3}')"
		command -v socat >/dev/null && echo "socat=$(socat -V 2>&1 | sed -n 's/^socat version \([^ ]*\).*/\1/p')"
		command -v iperf3 >/dev/null && echo "iperf3=$(iperf3 --version 2>&1 | head -n 1 | awk '{print $2}')"
		command -v wrk >/dev/null && echo "wrk=$(wrk -v 2>&1 | head -n 1 | awk '{print $2}')"
		command -v nginx >/dev/null && echo "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
		echo "gnutls=$(certtool --version 2>&1 | head -n 1 | awk '{print $NF}')"
		command -v openssl >/dev/null && echo "openssl=$(openssl version | awk '{print $2}')"
	} >"$RAW/versions.txt"
}

write_meta() {
	local skipped_json=$1
	"$PY" - "$RAW" "$skipped_json" <<EOF
import json, os, sys
raw = sys.argv[1]
vers = {}
for line in open(os.path.join(raw, "versions.txt")):
    k, _, v = line.strip().partition("=")
    if k:
        vers[k] = v
neg = {}
p = os.path.join(raw, "negotiated.tsv")
if os.path.exists(p):
    for line in open(p):
        k, _, v = line.rstrip("\n").partition("\t")
        neg[k] = v
phys = {}
if "$PHYS_LINE":
    phys["cipher_line"] = "$PHYS_LINE"
    phys["cipher_name"] = "$PHYS_NAME"
    phys["cipher_gbps"] = float("$PHYS_GBPS")
if "$OSSL_GBPS":
    phys["openssl_gbps"] = float("$OSSL_GBPS")
    phys["openssl_line"] = "openssl speed -evp $OSSL_EVP (16 KiB blocks): $OSSL_GBPS Gbit/s"
meta = {
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "cpu": "$("$PY" "$TOOL" cpuinfo) ($(nproc) cores)",
    "kernel": "$(uname -sr)",
    "runs": $RUNS, "duration": $DUR, "conns": [int(n) for n in "$CONNS_LIST".split()],
    "quick": bool($QUICK), "sheath_workers": $SHEATH_WORKERS,
    "suites": "$SUITES",
    "impls": "$IMPLS".split(),
    "skipped": json.loads(sys.argv[2]),
    "versions": vers, "negotiated": neg, "physical": phys,
}
json.dump(meta, open(os.path.join(raw, "meta.json"), "w"), indent=2)
EOF
}

# ---------------------------------------------------------------------------
# main
#
# Everything below runs from inside main(): bash has then read the whole
# script before the first test starts, so editing run.sh while a run is
# going on cannot change or break that run.

main() {
	# Benchmark private copies, so a rebuild of src/sheath or an edit of
	# benchtool.py during the run cannot change what is measured half-way.
	SHEATH_ORIG=$SHEATH
	cp "$SHEATH" "$TMP/sheath" || die "cannot copy $SHEATH"
	SHEATH=$TMP/sheath
	cp "$TOOL" "$TMP/benchtool.py" || die "cannot copy $TOOL"
	TOOL=$TMP/benchtool.py
	SHEATH_SHA=$(sha256sum "$SHEATH" | cut -c1-16)
	log "benchmarking a copy of $SHEATH_ORIG (sha256 $SHEATH_SHA...)"
	log "sheath=$SHEATH workers=$SHEATH_WORKERS runs=$RUNS duration=${DUR}s conns='$CONNS_LIST' impls='$IMPLS' quick=$QUICK"
	gen_certs
	start_backends
	versions
	declare -A SKIPPED=()
	local ready=() impl t round i n
	for impl in $IMPLS; do
		if ! impl_available "$impl"; then
			log "skipping $impl: $WHY"
			SKIPPED[$impl]=$WHY
			continue
		fi
		: >>"$RAW/$impl.jsonl"
		if ! test_sanity "$impl"; then
			FAILED=1
			note "$impl" "FAILED: pair does not work; its other tests are skipped"
			continue
		fi
		ready+=("$impl")
	done
	# Repetitions are interleaved: round r runs repetition r of every test
	# for every implementation, each round starting one implementation
	# later, so a machine that drifts (thermal, neighbours) shifts all
	# columns alike instead of favouring whichever ran first.
	# The test functions run repetitions R_FIRST..R_LAST: here one a round.
	n=${#ready[@]}
	for ((round = 1; round <= RUNS; round++)); do
		R_FIRST=$round R_LAST=$round
		for ((i = 0; i < n; i++)); do
			impl=${ready[(i + round - 1) % n]}
			log "=== round $round of $RUNS: $impl"
			wait_quiet
			for t in $TESTS; do
				"test_$t" "$impl"
			done
		done
	done

	# the AEAD the B ends negotiated (the same for every pair, see SUITES)
	NEG_AEAD=$(sed -n 's/.*-(\([A-Z0-9-]*\))$/\1/p' "$RAW/negotiated.tsv" 2>/dev/null | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')
	physical
	skipped_json="{"
	for k in "${!SKIPPED[@]}"; do
		skipped_json+="\"$k\":\"$(json_str "${SKIPPED[$k]}")\","
	done
	skipped_json="${skipped_json%,}}"
	write_meta "$skipped_json"
	mkdir -p "$OUT"
	"$PY" "$TOOL" report "$RAW" "$OUT/latest.md" "$OUT/latest.json" || die "report generation failed"
	REPORTED=1
	log "wrote $OUT/latest.md and $OUT/latest.json"
	if ((FAILED)); then
		log "FAILED: at least one pair did not work; see the notes above"
		exit 1
	fi
	exit 0
}

main "$@"; exit $?
