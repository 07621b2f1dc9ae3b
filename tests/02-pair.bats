#!/usr/bin/env bats
# A sheath client instance and a sheath server instance form a tunnel in
# front of a plaintext backend:
#
#   sender --plain--> cli (mode client) --TLS--> srv (mode server) --plain--> backend
#
# Every transfer is compared by SHA-256 at both ends.

load 'helpers/common'

setup() {
	common_setup
	pair_setup
}

# start_pair: sheath server srv ($SRV_ADDR -> $BE_ADDR) and sheath client cli
# ($CLI_ADDR -> $SRV_ADDR); extra service keys in SRV_KEYS / CLI_KEYS arrays.
start_pair() {
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" "${SRV_KEYS[@]}")"
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$(client_svc cli "$CLI_ADDR" "$SRV_ADDR" "${CLI_KEYS[@]}")"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready srv
	wait_sheath_ready cli
}

# check_transfer SENDER_OUTPUT RECORD: what the sender sent is what the
# backend received, and what the backend sent is what the sender received.
check_transfer() {
	local s=$1 r=$2
	assert_equal "$(kv end "$s")" eof
	assert_equal "$(kv received "$r")" "$(kv sent "$s")"
	assert_equal "$(kv sha256 "$r")" "$(kv sent_sha256 "$s")"
	assert_equal "$(kv recv "$s")" "$(kv sent "$r")"
	assert_equal "$(kv recv_sha256 "$s")" "$(kv sent_sha256 "$r")"
	assert_equal "$(kv end "$r")" eof
}

# transfer_1m SEED: 1 MiB seeded with SEED through the pair to the echo
# backend (already started) and back, checked at both ends; the sender's
# report stays in SENDER.
transfer_1m() {
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 1M --seed "$1" --timeout 30
	assert_success
	SENDER=$output
	wait_for_file "$REC/conn-1"
	check_transfer "$SENDER" "$(cat "$REC/conn-1")"
}

# echo_roundtrip SIZE: SIZE seeded bytes through the tunnel to the echo
# backend and back; both directions are in flight at once.
echo_roundtrip() {
	local size=$1
	start_counting_backend --echo
	start_pair
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size "$size" --seed "$size" --timeout 60
	assert_success
	assert_equal "$(kv sent "$output")" "$size"
	assert_equal "$(kv recv "$output")" "$size"
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	local sender=$output
	wait_for_file "$REC/conn-1"
	check_transfer "$sender" "$(cat "$REC/conn-1")"
	assert_equal "$(backend_count "$BATS_TEST_TMPDIR/count")" 1
}

@test "round trip 1 byte" {
	echo_roundtrip 1
}

@test "round trip 16 KiB + 1 (one byte more than a TLS record)" {
	echo_roundtrip $((16 * 1024 + 1))
}

@test "round trip 1 MiB" {
	echo_roundtrip $((1024 * 1024))
}

@test "round trip 64 MiB, byte counts in both connection lines" {
	local size=$((64 * 1024 * 1024))
	echo_roundtrip "$size"
	wait_conn_line "$SRV_LOG" srv
	wait_conn_line "$CLI_LOG" cli
	local l
	for l in "$(conn_lines "$SRV_LOG" srv)" "$(conn_lines "$CLI_LOG" cli)"; do
		assert_equal "$(kv bytes_in "$l")" "$size"
		assert_equal "$(kv bytes_out "$l")" "$size"
		assert_equal "$(kv end "$l")" closed
	done
}

@test "both directions at once with independent data (32 MiB each way)" {
	start_counting_backend --send 32M --seed 11
	start_pair
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 32M --seed 12 --timeout 60
	assert_success
	local sender=$output
	assert_equal "$(kv recv "$sender")" $((32 << 20))
	wait_for_file "$REC/conn-1"
	check_transfer "$sender" "$(cat "$REC/conn-1")"
	# independent streams, so the hashes must differ
	[[ $(kv sent_sha256 "$sender") != "$(kv recv_sha256 "$sender")" ]]
}

@test "eight connections at once, 4 MiB each, all byte-exact" {
	start_counting_backend --echo
	start_pair
	local i
	for i in 1 2 3 4 5 6 7 8; do
		start_bg "sender$i" "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 4M --seed "$i" --timeout 60
	done
	for i in 1 2 3 4 5 6 7 8; do
		wait_exit "sender$i" 60
		local out
		out=$(cat "$BATS_TEST_TMPDIR/sender$i.log")
		assert_equal "$(kv end "$out")" eof
		assert_equal "$(kv recv "$out")" $((4 << 20))
		assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$out")"
	done
	assert_equal "$(backend_count "$BATS_TEST_TMPDIR/count")" 8
	wait_conn_line "$SRV_LOG" srv 8
	wait_conn_line "$CLI_LOG" cli 8
	run grep -c 'end=closed' "$SRV_LOG"
	assert_output 8
}

