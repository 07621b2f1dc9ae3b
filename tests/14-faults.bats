#!/usr/bin/env bats
# Fault injection: backends that refuse, reset or never read; clients that
# reset, send garbage, split or stall their ClientHello; running out of file
# descriptors; a log on a full disk; a broken certificate on SIGHUP.
#
#   TLS clients (tools/fault-peer.py) ---------------> srv (mode server) --> backend
#   plain clients --> cli (mode client) --TLS--------^                       (tools/fault-backend.py)
#
# Every test ends by proving the sheath processes it hurt still serve: a
# fresh transfer through them, compared by SHA-256 at both ends.

load 'helpers/common'

setup() {
	common_setup
	pair_setup
	M_PORT=$(free_port)
	M_ADDR=127.0.0.1:$M_PORT
	SEED=100
}

# ---------------------------------------------------------------------------
# helpers of this file

# start_backend ARGS...: tools/fault-backend.py on $BE_ADDR (default: echo).
start_backend() {
	start_bg backend "$PY" "$TOOLS/fault-backend.py" --listen "$BE_ADDR" \
		--count-file "$COUNT" --record-dir "$REC" --lifetime 200 "$@"
	wait_for_port "$BE_PORT"
}

# start_sheath_nofile NAME NOFILE ARGS...: start_sheath under `ulimit -n`.
# The subshell execs sheath, so $LAST_PID is sheath itself (our child).
start_sheath_nofile() {
	local name=$1 nofile=$2
	shift 2
	(ulimit -S -n "$nofile" && exec "$SHEATH" -f "$@") \
		>"$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- </dev/null &
	LAST_PID=$!
	_record_pid sheath "$name" "$LAST_PID"
}

# forget_pid NAME: teardown need not stop NAME (reaped by the test itself).
forget_pid() {
	sed -i "/^[a-z]* $1 /d" "$BATS_TEST_TMPDIR/.pids"
}

backend_count_is() { [[ "$(cat "$COUNT" 2>/dev/null)" == "$1" ]]; }

log_count() { grep -Ec -- "$2" "$1" || true; }

# float_between VALUE LOW HIGH
float_between() {
	awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }' ||
		fail "$1 is not between $2 and $3"
}

# cpu_ticks PID: user + system CPU time of PID, in clock ticks.
cpu_ticks() {
	local s
	s=$(<"/proc/$1/stat")
	s=${s##*) }
	# shellcheck disable=SC2086 # split the fields
	set -- $s
	echo $((${12} + ${13}))
}

# size_bytes 16K|1M|1G|N: the number of bytes.
size_bytes() {
	case $1 in
	*K) echo $((${1%K} << 10)) ;;
	*M) echo $((${1%M} << 20)) ;;
	*G) echo $((${1%G} << 30)) ;;
	*) echo "$1" ;;
	esac
}

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# fds_at_most PID N: PID holds N descriptors or fewer (counted at each call,
# so wait_until can poll it).
fds_at_most() { (($(fd_count "$1") <= $2)); }

# backend_got SHA: some backend connection received bytes with this SHA-256.
backend_got_sha() { grep -qs -- " sha256=$1 " "$REC"/conn-[0-9]*; }

# tls_echo ADDR SEED [SIZE] [ARGS...]: fault-peer.py tls-echo as client1;
# output in $output.
tls_echo() {
	local addr=$1 seed=$2 size=${3:-256K}
	shift 3 2>/dev/null || shift $#
	run "$PY" "$TOOLS/fault-peer.py" tls-echo --connect "$addr" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --size "$size" --seed "$seed" \
		--timeout 30 "$@"
}

# assert_tls_serving ADDR [SIZE] [ARGS...]: a fresh TLS connection through
# ADDR (an echo backend behind it) moves SIZE bytes both ways byte-exact,
# ends with close_notify both ways, and the backend saw the same bytes.
assert_tls_serving() {
	local addr=$1 size=${2:-1M}
	shift 2 2>/dev/null || shift $#
	SEED=$((SEED + 1))
	tls_echo "$addr" "$SEED" "$size" "$@"
	assert_success
	local out=$output n
	n=$(size_bytes "$size")
	[[ $(kv result "$out") == closed ]] || fail "TLS transfer through $addr: $out"
	assert_equal "$(kv sent "$out")" "$n"
	assert_equal "$(kv recv "$out")" "$n"
	assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$out")"
	wait_until 10 "the backend to record the TLS transfer" backend_got_sha "$(kv sent_sha256 "$out")"
	TLS_OUT=$out
}

