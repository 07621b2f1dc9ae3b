#!/usr/bin/env bats
# Bridge mode (TLS in, TLS out, with the connect side configured in an
# `upstream` group) and TLS session resumption: tickets on sheath servers,
# the session a sheath client keeps per service, ticket_key_file shared by
# two servers, and its rotation on SIGHUP.

load 'helpers/common'

setup() {
	common_setup
	BR_PORT=$(free_port)
	UP_PORT=$(free_port)
	pair_setup
	SRV2_PORT=$(free_port)
	BR_ADDR=127.0.0.1:$BR_PORT
	UP_ADDR=127.0.0.1:$UP_PORT
	SRV2_ADDR=127.0.0.1:$SRV2_PORT
	BR_LOG=$BATS_TEST_TMPDIR/br.log
}

# --- bridge -------------------------------------------------------------------

# upstream_group KEY=VALUE...: the bridge's connect side, presenting
# client2.crt (CN=client2) and trusting CA1, as a libconfig group.
upstream_group() {
	local g
	g=$(svc cert="$CERTS/client2.crt" key="$CERTS/client2.key" ca="$CERTS/ca.crt" \
		verify_name=localhost "$@")
	echo "$g"
}

# start_bridge [UPSTREAM KEY=VALUE...]: sheath bridge br on $BR_ADDR ->
# $UP_ADDR; accepts clients of CA1 with server.crt.
start_bridge() {
	write_conf "$BATS_TEST_TMPDIR/br.conf" "$(svc name=br mode=bridge accept="$BR_ADDR" \
		connect="$UP_ADDR" cert="$CERTS/server.crt" key="$CERTS/server.key" ca="$CERTS/ca.crt" \
		upstream="$(upstream_group "$@")")"
	start_sheath br -c "$BATS_TEST_TMPDIR/br.conf"
	wait_sheath_ready br
}

# start_py_upstream CERT: python/OpenSSL TLS echo server on $UP_ADDR with
# $CERTS/CERT.crt that requires a client certificate of CA1 and counts every
# TCP connection it accepts.
start_py_upstream() {
	start_bg upstream "$PY" "$TOOLS/tls-peer.py" server --listen "$UP_ADDR" \
		--cert "$CERTS/$1.crt" --key "$CERTS/$1.key" --ca "$CERTS/ca.crt" --require-cert \
		--echo --count-file "$COUNT" --record-dir "$REC" --lifetime 60
	wait_for_port "$UP_PORT"
}

# client_through_bridge CERT: python/OpenSSL client with $CERTS/CERT.crt
# ("none": no certificate) sends "hello" to the bridge and waits for 5 bytes.
client_through_bridge() {
	local certargs=()
	[[ $1 == none ]] || certargs=(--cert "$CERTS/$1.crt" --key "$CERTS/$1.key")
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$BR_ADDR" --ca "$CERTS/ca.crt" \
		"${certargs[@]}" --data hello --expect 5 --timeout 10
	assert_success
}

last_br_line() {
	conn_lines "$BR_LOG" br | tail -n 1
}

@test "bridge: openssl s_client -> sheath bridge -> openssl s_server -Verify 1, mutual TLS on both legs" {
	start_bg s_server openssl s_server -accept "$UP_ADDR" -cert "$CERTS/server.crt" \
		-key "$CERTS/server.key" -CAfile "$CERTS/ca.crt" -Verify 1 -verify_return_error -rev -naccept 1
	wait_for_port "$UP_PORT"
	start_bridge
	run "$PY" "$TOOLS/drive.py" --send $'hello bridge\n' --until 'egdirb olleh' --timeout 10 -- \
		openssl s_client -connect "$BR_ADDR" -servername localhost -verify_hostname localhost \
		-cert "$CERTS/client.crt" -key "$CERTS/client.key" -CAfile "$CERTS/ca.crt" \
		-verify_return_error -quiet -no_ign_eof
	assert_success
	assert_output --partial 'egdirb olleh'
	# s_server verified the bridge's upstream certificate (client2) ...
	wait_for_log "$BATS_TEST_TMPDIR/s_server.log" 'CN *= *client2'
	run grep -c 'CN *= *client1' "$BATS_TEST_TMPDIR/s_server.log"
	assert_output 0
	# ... and the bridge logs the accept-side identity (client1)
	wait_conn_line "$BR_LOG" br
	assert_equal "$(kv identity "$(last_br_line)")" '"CN=client1,OU=app"'
	assert_equal "$(kv version "$(last_br_line)")" TLS1.3
}