@test "1 GiB one way, client to sink, byte-exact" {
	start_bg sink "$PY" "$TOOLS/sink.py" --listen "$BE_ADDR" --out "$BATS_TEST_TMPDIR/sink.out" --lifetime 200
	wait_for_port "$BE_PORT"
	start_pair
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 1G --seed 1 --timeout 150
	assert_success
	local sender=$output
	assert_equal "$(kv sent "$sender")" $((1 << 30))
	assert_equal "$(kv end "$sender")" eof
	assert_equal "$(kv recv "$sender")" 0
	wait_for_file "$BATS_TEST_TMPDIR/sink.out" 30
	local sink
	sink=$(cat "$BATS_TEST_TMPDIR/sink.out")
	assert_equal "$(kv bytes "$sink")" $((1 << 30))
	assert_equal "$(kv sha256 "$sink")" "$(kv sent_sha256 "$sender")"
	assert_equal "$(kv end "$sink")" eof
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv bytes_in "$(conn_lines "$SRV_LOG" srv)")" $((1 << 30))
	assert_equal "$(kv bytes_out "$(conn_lines "$SRV_LOG" srv)")" 0
}

@test "half-close: client shuts down write, still gets the reply sent after the backend saw EOF" {
	start_counting_backend --reply-after-eof 300000 --seed 5
	start_pair
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 200000 --seed 6 --timeout 30
	assert_success
	local sender=$output
	assert_equal "$(kv recv "$sender")" 300000
	wait_for_file "$REC/conn-1"
	check_transfer "$sender" "$(cat "$REC/conn-1")"
}

@test "half-close: backend closes its direction first, client sends afterwards" {
	start_counting_backend --send 70000 --seed 7 --shut-wr-after-send
	start_pair
	# --recv-first: the sender reads until EOF (the backend's FIN, carried as
	# close_notify) and only then sends 3 MiB and half-closes.
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --recv-first --size 3M --seed 8 --timeout 30
	assert_success
	local sender=$output
	assert_equal "$(kv recv "$sender")" 70000
	assert_equal "$(kv sent "$sender")" $((3 << 20))
	wait_for_file "$REC/conn-1"
	check_transfer "$sender" "$(cat "$REC/conn-1")"
}

@test "half-close: backend closes first while the client is still sending" {
	start_counting_backend --send 1000 --seed 9 --shut-wr-after-send
	start_pair
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 16M --seed 10 --timeout 30
	assert_success
	local sender=$output
	assert_equal "$(kv recv "$sender")" 1000
	wait_for_file "$REC/conn-1"
	check_transfer "$sender" "$(cat "$REC/conn-1")"
}

@test "ad-hoc command line form as the server half" {
	start_counting_backend --echo
	start_sheath srv --mode server --accept "$SRV_ADDR" --connect "$BE_ADDR" \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" -l info
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$(client_svc tun "$CLI_ADDR" "$SRV_ADDR")"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready srv
	wait_sheath_ready cli
	transfer_1m 2
	# the command-line service is called "cli", and -l info shows the end line
	wait_conn_line "$SRV_LOG" cli
	assert_equal "$(kv identity "$(conn_lines "$SRV_LOG" cli)")" '"CN=client1,OU=app"'
}

@test "ad-hoc command line form for both halves (dashes and underscores)" {
	start_counting_backend --echo
	start_sheath srv --mode server --accept "$SRV_ADDR" --connect "$BE_ADDR" \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" --allow-cn client1
	start_sheath cli --mode client --accept "$CLI_ADDR" --connect "$SRV_ADDR" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --ca "$CERTS/ca.crt" --verify_name localhost
	wait_sheath_ready srv
	wait_sheath_ready cli
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 100000 --seed 3 --timeout 30
	assert_success
	local sender=$output
	wait_for_file "$REC/conn-1"
	check_transfer "$sender" "$(cat "$REC/conn-1")"
}

@test "unix socket on the plaintext accept side (client mode)" {
	CLI_ADDR=unix:$SOCKDIR/cli.sock
	start_counting_backend --echo
	start_pair
	wait_for_unix "$SOCKDIR/cli.sock"
	transfer_1m 4
}

@test "unix socket on the plaintext connect side (server mode)" {
	BE_ADDR=unix:$SOCKDIR/backend.sock
	start_counting_backend --echo
	start_pair
	transfer_1m 5
}

@test "TLS over a unix socket between the pair" {
	SRV_ADDR=unix:$SOCKDIR/tls.sock
	start_counting_backend --echo
	start_pair
	transfer_1m 6
}

@test "IPv6 loopback [::1]:port on both hops" {
	has_ipv6_loopback || skip "no ::1 on this machine"
	CLI_ADDR="[::1]:$CLI_PORT"
	SRV_ADDR="[::1]:$SRV_PORT"
	start_counting_backend --echo
	start_pair
	transfer_1m 7
	wait_conn_line "$CLI_LOG" cli
	assert_equal "$(kv peer "$(conn_lines "$CLI_LOG" cli)")" "$(kv local "$SENDER")"
	wait_conn_line "$SRV_LOG" srv
	[[ $(kv peer "$(conn_lines "$SRV_LOG" srv)") == "[::1]:"* ]] ||
		fail "server saw peer $(kv peer "$(conn_lines "$SRV_LOG" srv)"), expected [::1]:PORT"
}