# assert_plain_serving ADDR [SIZE]: the same through a plaintext (client
# mode) address with tools/sender.py.
assert_plain_serving() {
	local addr=$1 size=${2:-1M}
	SEED=$((SEED + 1))
	run "$PY" "$TOOLS/sender.py" --connect "$addr" --size "$size" --seed "$SEED" --timeout 60
	assert_success
	local out=$output
	assert_equal "$(kv end "$out")" eof
	[[ $(kv sent "$out") -gt 0 ]] || fail "nothing sent: $out"
	assert_equal "$(kv recv "$out")" "$(kv sent "$out")"
	assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$out")"
	wait_until 10 "the backend to record the plain transfer" backend_got_sha "$(kv sent_sha256 "$out")"
}

# reload NAME N: SIGHUP sheath NAME and wait for its Nth reload outcome.
reload() {
	local name=$1 n=$2 log=$BATS_TEST_TMPDIR/$1.log
	kill -HUP "$(pid_of "$name")"
	wait_until 15 "reload $n of $name" reload_done "$log" "$n"
}
reload_done() {
	(($(log_count "$1" 'configuration reloaded|reload failed; the previous configuration stays in force') >= $2))
}

# status_bytes_in: bytes_in of the connections in relay on srv's /status.
status_bytes_in() {
	curl -sS --max-time 5 "http://$M_ADDR/status" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(str(c["bytes_in"]) for c in d["connections"] if c["stage"] == "relay"))'
}

# ---------------------------------------------------------------------------
# 1. backends that fail

@test "backend refuses: TLS and tunnel clients closed at once, end=backend:, then a working transfer" {
	start_srv # nothing listens on $BE_ADDR yet
	start_cli
	# through the tunnel: the plaintext client is closed, not left hanging
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hello --shut-wr --timeout 10
	assert_success
	[[ $output =~ ^(eof|reset)\ recv=0\  ]] || fail "tunnel client: $output"
	float_between "$(kv elapsed "$output")" 0 3
	# straight to the server half: the TLS client sees its connection end
	tls_echo "$SRV_ADDR" 1 100000
	assert_success
	[[ $(kv result "$output") =~ ^(eof|reset|truncated)$ ]] || fail "TLS client: $output"
	assert_equal "$(kv recv "$output")" 0
	float_between "$(kv elapsed "$output")" 0 3
	wait_conn_line "$SRV_LOG" srv 2
	assert_equal "$(log_count "$SRV_LOG" 'service=srv .*end=backend: Connection refused$')" 2
	# the client half saw its TLS server go away without close_notify
	# (truncated; which end it is logged as is checked where it is
	# deterministic, in "backend never reads, timeout_idle = 2")
	wait_for_log "$CLI_LOG" 'service=cli .*end=(truncated|backend: )'
	# a backend appears: both halves serve, byte-exact
	start_backend
	assert_plain_serving "$CLI_ADDR" 1M
	assert_tls_serving "$SRV_ADDR" 1M
}

@test "backend resets mid-stream: the TLS client sees the end at once, end=backend:, then a working transfer" {
	# connection 1 reads 64 KiB and resets, connection 2 1 KiB; later ones echo
	start_backend --script 'reset:64K,reset:1K,echo'
	start_srv
	start_cli
	# 1. a TLS client straight to srv, sending 8 MiB
	tls_echo "$SRV_ADDR" 2 8M
	assert_success
	local out=$output
	[[ $(kv result "$out") =~ ^(eof|reset|truncated|error:.*)$ ]] || fail "TLS client: $out"
	(($(kv recv "$out") < 8 << 20)) || fail "the TLS client got everything back: $out"
	float_between "$(kv elapsed "$out")" 0 10
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv end "$(cat "$REC/conn-1")")" reset-by-us
	wait_for_log "$SRV_LOG" 'service=srv .*end=backend: '
	# 2. through the tunnel: cli is the TLS client here; its plaintext
	#    client (all of whose 3000 bytes are sent before the backend, having
	#    read 1 KiB of them, resets) learns of the cut through a reset
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send "$(printf 'x%.0s' {1..3000})" --timeout 10
	assert_success
	[[ $output =~ ^reset\ recv=0\  ]] || fail "tunnel client: $output"
	float_between "$(kv elapsed "$output")" 0 5
	wait_for_file "$REC/conn-2"
	assert_equal "$(kv end "$(cat "$REC/conn-2")")" reset-by-us
	wait_conn_line "$SRV_LOG" srv 2
	assert_equal "$(log_count "$SRV_LOG" 'service=srv .*end=backend: ')" 2
	wait_for_log "$CLI_LOG" 'service=cli .*end=truncated'
	# neither sheath was hurt
	assert_tls_serving "$SRV_ADDR" 1M
	assert_plain_serving "$CLI_ADDR" 4M
}

