#!/usr/bin/env bats
# sheath against other TLS implementations: stunnel4 (OpenSSL) on either
# side, gnutls-cli, openssl s_client, openssl s_server, gnutls-serv, curl.
# Every exchange is mutual TLS with the CA1 fixtures.

load 'helpers/common'

setup() {
	common_setup
	pair_setup
}

# start_stunnel NAME SERVICE_LINES...: stunnel4 in the foreground with its
# config in the test directory.
start_stunnel() {
	local name=$1 conf=$BATS_TEST_TMPDIR/$1.stunnel.conf
	shift
	{
		echo 'foreground = yes'
		echo 'pid ='
		echo 'syslog = no'
		echo 'debug = info'
		echo "[$name]"
		printf '%s\n' "$@"
	} >"$conf"
	start_bg "$name" stunnel4 "$conf"
}

assert_identity_client1() {
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv identity "$(conn_lines "$SRV_LOG" srv | tail -n 1)")" '"CN=client1,OU=app"'
}

@test "stunnel4 client half -> sheath server: 4 MiB echo byte-exact across a half-close" {
	command -v stunnel4 >/dev/null || skip "stunnel4 not installed"
	start_counting_backend --echo
	start_srv
	start_stunnel stclient 'client = yes' "accept = $CLI_ADDR" "connect = $SRV_ADDR" \
		"cert = $CERTS/client.crt" "key = $CERTS/client.key" "CAfile = $CERTS/ca.crt" \
		'verifyChain = yes' 'checkHost = localhost'
	wait_for_port "$CLI_PORT"
	# the client half-closes as soon as it has sent: stunnel sends
	# close_notify, sheath passes the EOF on and the echo still comes back
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 4M --seed 41 --timeout 30
	assert_success
	assert_equal "$(kv recv "$output")" $((4 << 20))
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv sha256 "$(cat "$REC/conn-1")")" "$(kv sent_sha256 "$output")"
	assert_identity_client1
}

@test "sheath client -> stunnel4 server half: 4 MiB echo byte-exact across a half-close, client cert checked" {
	command -v stunnel4 >/dev/null || skip "stunnel4 not installed"
	start_counting_backend --echo
	start_stunnel stserver "accept = $SRV_ADDR" "connect = $BE_ADDR" \
		"cert = $CERTS/server.crt" "key = $CERTS/server.key" "CAfile = $CERTS/ca.crt" \
		'verifyChain = yes' 'requireCert = yes'
	wait_for_port "$SRV_PORT"
	start_cli
	# the client half-closes as soon as it has sent: sheath sends
	# close_notify and the FIN, stunnel passes the EOF on and the echo
	# still comes back
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 4M --seed 42 --timeout 30
	assert_success
	assert_equal "$(kv recv "$output")" $((4 << 20))
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv sha256 "$(cat "$REC/conn-1")")" "$(kv sent_sha256 "$output")"
	wait_for_log "$BATS_TEST_TMPDIR/stserver.log" 'Certificate accepted at depth=0: .*CN=client1'
}

@test "gnutls-cli with a client certificate gets its data echoed by sheath server" {
	start_counting_backend --echo
	start_srv
	run "$PY" "$TOOLS/drive.py" --send $'hello from gnutls-cli\n' --until 'hello from gnutls-cli' --timeout 10 -- \
		gnutls-cli --x509cafile "$CERTS/ca.crt" --x509certfile "$CERTS/client.crt" \
		--x509keyfile "$CERTS/client.key" -p "$SRV_PORT" localhost
	assert_success
	assert_output --partial 'hello from gnutls-cli'
	assert_identity_client1
}

@test "openssl s_client with a client certificate gets its data echoed by sheath server" {
	start_counting_backend --echo
	start_srv
	run "$PY" "$TOOLS/drive.py" --send $'hello from s_client\n' --until 'hello from s_client' --timeout 10 -- \
		openssl s_client -connect "$SRV_ADDR" -servername localhost -verify_hostname localhost \
		-cert "$CERTS/client.crt" -key "$CERTS/client.key" -CAfile "$CERTS/ca.crt" \
		-verify_return_error -quiet -no_ign_eof
	assert_success
	assert_output --partial 'hello from s_client'
	assert_identity_client1
}

@test "openssl s_client without a client certificate gets nothing through" {
	start_counting_backend --echo
	start_srv
	run "$PY" "$TOOLS/drive.py" --send $'hello from s_client\n' --until 'hello from s_client' --timeout 3 -- \
		openssl s_client -connect "$SRV_ADDR" -servername localhost -CAfile "$CERTS/ca.crt" -quiet -no_ign_eof
	assert_failure
	refute_output --partial 'hello from s_client'
	assert_equal "$(backend_count "$BATS_TEST_TMPDIR/count")" 0
}