@test "bridge: client -> bridge -> server re-encrypts with the upstream identity" {
	local br_port
	br_port=$(free_port)
	start_counting_backend --echo
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	write_conf "$BATS_TEST_TMPDIR/br.conf" "$(server_svc br "127.0.0.1:$br_port" "$SRV_ADDR" mode=bridge \
		upstream="{ cert = \"$CERTS/client2.crt\"; key = \"$CERTS/client2.key\"; ca = \"$CERTS/ca.crt\"; verify_name = \"localhost\"; }")"
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$(client_svc cli "$CLI_ADDR" "127.0.0.1:$br_port")"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	start_sheath br -c "$BATS_TEST_TMPDIR/br.conf"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready srv
	wait_sheath_ready br
	wait_sheath_ready cli
	transfer_1m 8
	wait_conn_line "$BATS_TEST_TMPDIR/br.log" br
	assert_equal "$(kv identity "$(conn_lines "$BATS_TEST_TMPDIR/br.log" br)")" '"CN=client1,OU=app"'
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv identity "$(conn_lines "$SRV_LOG" srv)")" '"CN=client2,OU=other"'
}

@test "connection end line: service, peer, identity, version, cipher, byte counts" {
	start_counting_backend --reply-after-eof 2345 --seed 1
	start_pair
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 1000 --seed 2 --timeout 30
	assert_success
	local sender=$output
	assert_equal "$(kv recv "$sender")" 2345

	wait_conn_line "$SRV_LOG" srv
	local l
	l=$(conn_lines "$SRV_LOG" srv)
	assert_equal "$(echo "$l" | wc -l)" 1
	[[ $(kv peer "$l") =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "peer: $l"
	assert_equal "$(kv identity "$l")" '"CN=client1,OU=app"'
	assert_equal "$(kv version "$l")" TLS1.3
	# the IANA suite name, as openssl, HAProxy and PROXY v2 say it
	assert_equal "$(kv cipher "$l")" TLS_AES_128_GCM_SHA256
	assert_equal "$(kv alpn "$l")" -
	assert_equal "$(kv bytes_in "$l")" 1000
	assert_equal "$(kv bytes_out "$l")" 2345
	[[ $(kv duration "$l") =~ ^[0-9]+\.[0-9]{3}$ ]] || fail "duration: $l"
	assert_equal "$(kv end "$l")" closed

	wait_conn_line "$CLI_LOG" cli
	l=$(conn_lines "$CLI_LOG" cli)
	assert_equal "$(kv peer "$l")" "$(kv local "$sender")"
	assert_equal "$(kv version "$l")" TLS1.3
	assert_equal "$(kv bytes_in "$l")" 1000
	assert_equal "$(kv bytes_out "$l")" 2345
	assert_equal "$(kv end "$l")" closed
	# never payload or key material
	refute grep -q 'PRIVATE KEY' "$SRV_LOG" "$CLI_LOG"
}

@test "log: a TLS 1.2 line names the suite with its key exchange (IANA)" {
	start_counting_backend --echo
	start_srv priority='NORMAL:-VERS-ALL:+VERS-TLS1.2'
	start_cli
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data hello --timeout 10
	assert_success
	wait_conn_line "$SRV_LOG" srv
	local l
	l=$(conn_lines "$SRV_LOG" srv)
	assert_equal "$(kv version "$l")" TLS1.2
	assert_equal "$(kv cipher "$l")" TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
}

@test "log: a connection that closes before sending a byte (a health check) is end=no data, at debug only" {
	start_counting_backend --echo
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	start_sheath srv -c "$SRV_CONF" -l debug
	wait_sheath_ready srv
	# a balancer's TCP check: connect, then close without a byte
	run "$PY" "$TOOLS/probe.py" --connect "$SRV_ADDR" --shut-wr --timeout 5
	assert_success
	wait_for_log "$SRV_LOG" 'end=no data'
	grep 'end=no data' "$SRV_LOG" | grep -q ': debug: service=srv ' ||
		fail "not logged at debug: $(grep 'end=no data' "$SRV_LOG")"
	# a peer that sent bytes and then vanished is still news
	run "$PY" "$TOOLS/probe.py" --connect "$SRV_ADDR" --send 'not tls' --shut-wr --timeout 5
	wait_conn_line "$SRV_LOG" srv 2
	[[ $(conn_lines "$SRV_LOG" srv | tail -n 1) == *'end=rejected: '* ]] ||
		fail "a peer that sent bytes: $(conn_lines "$SRV_LOG" srv | tail -n 1)"
	assert_equal "$(backend_count "$COUNT")" 0
}