@test "backend never reads: the sender blocks, RSS stays bounded, other connections work" {
	local srv_pid cli_pid base_srv base_cli max_srv=0 max_cli=0 r
	# A sanitizer build keeps freed memory in a quarantine of up to
	# 256 MiB, which is not what this test measures.
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64
	# connection 1 is never read (small receive buffer), later ones echo
	start_backend --script 'stuck,echo' --rcvbuf 16K
	CONF_GLOBALS="metrics = \"$M_ADDR\";" start_srv
	wait_for_port "$M_PORT"
	start_cli
	# the processes that carry the connections (workers under the sandbox)
	srv_pid=$(serving_pid srv)
	cli_pid=$(serving_pid cli)
	base_srv=$(sheath_rss_kb "$srv_pid")
	base_cli=$(sheath_rss_kb "$cli_pid")
	# 4 GiB could not pass in the time of this test even if it flowed
	start_bg stuck "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 4G --seed 4 --timeout 120
	wait_until 10 "the stuck connection to reach the backend" backend_count_is 1
	sleep 1 # let every buffer on the path fill up
	local cpu_srv cpu_cli hz deadline=$((SECONDS + 4))
	hz=$(getconf CLK_TCK)
	cpu_srv=$(cpu_ticks "$srv_pid")
	cpu_cli=$(cpu_ticks "$cli_pid")
	while ((SECONDS < deadline)); do
		r=$(sheath_rss_kb "$srv_pid") && ((r > max_srv)) && max_srv=$r
		r=$(sheath_rss_kb "$cli_pid") && ((r > max_cli)) && max_cli=$r
		sleep 0.1
	done
	# blocked is not busy: neither process spins while the pair is stuck
	cpu_srv=$(($(cpu_ticks "$srv_pid") - cpu_srv))
	cpu_cli=$(($(cpu_ticks "$cli_pid") - cpu_cli))
	echo "CPU ticks while stuck (4 s): srv $cpu_srv, cli $cpu_cli (${hz}/s)"
	# (idle they use 0-2 ticks; a loop that polls a full direction spins,
	# which even on a loaded machine is far more than a quarter second)
	((cpu_srv < hz / 4 && cpu_cli < hz / 4)) ||
		fail "a stuck pair costs CPU: srv $cpu_srv, cli $cpu_cli ticks in 4 s"
	alive "$(pid_of stuck)" || fail "the sender to a backend that never reads finished: $(cat "$BATS_TEST_TMPDIR/stuck.log")"
	# backpressure: srv stopped reading from its TLS peer
	local b1 b2
	b1=$(status_bytes_in)
	sleep 1
	b2=$(status_bytes_in)
	[[ -n $b1 ]] || fail "no connection in relay on /status"
	assert_equal "$b2" "$b1"
	((b1 < 32 << 20)) || fail "srv read $b1 bytes for a backend that reads nothing"
	# the same processes serve others meanwhile, through the same service
	assert_plain_serving "$CLI_ADDR" 4M
	assert_tls_serving "$SRV_ADDR" 4M
	alive "$(pid_of stuck)" || fail "the stuck sender ended: $(cat "$BATS_TEST_TMPDIR/stuck.log")"
	r=$(sheath_rss_kb "$srv_pid") && ((r > max_srv)) && max_srv=$r
	r=$(sheath_rss_kb "$cli_pid") && ((r > max_cli)) && max_cli=$r
	echo "RSS KiB: srv $base_srv -> max $max_srv, cli $base_cli -> max $max_cli; srv bytes_in $b1"
	((max_srv - base_srv < 64 * 1024)) || fail "srv RSS grew by $((max_srv - base_srv)) KiB"
	((max_cli - base_cli < 64 * 1024)) || fail "cli RSS grew by $((max_cli - base_cli)) KiB"
	# still stuck and still bounded; the stuck pair itself is intact
	assert_equal "$(status_bytes_in | tr ' ' '\n' | sort -n | tail -n 1)" "$b1"
}