@test "bridge: 2 MiB through both TLS legs byte-exact, upstream sees the bridge's certificate" {
	start_py_upstream server
	start_bridge
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$BR_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --size 2M --seed 21 \
		--expect $((2 << 20)) --timeout 20
	assert_success
	assert_equal "$(kv recv "$output")" $((2 << 20))
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	wait_for_file "$REC/conn-1"
	local r
	r=$(cat "$REC/conn-1")
	assert_equal "$(kv sha256 "$r")" "$(kv sent_sha256 "$output")"
	[[ ,$(kv peer "$r"), == *,CN=client2,* ]] || fail "upstream saw peer $(kv peer "$r"), not CN=client2"
}

@test "bridge: a client failing the accept side gets nothing through; upstream sees no connection" {
	start_py_upstream server
	start_bridge
	local who n=0
	for who in none other expired; do
		n=$((n + 1))
		client_through_bridge "$who"
		assert_equal "$(kv recv "$output")" 0
		wait_conn_line "$BR_LOG" br "$n"
		assert_equal "$(kv end "$(last_br_line)")" rejected:
	done
	sleep 0.3
	assert_equal "$(backend_count "$COUNT")" 0
	# control: client1 passes the same bridge
	client_through_bridge client
	assert_equal "$(kv recv "$output")" 5
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "bridge: an upstream certificate failing verify_name is rejected, nothing is forwarded" {
	start_py_upstream server2 # SAN DNS:other.example only
	start_bridge
	client_through_bridge client
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$BR_LOG" br
	local l
	l=$(last_br_line)
	assert_equal "$(kv end "$l")" rejected:
	[[ $l == *name* ]] || fail "rejection does not mention the name: $l"
	# the upstream got the TCP connection and the handshake, but no byte
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv received "$(cat "$REC/conn-1")")" 0
}

@test "bridge: the same upstream certificate passes with verify_name matching it" {
	start_py_upstream server2
	start_bridge verify_name=other.example
	client_through_bridge client
	assert_equal "$(kv recv "$output")" 5
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv received "$(cat "$REC/conn-1")")" 5
}

@test "bridge: an upstream certificate from another CA is rejected" {
	start_bg upstream "$PY" "$TOOLS/tls-peer.py" server --listen "$UP_ADDR" \
		--cert "$CERTS/other.crt" --key "$CERTS/other.key" --echo \
		--count-file "$COUNT" --record-dir "$REC" --lifetime 60
	wait_for_port "$UP_PORT"
	start_bridge verify_name=
	client_through_bridge client
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$BR_LOG" br
	assert_equal "$(kv end "$(last_br_line)")" rejected:
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv received "$(cat "$REC/conn-1")")" 0
}

@test "bridge: upstream with psk_file re-encrypts to a sheath PSK server" {
	local psk=$BATS_TEST_TMPDIR/psk.txt
	psktool -u bridge1 -p "$psk" >/dev/null 2>&1
	chmod 600 "$psk"
	start_bg backend "$PY" "$TOOLS/counting-backend.py" --listen "$BE_ADDR" --echo \
		--count-file "$COUNT" --record-dir "$REC" --lifetime 60
	wait_for_port "$BE_PORT"
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$UP_ADDR" \
		connect="$BE_ADDR" psk_file="$psk")"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
	write_conf "$BATS_TEST_TMPDIR/br.conf" "$(svc name=br mode=bridge accept="$BR_ADDR" \
		connect="$UP_ADDR" cert="$CERTS/server.crt" key="$CERTS/server.key" ca="$CERTS/ca.crt" \
		upstream="$(svc psk_file="$psk" psk_identity=bridge1)")"
	start_sheath br -c "$BATS_TEST_TMPDIR/br.conf"
	wait_sheath_ready br
	client_through_bridge client
	assert_equal "$(kv recv "$output")" 5
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv
	assert_equal "$(kv identity "$(conn_lines "$BATS_TEST_TMPDIR/srv.log" srv)")" '"psk:bridge1"'
	wait_conn_line "$BR_LOG" br
	assert_equal "$(kv identity "$(last_br_line)")" '"CN=client1,OU=app"'
}

