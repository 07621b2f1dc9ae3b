#!/usr/bin/env bats
# Timeouts, truncation, backpressure, connection limits, refusing backends.

load 'helpers/common'

setup() {
	common_setup
	pair_setup
}

backend_count_is() { [[ "$(cat "$COUNT" 2>/dev/null)" == "$1" ]]; }

# float_between VALUE LOW HIGH
float_between() {
	awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }' ||
		fail "$1 is not between $2 and $3"
}

@test "timeout_handshake: a silent TCP peer is closed and logged as timeout; others are served meanwhile" {
	start_counting_backend --echo
	start_srv timeout_handshake=3
	start_bg silent "$PY" "$TOOLS/probe.py" --connect "$SRV_ADDR" --timeout 15
	sleep 0.3
	# A loop that waited on the silent peer would serve this client only
	# after timing the silent one out: it must be done before that.
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --data hello --expect 5 --timeout 10
	assert_success
	assert_equal "$(kv recv "$output")" 5
	! grep -q 'end=timeout' "$SRV_LOG" || fail "the good client was served only after the silent one timed out"
	alive "$(pid_of silent)" || fail "the silent peer was closed before the good client was served"
	wait_exit silent 15
	local silent
	silent=$(cat "$BATS_TEST_TMPDIR/silent.log")
	[[ $silent =~ ^(eof|reset)\  ]] || fail "silent peer: $silent"
	float_between "$(kv elapsed "$silent")" 2.7 6
	wait_for_log "$SRV_LOG" 'service=srv .*end=timeout'
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "timeout_handshake = 1: a silent peer and one that stops mid-handshake are both closed" {
	start_counting_backend --echo
	start_srv timeout_handshake=1
	start_bg silent "$PY" "$TOOLS/probe.py" --connect "$SRV_ADDR" --timeout 10
	# a TLS ClientHello record header promising 512 bytes, then nothing
	start_bg partial "$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
t = time.monotonic()
s.settimeout(10)
try:
    d = s.recv(100)
    r = "eof" if not d else "data"
except ConnectionResetError:
    r = "reset"
print(r, "elapsed=%.3f" % (time.monotonic() - t))
' "$SRV_PORT"
	wait_exit silent 10
	wait_exit partial 10
	local res
	for res in "$(cat "$BATS_TEST_TMPDIR/silent.log")" "$(cat "$BATS_TEST_TMPDIR/partial.log")"; do
		[[ $res =~ ^(eof|reset)\  ]] || fail "peer: $res"
		float_between "$(kv elapsed "$res")" 0.8 4
	done
	wait_conn_line "$SRV_LOG" srv 2
	run grep -c 'service=srv .*end=timeout' "$SRV_LOG"
	assert_output 2
	assert_equal "$(backend_count "$COUNT")" 0
}

@test "timeout_idle: an idle pair is closed, a trickling one is not" {
	start_counting_backend --echo
	start_srv
	start_cli timeout_idle=1
	# trickle: one byte every 0.25 s for 2 s, never idle for a second
	start_bg trickle "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 8 --interval 0.25 --shut-wr --timeout 10
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send x --timeout 10
	assert_success
	[[ $output =~ ^(eof|reset)\ recv=1\  ]] || fail "idle probe: $output"
	float_between "$(kv elapsed "$output")" 0.8 4
	wait_for_log "$CLI_LOG" 'service=cli .*end=timeout'
	wait_exit trickle 10
	run cat "$BATS_TEST_TMPDIR/trickle.log"
	assert_output --regexp '^eof recv=8 '
}

@test "truncation: TLS peer drops TCP without close_notify -> backend sees a reset, log says truncated" {
	start_counting_backend
	start_srv
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --size 1000 --seed 3 --truncate --linger 0.5
	assert_success
	assert_equal "$(kv end "$output")" truncated
	wait_for_file "$REC/conn-1"
	local rec
	rec=$(cat "$REC/conn-1")
	assert_equal "$(kv end "$rec")" reset
	wait_for_log "$SRV_LOG" 'service=srv .*end=truncated'
}

@test "no truncation: the same peer with close_notify -> backend sees a clean EOF, log says closed" {
	start_counting_backend
	start_srv
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --size 1000 --seed 3 --clean-close --timeout 10
	assert_success
	assert_equal "$(kv end "$output")" closed
	wait_for_file "$REC/conn-1"
	local rec
	rec=$(cat "$REC/conn-1")
	assert_equal "$(kv end "$rec")" eof
	assert_equal "$(kv received "$rec")" 1000
	assert_equal "$(kv sha256 "$rec")" "$(kv sent_sha256 "$output")"
	wait_for_log "$SRV_LOG" 'service=srv .*end=closed'
}

@test "truncation in client mode: TLS server drops TCP -> local client sees a reset" {
	local trunc_port clean_port p_trunc p_clean
	trunc_port=$(free_port)
	clean_port=$(free_port)
	p_trunc=$(free_port)
	p_clean=$(free_port)
	start_bg trunc "$PY" "$TOOLS/tls-peer.py" server --listen "127.0.0.1:$trunc_port" \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" --require-cert \
		--send 100000 --seed 4 --truncate --linger 0.5 --lifetime 30
	start_bg clean "$PY" "$TOOLS/tls-peer.py" server --listen "127.0.0.1:$clean_port" \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" --require-cert \
		--send 100000 --seed 4 --lifetime 30
	wait_for_port "$trunc_port"
	wait_for_port "$clean_port"
	write_conf "$BATS_TEST_TMPDIR/cli.conf" \
		"$(client_svc trunc "127.0.0.1:$p_trunc" "127.0.0.1:$trunc_port")" \
		"$(client_svc clean "127.0.0.1:$p_clean" "127.0.0.1:$clean_port")"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready cli 2
	run "$PY" "$TOOLS/probe.py" --connect "127.0.0.1:$p_trunc" --timeout 10
	assert_success
	assert_output --regexp '^reset '
	wait_for_log "$CLI_LOG" 'service=trunc .*end=truncated'
	run "$PY" "$TOOLS/probe.py" --connect "127.0.0.1:$p_clean" --shut-wr --timeout 10
	assert_success
	assert_output --regexp '^eof recv=100000 '
}

@test "slow reader: 200 MiB from the backend, sheath RSS stays bounded, bytes exact" {
	local size=$((200 << 20))
	# A sanitizer build (--enable-sanitizers) keeps freed memory in a
	# quarantine of up to 256 MiB, which is not what this test measures.
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64
	start_counting_backend --send "$size" --seed 5
	start_srv
	start_cli
	local srv_pid cli_pid base_srv base_cli max_srv=0 max_cli=0 r
	# the processes that carry the connections (workers under the sandbox)
	srv_pid=$(serving_pid srv)
	cli_pid=$(serving_pid cli)
	base_srv=$(sheath_rss_kb "$srv_pid")
	base_cli=$(sheath_rss_kb "$cli_pid")
	start_bg reader "$PY" "$TOOLS/slow-reader.py" --connect "$CLI_ADDR" --data go \
		--stall 2 --slow-bytes 2M --rate 2M --rcvbuf 64K --timeout 100
	local reader_pid deadline=$((SECONDS + 100))
	reader_pid=$(pid_of reader)
	while kill -0 "$reader_pid" 2>/dev/null && ((SECONDS < deadline)); do
		r=$(sheath_rss_kb "$srv_pid") && ((r > max_srv)) && max_srv=$r
		r=$(sheath_rss_kb "$cli_pid") && ((r > max_cli)) && max_cli=$r
		sleep 0.1
	done
	wait_exit reader 5
	echo "RSS KiB: srv $base_srv -> max $max_srv, cli $base_cli -> max $max_cli"
	((max_srv - base_srv < 48 * 1024)) || fail "server RSS grew by $((max_srv - base_srv)) KiB"
	((max_cli - base_cli < 48 * 1024)) || fail "client RSS grew by $((max_cli - base_cli)) KiB"
	local out
	out=$(cat "$BATS_TEST_TMPDIR/reader.log")
	assert_equal "$(kv end "$out")" eof
	assert_equal "$(kv recv "$out")" "$size"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$(cat "$REC/conn-1")")"
}

@test "a stalled reader does not stall another connection" {
	start_counting_backend --send 64M --seed 6
	start_srv
	start_cli
	# This one reads nothing for 5 s while the backend pushes 64 MiB at it.
	local mark="$BATS_TEST_TMPDIR/stall-ended"
	start_bg stalled "$PY" "$TOOLS/slow-reader.py" --connect "$CLI_ADDR" --data go --stall 5 \
		--stall-mark "$mark" --rcvbuf 64K --timeout 30
	wait_until 5 "the stalled connection to reach the backend" backend_count_is 1
	sleep 0.5 # let every buffer on its path fill up
	# A loop blocked on the stalled reader would finish nothing before it
	# reads again: the whole second transfer must be done before that.
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 4M --seed 7 --timeout 20
	assert_success
	assert_equal "$(kv recv "$output")" $((64 << 20))
	[[ ! -e $mark ]] || fail "the second connection finished only after the stalled one read again"
	wait_for_file "$REC/conn-2"
	assert_equal "$(kv sha256 "$(cat "$REC/conn-2")")" "$(kv sent_sha256 "$output")"
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$(cat "$REC/conn-2")")"
	# and the stalled one still gets everything once it reads
	wait_exit stalled 30
	[[ -e $mark ]] || fail "the stalled reader never marked the end of its stall"
	local out
	out=$(cat "$BATS_TEST_TMPDIR/stalled.log")
	assert_equal "$(kv recv "$out")" $((64 << 20))
	assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$(cat "$REC/conn-1")")"
}

# max_conn_check: with a limit of 2 on the client instance, two trickling
# connections keep working while a third is closed at once.
max_conn_check() {
	start_bg a "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 8 --interval 0.25 --shut-wr --timeout 10
	start_bg b "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 8 --interval 0.25 --shut-wr --timeout 10
	wait_until 5 "two backend connections" backend_count_is 2
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hello --timeout 5
	assert_success
	[[ $output =~ ^(eof|reset)\ recv=0\  ]] || fail "third connection: $output"
	float_between "$(kv elapsed "$output")" 0 1.5
	wait_exit a 10
	wait_exit b 10
	run cat "$BATS_TEST_TMPDIR/a.log" "$BATS_TEST_TMPDIR/b.log"
	assert_line --index 0 --regexp '^eof recv=8 '
	assert_line --index 1 --regexp '^eof recv=8 '
	assert_equal "$(backend_count "$COUNT")" 2
	# the limit refuses, it does not wedge: once they are gone, a new one works
	wait_conn_line "$CLI_LOG" cli 2
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hi --shut-wr --timeout 5
	assert_output --regexp '^eof recv=2 '
}

@test "max_connections = 2 on the service: a third connection is closed at once" {
	start_counting_backend --echo
	start_srv
	start_cli max_connections=2
	max_conn_check
}

@test "global max_connections = 2: a third connection is closed at once" {
	start_counting_backend --echo
	start_srv
	CONF_GLOBALS='max_connections = 2;' start_cli
	max_conn_check
}

@test "a backend that refuses: client closed, log says backend:" {
	start_srv # nothing listens on $BE_ADDR
	start_cli
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hello --shut-wr --timeout 10
	assert_success
	[[ $output =~ ^(eof|reset)\ recv=0\  ]] || fail "client: $output"
	float_between "$(kv elapsed "$output")" 0 3
	wait_for_log "$SRV_LOG" 'service=srv .*end=backend: '
	# and the server keeps serving once the backend is there
	start_counting_backend --echo
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hello --shut-wr --timeout 10
	assert_output --regexp '^eof recv=5 '
}

@test "connect list: a refusing first address is skipped, the next one answers" {
	local dead
	dead=$(free_port) # nothing listens there
	start_counting_backend --echo
	write_conf "$BATS_TEST_TMPDIR/srv.conf" \
		"$(server_svc srv "$SRV_ADDR" "( \"127.0.0.1:$dead\", \"$BE_ADDR\" )")"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
	start_cli
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 100000 --seed 9 --timeout 10
	assert_success
	assert_equal "$(kv recv "$output")" 100000
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	assert_equal "$(backend_count "$COUNT")" 1
}