@test "backend never reads, timeout_idle = 2: the stuck pair is closed within a few seconds" {
	start_backend --script 'stuck,echo' --rcvbuf 16K
	start_srv timeout_idle=2
	start_cli
	start_bg stuck "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 4G --seed 5 --timeout 60
	wait_until 10 "the stuck connection to reach the backend" backend_count_is 1
	local t0=$SECONDS
	wait_exit stuck 15
	local out
	out=$(cat "$BATS_TEST_TMPDIR/stuck.log")
	echo "stuck sender: $out (after $((SECONDS - t0)) s)"
	# a reset (or the error it left for the sending thread) ends it
	[[ $(kv end "$out") == reset || $out =~ send_error= ]] || fail "stuck sender: $out"
	wait_for_log "$SRV_LOG" 'service=srv .*end=timeout: idle'
	local dur
	dur=$(kv duration "$(conn_lines "$SRV_LOG" srv | head -n 1)")
	float_between "$dur" 1.9 10
	# the backend side was reset
	wait_for_file "$REC/conn-1" 10
	assert_equal "$(kv end "$(cat "$REC/conn-1")")" reset
	assert_plain_serving "$CLI_ADDR" 4M
	assert_tls_serving "$SRV_ADDR" 1M
	# cli, blocked writing to srv, saw its TLS server reset the connection
	# without close_notify: that is "truncated" (sheath(8): "a TLS peer
	# closed TCP without close_notify or reset it"), not a backend error
	wait_conn_line "$CLI_LOG" cli 2
	local cline
	cline=$(conn_lines "$CLI_LOG" cli | grep -F "peer=$(kv local "$out") ")
	[[ $(kv end "$cline") == truncated ]] || fail "cli logged the cut as: ${cline##*end=}"
}

# ---------------------------------------------------------------------------
# 2. clients that fail