# --- session resumption ----------------------------------------------------------

# start_srv_as NAME ADDR [KEY=VALUE...]: sheath server NAME on ADDR -> $BE_ADDR.
# start_srv_as NAME ADDR [KEY=VALUE...]: a server process NAME whose service
# is also named NAME, or $SVC_NAME when set (instances of one service).
start_srv_as() {
	local name=$1 addr=$2
	shift 2
	write_conf "$BATS_TEST_TMPDIR/$name.conf" "$(server_svc "${SVC_NAME:-$name}" "$addr" "$BE_ADDR" "$@")"
	start_sheath "$name" -c "$BATS_TEST_TMPDIR/$name.conf"
	wait_sheath_ready "$name"
}

# through_cli N: one round trip through the client; wait for cli's Nth line.
through_cli() {
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data "round $1" --timeout 10
	assert_success
	assert_equal "$(kv recv "$output")" 7
	wait_conn_line "$CLI_LOG" cli "$1"
}

# resumed_of LOG SERVICE N: the resumed= field of the Nth connection line.
resumed_of() {
	kv resumed "$(conn_lines "$1" "$2" | sed -n "${3}p")"
}

# stop_sheath NAME: SIGTERM and reap one sheath started by this test.
stop_sheath() {
	local pid status=0
	pid=$(pid_of "$1")
	kill -TERM "$pid"
	wait "$pid" || status=$?
	assert_equal "$status" 0
}

@test "resumption: the second connection through a pair is resumed in both logs" {
	start_counting_backend --echo
	start_srv_as srv "$SRV_ADDR"
	start_cli_to "$SRV_ADDR"
	through_cli 1
	through_cli 2
	through_cli 3
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 3
	assert_equal "$(resumed_of "$CLI_LOG" cli 1)" no
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 1)" no
	assert_equal "$(resumed_of "$CLI_LOG" cli 2)" yes
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 2)" yes
	assert_equal "$(resumed_of "$CLI_LOG" cli 3)" yes
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 3)" yes
	# a resumed session keeps the client's identity
	assert_equal "$(kv identity "$(conn_lines "$BATS_TEST_TMPDIR/srv.log" srv | sed -n 2p)")" \
		'"CN=client1,OU=app"'
	assert_equal "$(backend_count "$COUNT")" 3
}

@test "session_resumption = false: every connection is a full handshake, on either end" {
	start_counting_backend --echo
	# off on the client only: it offers no session
	start_srv_as srv "$SRV_ADDR"
	start_cli_to "$SRV_ADDR" session_resumption=false
	through_cli 1
	through_cli 2
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 2
	assert_equal "$(resumed_of "$CLI_LOG" cli 2)" no
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 2)" no
	# off on the server only: it issues no ticket, gnutls-cli cannot resume
	start_srv_as srv2 "127.0.0.1:$(free_port)" session_resumption=false
	local port
	port=$(sed -n 's/.*accept = "127.0.0.1:\([0-9]*\)".*/\1/p' "$BATS_TEST_TMPDIR/srv2.conf")
	run timeout 20 gnutls-cli --resume --x509cafile "$CERTS/ca.crt" \
		--x509certfile "$CERTS/client.crt" --x509keyfile "$CERTS/client.key" -p "$port" localhost </dev/null
	refute_output --partial 'This is a resumed session'
	wait_conn_line "$BATS_TEST_TMPDIR/srv2.log" srv2 2
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv2.log" srv2 2)" no
}

@test "resumption: gnutls-cli --resume against a sheath server reports a resumed session" {
	start_counting_backend --echo
	start_srv_as srv "$SRV_ADDR"
	run timeout 20 gnutls-cli --resume --x509cafile "$CERTS/ca.crt" \
		--x509certfile "$CERTS/client.crt" --x509keyfile "$CERTS/client.key" -p "$SRV_PORT" localhost </dev/null
	assert_output --partial 'This is a resumed session'
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 2
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 2)" yes
}