# s_server_rev LINE REVERSED [S_SERVER ARGS...]: openssl s_server -rev
# (client certificate required) behind a sheath client; LINE goes through
# and must come back as REVERSED.
s_server_rev() {
	local line=$1 reversed=$2
	shift 2
	start_bg s_server openssl s_server -accept "$SRV_ADDR" -cert "$CERTS/server.crt" \
		-key "$CERTS/server.key" -CAfile "$CERTS/ca.crt" -Verify 1 -verify_return_error -rev -naccept 1 "$@"
	wait_for_port "$SRV_PORT"
	start_cli
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send "$line"$'\n' --expect $((${#line} + 1)) \
		--out "$BATS_TEST_TMPDIR/rev.out" --timeout 10
	assert_success
	assert_output --regexp "^expect recv=$((${#line} + 1)) "
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rev.out")" "$reversed"
}

@test "sheath client -> openssl s_server -rev (client certificate required)" {
	s_server_rev 'hello sheath' 'htaehs olleh'
	wait_for_log "$BATS_TEST_TMPDIR/s_server.log" 'CN *= *client1'
	# s_server takes the client's preference (OpenSSL's own would be
	# AES-256-GCM): sheath's default priority offers AES-128-GCM first
	wait_for_log "$BATS_TEST_TMPDIR/s_server.log" '^Ciphersuite: TLS_AES_128_GCM_SHA256'
}

@test "sheath client offers X25519 first, and completes with a server that only has P-256" {
	# one key share (X25519) that this server cannot use: it asks again
	# (HelloRetryRequest) and the handshake completes on P-256
	s_server_rev 'hello p256' '652p olleh' -groups P-256
	wait_for_log "$BATS_TEST_TMPDIR/s_server.log" '^Supported groups: '
	grep -q '^Supported groups: x25519:secp256r1' "$BATS_TEST_TMPDIR/s_server.log" ||
		fail "client groups not X25519 first: $(grep '^Supported groups' "$BATS_TEST_TMPDIR/s_server.log")"
}

@test "sheath client -> gnutls-serv --echo (client certificate required)" {
	# gnutls-serv has no bind address option: it listens on all addresses of
	# a free port for the few seconds of this test.
	start_bg gnutls_serv timeout 30 gnutls-serv --echo -p "$SRV_PORT" \
		--x509certfile "$CERTS/server.crt" --x509keyfile "$CERTS/server.key" \
		--x509cafile "$CERTS/ca.crt" --require-client-cert --verify-client-cert
	wait_for_port "$SRV_PORT"
	start_cli
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send $'hello gnutls-serv\n' --expect 18 \
		--out "$BATS_TEST_TMPDIR/echo.out" --timeout 10
	assert_success
	assert_output --regexp '^expect recv=18 '
	assert_equal "$(cat "$BATS_TEST_TMPDIR/echo.out")" 'hello gnutls-serv'
}

@test "curl with a client certificate through sheath server to python http.server" {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	head -c 1048577 /dev/urandom >"$BATS_TEST_TMPDIR/www/blob"
	start_bg http timeout 60 "$PY" -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$BE_PORT"
	wait_for_port "$BE_PORT"
	start_srv
	run curl -sS --fail --max-time 20 --resolve "localhost:$SRV_PORT:127.0.0.1" \
		--cacert "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
		-o "$BATS_TEST_TMPDIR/blob.out" "https://localhost:$SRV_PORT/blob"
	assert_success
	assert_equal "$(sha256_of "$BATS_TEST_TMPDIR/blob.out")" "$(sha256_of "$BATS_TEST_TMPDIR/www/blob")"
	assert_identity_client1
	# and without a client certificate curl gets nothing, the backend no request
	run curl -sS --fail --max-time 20 --resolve "localhost:$SRV_PORT:127.0.0.1" \
		--cacert "$CERTS/ca.crt" -o "$BATS_TEST_TMPDIR/blob2.out" "https://localhost:$SRV_PORT/blob"
	assert_failure
	assert_equal "$(grep -c 'GET /blob' "$BATS_TEST_TMPDIR/http.log")" 1
}

@test "python/OpenSSL client limited to TLS 1.2 is served and logged as TLS1.2" {
	start_counting_backend --echo
	start_srv
	run "$PY" "$TOOLS/tls-peer.py" client --tls12 --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --size 100000 --seed 43 --expect 100000 --timeout 10
	assert_success
	assert_equal "$(kv version "$output")" TLSv1.2
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv version "$(conn_lines "$SRV_LOG" srv)")" TLS1.2
	assert_identity_client1
}