@test "client resets mid-handshake: nothing reaches the backend" {
	start_backend
	start_srv
	run "$PY" "$TOOLS/fault-peer.py" half-hello --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --linger 0.3
	assert_success
	assert_output --regexp '^result=sent-rst hello=[0-9]+ sent=[0-9]+'
	((${output##*sent=} > 50)) || fail "half a ClientHello is too short: $output"
	wait_conn_line "$SRV_LOG" srv 1
	local line
	line=$(conn_lines "$SRV_LOG" srv)
	echo "logged: $line"
	[[ $(kv version "$line") == - ]] || fail "a half handshake has a version: $line"
	[[ $line =~ end=(truncated|rejected:\ ) ]] || fail "unexpected end: $line"
	assert_equal "$(backend_count "$COUNT")" 0
	assert_tls_serving "$SRV_ADDR" 1M
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "client resets mid-stream: end=truncated and the backend side is reset" {
	start_backend
	start_srv
	run "$PY" "$TOOLS/fault-peer.py" rst-after --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --size 100000 --seed 6 \
		--expect 100000 --linger 0.3
	assert_success
	local out=$output
	assert_output --regexp '^result=sent-rst sent=100000 '
	assert_equal "$(kv recv "$out")" 100000
	assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$out")"
	wait_for_log "$SRV_LOG" 'service=srv .*end=truncated$'
	local line
	line=$(conn_lines "$SRV_LOG" srv)
	assert_equal "$(kv bytes_in "$line")" 100000
	assert_equal "$(kv bytes_out "$line")" 100000
	wait_for_file "$REC/conn-1"
	local rec
	rec=$(cat "$REC/conn-1")
	assert_equal "$(kv end "$rec")" reset
	assert_equal "$(kv received "$rec")" 100000
	assert_equal "$(kv sha256 "$rec")" "$(kv sent_sha256 "$out")"
	assert_tls_serving "$SRV_ADDR" 1M
}

@test "garbage instead of a ClientHello (random bytes, HTTP, a broken hello): rejected at once, backend count 0" {
	start_backend
	start_srv # timeout_handshake 10: an answer after ~10 s would be a timeout
	local kind
	for kind in random http bad-record; do
		run "$PY" "$TOOLS/fault-peer.py" garbage --connect "$SRV_ADDR" --kind "$kind" \
			--size 4000 --seed 7 --timeout 8
		assert_success
		echo "$kind: $output"
		[[ $(kv result "$output") =~ ^(eof|reset)$ ]] || fail "$kind: $output"
		float_between "$(kv elapsed "$output")" 0 4
	done
	wait_conn_line "$SRV_LOG" srv 3
	assert_equal "$(log_count "$SRV_LOG" 'service=srv .* end=rejected: ')" 3
	assert_equal "$(log_count "$SRV_LOG" 'notice: service=srv peer=[^ ]+ rejected: ')" 3
	assert_equal "$(backend_count "$COUNT")" 0
	assert_tls_serving "$SRV_ADDR" 1M
}

@test "a ClientHello split into 1-byte TCP segments: the handshake completes, data byte-exact, same JA4" {
	local sp_port sp_addr
	sp_port=$(free_port)
	sp_addr=127.0.0.1:$sp_port
	start_backend
	start_srv
	start_bg split "$PY" "$TOOLS/split-proxy.py" --listen "$sp_addr" --connect "$SRV_ADDR" \
		--delay 0.002 --lifetime 120
	wait_for_port "$sp_port"
	# python ssl (OpenSSL) through the splitter, then the same straight
	assert_tls_serving "$sp_addr" 1M
	wait_for_log "$BATS_TEST_TMPDIR/split.log" '^conn=1 split=[0-9]+ '
	local split
	split=$(kv split "$(grep '^conn=1 ' "$BATS_TEST_TMPDIR/split.log")")
	((split > 200)) || fail "only $split bytes were split"
	assert_tls_serving "$SRV_ADDR" 64K
	wait_conn_line "$SRV_LOG" srv 2
	local l1 l2
	l1=$(conn_lines "$SRV_LOG" srv | sed -n 1p)
	l2=$(conn_lines "$SRV_LOG" srv | sed -n 2p)
	assert_equal "$(kv end "$l1")" closed
	[[ $(kv ja4 "$l1") =~ ^t1[23]d ]] || fail "no JA4 for the split hello: $l1"
	assert_equal "$(kv ja4 "$l1")" "$(kv ja4 "$l2")"
	# GnuTLS (a sheath client half) through the splitter
	write_conf "$CLI_CONF" "$(client_svc cli "$CLI_ADDR" "$sp_addr")"
	start_sheath cli -c "$CLI_CONF"
	wait_sheath_ready cli
	assert_plain_serving "$CLI_ADDR" 4M
	wait_for_log "$BATS_TEST_TMPDIR/split.log" '^conn=2 split=[0-9]+ '
	wait_conn_line "$SRV_LOG" srv 3
	assert_equal "$(kv end "$(conn_lines "$SRV_LOG" srv | sed -n 3p)")" closed
}

@test "timeout_handshake = 2: a client that stops after its ClientHello is closed, others are served meanwhile" {
	start_backend
	start_srv timeout_handshake=2
	start_bg stall "$PY" "$TOOLS/fault-peer.py" stall-hello --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --timeout 15
	sleep 0.3
	local i
	for i in 1 2 3; do
		start_bg "good$i" "$PY" "$TOOLS/fault-peer.py" tls-echo --connect "$SRV_ADDR" \
			--ca "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
			--size 64K --seed "$i" --timeout 15
	done
	for i in 1 2 3; do
		wait_exit "good$i" 20
		local g
		g=$(cat "$BATS_TEST_TMPDIR/good$i.log")
		[[ $(kv result "$g") == closed ]] || fail "good client $i: $g"
		assert_equal "$(kv recv_sha256 "$g")" "$(kv sent_sha256 "$g")"
		float_between "$(kv elapsed "$g")" 0 3
	done
	wait_exit stall 20
	local out
	out=$(cat "$BATS_TEST_TMPDIR/stall.log")
	echo "stalled client: $out"
	[[ $(kv result "$out") =~ ^(eof|reset)$ ]] || fail "stalled client: $out"
	(($(kv recv "$out") > 0)) || fail "the server never answered the ClientHello: $out"
	float_between "$(kv elapsed "$out")" 1.7 6
	wait_for_log "$SRV_LOG" 'service=srv .*end=timeout: handshake$'
	assert_equal "$(log_count "$SRV_LOG" 'end=timeout')" 1
	assert_equal "$(backend_count "$COUNT")" 3
	assert_tls_serving "$SRV_ADDR" 1M
}

# ---------------------------------------------------------------------------
# 3. the process's own resources

# fds_below PID LIMIT: descriptors of PID numbered below LIMIT (the ones
# that count against RLIMIT_NOFILE when a new one is allocated).
fds_below() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' | awk -v l="$2" '$1 < l { n++ } END { print n + 0 }'
}

# set_nofile PID N: set the soft RLIMIT_NOFILE of a running process.
set_nofile() {
	"$PY" -c '
import resource, sys
pid, n = int(sys.argv[1]), int(sys.argv[2])
hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
resource.prlimit(pid, resource.RLIMIT_NOFILE, (n, hard))' "$1" "$2"
}

# hold NAME ARGS...: tools/hold-conns.py in the background; its state file
# is $BATS_TEST_TMPDIR/NAME.state, its stop file NAME.stop.
hold() {
	local name=$1
	shift
	rm -f "$BATS_TEST_TMPDIR/$name.state" "$BATS_TEST_TMPDIR/$name.stop"
	start_bg "$name" "$PY" "$TOOLS/hold-conns.py" --max 60 --probe-timeout 5 \
		--state-file "$BATS_TEST_TMPDIR/$name.state" --stop-file "$BATS_TEST_TMPDIR/$name.stop" \
		--timeout 150 "$@"
	wait_for_file "$BATS_TEST_TMPDIR/$name.state" 90
	HOLD_STATE=$(cat "$BATS_TEST_TMPDIR/$name.state")
	echo "$name: $HOLD_STATE"
}
# release NAME: let hold NAME close its connections; its final line in $HOLD_FINAL.
release() {
	touch "$BATS_TEST_TMPDIR/$1.stop"
	wait_exit "$1" 60
	HOLD_FINAL=$(cat "$BATS_TEST_TMPDIR/$1.log")
}

@test "fd exhaustion (ulimit -n 40): new connections refused at once, established ones work, warning rate-limited, no busy loop, recovery" {
	# the server half runs short of descriptors: a tunnel costs it 2, a TCP
	# peer still in its handshake 1 (kept for 60 s by timeout_handshake)
	start_backend
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" timeout_handshake=60)"
	start_sheath_nofile srv 40 -c "$SRV_CONF"
	wait_sheath_ready srv
	start_cli
	local pid fds0
	pid=$(serving_pid srv)
	grep -Eq '^Max open files +40 ' "/proc/$pid/limits" || fail "limit not applied: $(grep 'open files' "/proc/$pid/limits")"
	fds0=$(fd_count "$pid")
	echo "idle srv holds $fds0 fds, $(fds_below "$pid" 40) below 40"

	# an established tunnel, idle until the process is out of fds
	start_bg late "$PY" "$TOOLS/gated-sender.py" --connect "$CLI_ADDR" --size 4M --seed 8 \
		--ready-file "$BATS_TEST_TMPDIR/late.ready" --go-file "$BATS_TEST_TMPDIR/late.go" --timeout 150
	wait_for_file "$BATS_TEST_TMPDIR/late.ready" 15

	# idle tunnels until one is refused, and a few more attempts after it;
	# the rate-limited warnings may start from here on
	local t_exhausted=$SECONDS
	hold tunnels --connect "$CLI_ADDR" --extra 5
	local held
	held=$(kv held "$HOLD_STATE")
	((held >= 5 && held < 20)) || fail "held $held tunnels under ulimit -n 40"
	[[ $(kv first "$HOLD_STATE") =~ ^(reset|eof)$ ]] || fail "the first refused tunnel: $HOLD_STATE"
	[[ $(kv extra_results "$HOLD_STATE") =~ ^((reset|eof),){4}(reset|eof)$ ]] || fail "later tunnels: $HOLD_STATE"
	float_between "$(kv max_elapsed "$HOLD_STATE")" 0 2
	# then silent TCP peers straight to srv until accept() itself fails
	hold silent --connect "$SRV_ADDR" --silent --settle 0.5 --extra 3
	local silent
	silent=$(kv held "$HOLD_STATE")
	((silent <= 2)) || fail "$silent silent peers fit after the tunnels were refused"
	[[ $(kv first "$HOLD_STATE") == reset ]] || fail "the first refused silent peer: $HOLD_STATE"
	[[ $(kv extra_results "$HOLD_STATE") == reset,reset,reset ]] || fail "later silent peers: $HOLD_STATE"
	wait_for_log "$SRV_LOG" 'warning: service srv: out of file descriptors, refusing new connections' 10

	# hammer it for 3 s: every attempt is closed at once, and the loop does
	# not spin meanwhile
	local cpu0 cpu1 hz
	hz=$(getconf CLK_TCK)
	cpu0=$(cpu_ticks "$pid")
	run "$PY" "$TOOLS/connect-loop.py" --connect "$SRV_ADDR" --duration 3 --parallel 2 \
		--interval 0.05 --timeout 3
	assert_success
	cpu1=$(cpu_ticks "$pid")
	local loop=$output
	echo "connect-loop while exhausted: $loop; srv CPU $((cpu1 - cpu0)) ticks (${hz}/s)"
	assert_equal "$(kv ok "$loop")" 0
	assert_equal "$(kv timeout "$loop")" 0
	assert_equal "$(kv refused "$loop")" 0
	(($(kv attempts "$loop") >= 10)) || fail "too few attempts: $loop"
	# (refusing ~100 connections costs a few ticks; a loop that spins on a
	# listener it cannot accept from costs far more, even on a busy machine)
	((cpu1 - cpu0 < hz / 2)) || fail "srv used $((cpu1 - cpu0)) ticks of CPU in 3 s while out of fds"
	run "$PY" "$TOOLS/probe.py" --connect "$SRV_ADDR" --send hello --timeout 5
	[[ $output =~ ^(eof|reset)\ recv=0\  ]] || fail "a TCP peer while exhausted: $output"
	float_between "$(kv elapsed "$output")" 0 1.5
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hello --timeout 5
	[[ $output =~ ^(eof|reset)\ recv=0\  ]] || fail "a tunnel while exhausted: $output"
	float_between "$(kv elapsed "$output")" 0 1.5
	# at most one warning a second
	local warnings span=$((SECONDS - t_exhausted + 2))
	warnings=$(log_count "$SRV_LOG" 'out of file descriptors')
	echo "$warnings warnings in about $span s"
	((warnings <= span)) || fail "$warnings warnings in $span s"

	# the tunnel established before still transfers, byte-exact
	touch "$BATS_TEST_TMPDIR/late.go"
	wait_exit late 60
	local late
	late=$(cat "$BATS_TEST_TMPDIR/late.log")
	assert_equal "$(kv end "$late")" eof
	assert_equal "$(kv recv "$late")" $((4 << 20))
	assert_equal "$(kv recv_sha256 "$late")" "$(kv sent_sha256 "$late")"
	wait_until 10 "the backend to record the late transfer" backend_got_sha "$(kv wire_sha256 "$late")"

	# the idle ones survived the exhaustion; then they go
	release silent
	assert_equal "$(kv alive "$HOLD_FINAL")" "$silent"
	release tunnels
	assert_equal "$(kv alive "$HOLD_FINAL")" "$held"

	# recovery: every descriptor came back, and as many tunnels fit again
	wait_until 10 "srv to close every connection" fds_at_most "$pid" "$fds0"
	assert_equal "$(fd_count "$pid")" "$fds0"
	assert_plain_serving "$CLI_ADDR" 4M
	assert_tls_serving "$SRV_ADDR" 1M
	hold again --connect "$CLI_ADDR" --extra 1
	(($(kv held "$HOLD_STATE") >= held + 1)) || fail "only $(kv held "$HOLD_STATE") tunnels fit now, $held + 1 before"
	release again
	wait_until 10 "srv to close every connection" fds_at_most "$pid" "$fds0"
	assert_plain_serving "$CLI_ADDR" 4M
	alive "$pid" || fail "srv died"
}

@test "fd exhaustion with one descriptor to spare (the connect side's socket() fails): refused at once and reported at warning" {
	# client mode: every accepted connection opens its connect side at once,
	# so with an odd number of free descriptors accept() keeps succeeding
	# and socket() fails instead
	start_backend
	start_srv
	write_conf "$CLI_CONF" "$(client_svc cli "$CLI_ADDR" "$SRV_ADDR")"
	start_sheath_nofile cli 40 -c "$CLI_CONF"
	wait_sheath_ready cli
	local pid limit=40
	pid=$(serving_pid cli)
	# make the number of free descriptors odd
	(((limit - $(fds_below "$pid" "$limit")) % 2 == 1)) || limit=41
	set_nofile "$pid" "$limit"
	(((limit - $(fds_below "$pid" "$limit")) % 2 == 1)) || fail "cannot make the free descriptors odd"
	hold tunnels --connect "$CLI_ADDR" --extra 5
	[[ $(kv first "$HOLD_STATE") =~ ^(reset|eof)$ ]] || fail "the first refused tunnel: $HOLD_STATE"
	[[ $(kv extra_results "$HOLD_STATE") =~ ^((reset|eof),){4}(reset|eof)$ ]] || fail "later tunnels: $HOLD_STATE"
	float_between "$(kv max_elapsed "$HOLD_STATE")" 0 2
	wait_for_log "$CLI_LOG" 'service=cli .*end=backend: Too many open files'
	# the contract: on EMFILE new connections are refused at once and
	# logged at warning (at most once a second)
	wait_for_log "$CLI_LOG" 'warning: .*(out of file descriptors|Too many open files)' 5
	release tunnels
	assert_equal "$(kv alive "$HOLD_FINAL")" "$(kv held "$HOLD_STATE")"
	assert_plain_serving "$CLI_ADDR" 4M
}

@test "log on a full disk (log = /dev/full): no crash, transfers byte-exact, signals handled, exit 0 on SIGTERM" {
	start_backend
	CONF_GLOBALS='log = "/dev/full";' write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	CONF_GLOBALS='log = "/dev/full";' write_conf "$CLI_CONF" "$(client_svc cli "$CLI_ADDR" "$SRV_ADDR")"
	start_sheath srv -c "$SRV_CONF"
	start_sheath cli -c "$CLI_CONF"
	local srv_pid cli_pid
	srv_pid=$(pid_of srv)
	cli_pid=$(pid_of cli)
	wait_for_port "$SRV_PORT" 127.0.0.1 15
	wait_for_port "$CLI_PORT" 127.0.0.1 15
	# concurrent transfers, each logging a line that cannot be written
	local i
	for i in 1 2 3 4; do
		start_bg "sender$i" "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 2M --seed "$((20 + i))" --timeout 60
	done
	# a rejected peer (notice + info lines), garbage, a refused backend
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/other.crt" --key "$CERTS/other.key" --data hello --expect 5 --timeout 10
	[[ $(kv recv "$output") == 0 ]] || fail "an untrusted client got through: $output"
	run "$PY" "$TOOLS/fault-peer.py" garbage --connect "$SRV_ADDR" --kind http --timeout 8
	[[ $(kv result "$output") =~ ^(eof|reset)$ ]] || fail "garbage: $output"
	for i in 1 2 3 4; do
		wait_exit "sender$i" 60
		local out
		out=$(cat "$BATS_TEST_TMPDIR/sender$i.log")
		assert_equal "$(kv end "$out")" eof
		assert_equal "$(kv recv "$out")" $((2 << 20))
		assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$out")"
	done
	# reopen (SIGUSR1) and reload (SIGHUP) with the log still full
	kill -USR1 "$srv_pid" "$cli_pid"
	kill -HUP "$srv_pid" "$cli_pid"
	sleep 1
	alive "$srv_pid" || fail "srv died"
	alive "$cli_pid" || fail "cli died"
	assert_plain_serving "$CLI_ADDR" 4M
	assert_tls_serving "$SRV_ADDR" 1M
	# a clean exit
	local name pid st deadline
	for name in cli srv; do
		pid=$(pid_of "$name")
		kill -TERM "$pid"
		deadline=$((SECONDS + 10))
		while alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
		alive "$pid" && fail "sheath $name still running 10 s after SIGTERM"
		st=0
		wait "$pid" || st=$?
		forget_pid "$name"
		assert_equal "$st" 0
	done
}

# ---------------------------------------------------------------------------
# 4. a broken certificate on reload

@test "SIGHUP with a broken certificate or key: reload fails, the old credentials keep serving" {
	local d=$BATS_TEST_TMPDIR/tls n=0 what
	mkdir "$d"
	cp "$CERTS/server.crt" "$d/srv.crt"
	cp "$CERTS/server.key" "$d/srv.key"
	start_backend
	start_srv cert="$d/srv.crt" key="$d/srv.key"
	assert_tls_serving "$SRV_ADDR" 256K
	assert_equal "$(kv peer "$TLS_OUT")" CN=server
	local pid
	pid=$(pid_of srv)
	for what in garbage-cert empty-cert truncated-cert mismatched-cert garbage-key unreadable-cert; do
		cp "$CERTS/server.crt" "$d/srv.crt"
		cp "$CERTS/server.key" "$d/srv.key"
		chmod 644 "$d/srv.crt"
		case $what in
		garbage-cert) head -c 3000 /dev/urandom >"$d/srv.crt" ;;
		empty-cert) : >"$d/srv.crt" ;;
		truncated-cert) head -c "$(($(wc -c <"$CERTS/server.crt") / 2))" "$CERTS/server.crt" >"$d/srv.crt" ;;
		mismatched-cert) cp "$CERTS/server2.crt" "$d/srv.crt" ;; # its key is not srv.key
		garbage-key) head -c 300 /dev/urandom >"$d/srv.key" ;;
		unreadable-cert)
			# root reads anything: only meaningful for another user
			((EUID != 0)) || continue
			chmod 000 "$d/srv.crt"
			;;
		esac
		n=$((n + 1))
		reload srv "$n"
		echo "$what: $(grep -E 'error: ' "$SRV_LOG" | tail -n 3)"
		assert_equal "$(log_count "$SRV_LOG" 'error: reload failed; the previous configuration stays in force')" "$n"
		assert_equal "$(log_count "$SRV_LOG" 'configuration reloaded')" 0
		grep -Eq "error: .*$d/srv\.(crt|key)" "$SRV_LOG" || fail "$what: the error does not name the file"
		alive "$pid" || fail "srv died on $what"
		# a new connection still gets the old certificate, byte-exact
		assert_tls_serving "$SRV_ADDR" 256K
		assert_equal "$(kv peer "$TLS_OUT")" CN=server
	done
	# the reload is not wedged: good new files are taken
	cp "$CERTS/server2.crt" "$d/srv.crt"
	cp "$CERTS/server2.key" "$d/srv.key"
	chmod 644 "$d/srv.crt"
	reload srv $((n + 1))
	assert_equal "$(log_count "$SRV_LOG" 'configuration reloaded')" 1
	assert_tls_serving "$SRV_ADDR" 1M --server-name other.example
	assert_equal "$(kv peer "$TLS_OUT")" CN=server2
}