# default_priority: the priority string sheath uses when none is set.
default_priority() {
	local conf="$BATS_TEST_TMPDIR/prio.conf"
	write_conf "$conf" "$(server_svc prio 127.0.0.1:1 127.0.0.1:2)"
	"$SHEATH" -T -c "$conf" | sed -n 's/^ *priority = "\(.*\)";$/\1/p' | head -n 1
}

# s_client_resumed PORT: a full handshake, then a resumption of its session,
# by an openssl s_client that allows resumption without (EC)DHE (psk_ke);
# prints the second connection's summary lines.
s_client_resumed() {
	local sess="$BATS_TEST_TMPDIR/sess-$1.pem" i
	for i in 1 2; do
		# The session ticket comes after the handshake: stay a moment.
		(printf 'ping'; sleep 1) | timeout 20 openssl s_client -connect "127.0.0.1:$1" \
			-tls1_3 -allow_no_dhe_kex -CAfile "$CERTS/ca.crt" -cert "$CERTS/client.crt" \
			-key "$CERTS/client.key" $([[ $i == 1 ]] && echo -sess_out || echo -sess_in) "$sess" \
			>"$BATS_TEST_TMPDIR/s_client-$1-$i.out" 2>&1
	done
	grep -E '^(New|Reused),|Temp Key' "$BATS_TEST_TMPDIR/s_client-$1-2.out"
}

@test "resumption keeps its (EC)DHE exchange even for a client that allows psk_ke; priority :+PSK opts out" {
	start_counting_backend --echo
	local def
	def=$(default_priority)
	[[ $def == NORMAL:* ]]
	start_srv_as srv "$SRV_ADDR"
	start_srv_as srv2 "$SRV2_ADDR" priority="$def:+PSK"
	# default: resumed, and the server still sent an X25519 key share, so
	# the resumed session is forward-secret
	run s_client_resumed "$SRV_PORT"
	assert_line --regexp '^Reused, TLSv1.3'
	assert_line --partial 'Server Temp Key: X25519'
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 2
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 2)" yes
	# opted in: resumed without any key exchange
	run s_client_resumed "$SRV2_PORT"
	assert_line --regexp '^Reused, TLSv1.3'
	refute_line --partial 'Temp Key'
	wait_conn_line "$BATS_TEST_TMPDIR/srv2.log" srv2 2
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv2.log" srv2 2)" yes
}

@test "resumption: a session from server A resumes on server B sharing ticket_key_file" {
	head -c 64 /dev/urandom >"$BATS_TEST_TMPDIR/tickets.key"
	chmod 600 "$BATS_TEST_TMPDIR/tickets.key"
	start_counting_backend --echo
	# two instances of one service (same name) behind one balancer
	SVC_NAME=edge start_srv_as srvA "$SRV_ADDR" ticket_key_file="$BATS_TEST_TMPDIR/tickets.key"
	SVC_NAME=edge start_srv_as srvB "$SRV2_ADDR" ticket_key_file="$BATS_TEST_TMPDIR/tickets.key"
	start_cli_to "[ \"$SRV_ADDR\", \"$SRV2_ADDR\" ]"
	through_cli 1
	wait_conn_line "$BATS_TEST_TMPDIR/srvA.log" edge 1
	stop_sheath srvA
	through_cli 2
	wait_conn_line "$BATS_TEST_TMPDIR/srvB.log" edge 1
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srvB.log" edge 1)" yes
	assert_equal "$(resumed_of "$CLI_LOG" cli 2)" yes
	assert_equal "$(kv identity "$(conn_lines "$BATS_TEST_TMPDIR/srvB.log" edge)")" '"CN=client1,OU=app"'
}

@test "resumption: two services sharing ticket_key_file never resume each other's sessions" {
	head -c 64 /dev/urandom >"$BATS_TEST_TMPDIR/tickets.key"
	chmod 600 "$BATS_TEST_TMPDIR/tickets.key"
	start_counting_backend --echo
	start_srv_as srvA "$SRV_ADDR" ticket_key_file="$BATS_TEST_TMPDIR/tickets.key"
	start_srv_as srvB "$SRV2_ADDR" ticket_key_file="$BATS_TEST_TMPDIR/tickets.key"
	start_cli_to "[ \"$SRV_ADDR\", \"$SRV2_ADDR\" ]"
	through_cli 1
	wait_conn_line "$BATS_TEST_TMPDIR/srvA.log" srvA 1
	stop_sheath srvA
	# B cannot read A's ticket: the client falls back to a full handshake
	through_cli 2
	wait_conn_line "$BATS_TEST_TMPDIR/srvB.log" srvB 1
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srvB.log" srvB 1)" no
	assert_equal "$(resumed_of "$CLI_LOG" cli 2)" no
	assert_equal "$(kv end "$(conn_lines "$BATS_TEST_TMPDIR/srvB.log" srvB)")" closed
}

@test "resumption: without a shared ticket key the session does not resume on server B" {
	start_counting_backend --echo
	start_srv_as srvA "$SRV_ADDR"
	start_srv_as srvB "$SRV2_ADDR"
	start_cli_to "[ \"$SRV_ADDR\", \"$SRV2_ADDR\" ]"
	through_cli 1
	wait_conn_line "$BATS_TEST_TMPDIR/srvA.log" srvA 1
	stop_sheath srvA
	through_cli 2
	wait_conn_line "$BATS_TEST_TMPDIR/srvB.log" srvB 1
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srvB.log" srvB 1)" no
	assert_equal "$(resumed_of "$CLI_LOG" cli 2)" no
	# B issued its own ticket, so the next connection resumes on B
	through_cli 3
	wait_conn_line "$BATS_TEST_TMPDIR/srvB.log" srvB 2
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srvB.log" srvB 2)" yes
}

@test "resumption: replacing ticket_key_file and SIGHUP makes old tickets stop resuming" {
	local key=$BATS_TEST_TMPDIR/tickets.key
	head -c 64 /dev/urandom >"$key"
	chmod 600 "$key"
	start_counting_backend --echo
	start_srv_as srv "$SRV_ADDR" ticket_key_file="$key"
	start_cli_to "$SRV_ADDR"
	through_cli 1
	through_cli 2
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 2
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 2)" yes
	head -c 64 /dev/urandom >"$key.new"
	chmod 600 "$key.new"
	mv -f "$key.new" "$key"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$BATS_TEST_TMPDIR/srv.log" 'configuration reloaded'
	through_cli 3
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 3
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 3)" no
	assert_equal "$(resumed_of "$CLI_LOG" cli 3)" no
	# the ticket issued under the new key resumes again
	through_cli 4
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 4
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 4)" yes
}

@test "resumption: SIGHUP with the same ticket_key_file keeps tickets valid" {
	local key=$BATS_TEST_TMPDIR/tickets.key
	head -c 64 /dev/urandom >"$key"
	chmod 600 "$key"
	start_counting_backend --echo
	start_srv_as srv "$SRV_ADDR" ticket_key_file="$key"
	start_cli_to "$SRV_ADDR"
	through_cli 1
	kill -HUP "$(pid_of srv)"
	wait_for_log "$BATS_TEST_TMPDIR/srv.log" 'configuration reloaded'
	through_cli 2
	wait_conn_line "$BATS_TEST_TMPDIR/srv.log" srv 2
	assert_equal "$(resumed_of "$BATS_TEST_TMPDIR/srv.log" srv 2)" yes
}

@test "ticket_key_file: -t accepts exactly 64 bytes and rejects 0, 32, 63, 65 and a missing file" {
	local key=$BATS_TEST_TMPDIR/tk n
	for n in 0 32 63 65; do
		head -c "$n" /dev/urandom >"$key"
		chmod 600 "$key"
		write_conf "$BATS_TEST_TMPDIR/t.conf" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" ticket_key_file="$key")"
		run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/t.conf"
		assert_failure 1
		assert_output --partial ticket_key_file
	done
	write_conf "$BATS_TEST_TMPDIR/t.conf" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR" ticket_key_file="$BATS_TEST_TMPDIR/missing")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/t.conf"
	assert_failure 1
	assert_output --partial ticket_key_file
	head -c 64 /dev/urandom >"$key"
	write_conf "$BATS_TEST_TMPDIR/t.conf" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" ticket_key_file="$key")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/t.conf"
	assert_success
	assert_output --partial 'configuration ok'
}
