#!/usr/bin/env bats
# Peer verification. A rejected peer must never cause a backend connection:
# a counting backend proves it (its count stays 0), and every rejection test
# also shows that an acceptable peer gets through the very same instance.

load 'helpers/common'

setup() {
	common_setup
	SRV_PORT=$(free_port)
	BE_PORT=$(free_port)
	SRV_ADDR=127.0.0.1:$SRV_PORT
	BE_ADDR=127.0.0.1:$BE_PORT
	COUNT=$BATS_TEST_TMPDIR/count
	SRV_LOG=$BATS_TEST_TMPDIR/srv.log
	CLIENT_PIN=$(awk '$1 == "client" { print $2 }' "$CERTS/pins")
	SERVER_PIN=$(awk '$1 == "server" { print $2 }' "$CERTS/pins")
	SERVER2_PIN=$(awk '$1 == "server2" { print $2 }' "$CERTS/pins")
}

# --- server mode -------------------------------------------------------------

# start_server KEY=VALUE...: echo counting backend + sheath server srv.
start_server() {
	start_bg backend "$PY" "$TOOLS/counting-backend.py" --listen "$BE_ADDR" \
		--count-file "$COUNT" --echo --lifetime 60
	wait_for_port "$BE_PORT"
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" "$@")"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
}

# spki_pin CERT: base64 SHA-256 of the certificate's SubjectPublicKeyInfo.
spki_pin() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64
}

# tls_client CERT: python/OpenSSL TLS client presenting $CERTS/CERT.crt
# ("none": no certificate); sends "hello" and waits for 5 bytes back.
tls_client() {
	local certargs=()
	[[ $1 == none ]] || certargs=(--cert "$CERTS/$1.crt" --key "$CERTS/$1.key")
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		"${certargs[@]}" --data hello --expect 5 --timeout 10
	assert_success
}

# assert_accepted CERT COUNT: the echo came back and the backend has now
# seen COUNT connections.
assert_accepted() {
	tls_client "$1"
	assert_equal "$(kv handshake "$output")" ok
	assert_equal "$(kv recv "$output")" 5
	assert_equal "$(backend_count "$COUNT")" "$2"
}

# assert_rejected CERT [REGEX]: nothing came back, sheath logged a rejection
# (matching REGEX if given) and the backend saw no connection at all.
assert_rejected() {
	local before lines_before last
	before=$(backend_count "$COUNT")
	lines_before=$(count_conn_lines "$SRV_LOG" srv)
	tls_client "$1"
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$SRV_LOG" srv $((lines_before + 1))
	last=$(conn_lines "$SRV_LOG" srv | tail -n 1)
	assert_equal "$(kv end "$last")" rejected:
	[[ -z ${2:-} || $last =~ end=rejected:\ .*$2 ]] || fail "rejection reason does not name $2: $last"
	# the notice line for the same peer
	grep -qF "service=srv peer=$(kv peer "$last") rejected: " "$SRV_LOG" ||
		fail "no notice line 'service=srv peer=$(kv peer "$last") rejected: ...'"
	sleep 0.3 # a late (wrong) backend connect would show up by now
	assert_equal "$(backend_count "$COUNT")" "$before"
}

@test "server: no client certificate with verify = require is rejected" {
	start_server
	assert_rejected none
	assert_accepted client 1
}

@test "server: client certificate from another CA is rejected" {
	start_server
	assert_rejected other
	assert_accepted client 1
}

@test "server: expired client certificate is rejected" {
	start_server
	assert_rejected expired
	assert_accepted client 1
}

@test "server: the reason names the cause in plain words with the subject and issuer" {
	start_server
	assert_rejected expired 'certificate expired: subject "CN=client1,OU=app" issuer "CN=sheath test CA1,O=sheath tests"'
	assert_rejected other 'unknown CA: subject "CN=client1,OU=app" issuer "CN=sheath test CA2,O=sheath tests"'
}

@test "server: a certificate whose EKU lacks clientAuth is rejected (wrong key usage); one without EKU passes" {
	start_server
	assert_rejected cli-serverauth 'wrong key usage: subject "CN=client1,OU=app"'
	assert_accepted noeku 1
	assert_accepted client 2
}

@test "server: with only a pin (no ca), EKU is still checked" {
	local pin
	pin=$(spki_pin "$CERTS/cli-serverauth.crt")
	start_server ca= pin_sha256="[ \"$pin\", \"$CLIENT_PIN\" ]"
	assert_rejected cli-serverauth 'wrong key usage'
	assert_accepted client 1
}

@test "server: with allow_cn, a subject with several CNs is rejected (several CNs)" {
	start_server allow_cn='[ "client1" ]'
	assert_rejected twocn 'several CNs: subject "CN=client1,CN=admin"'
	assert_accepted client 1
}

@test "server: without allow_cn, a subject with several CNs is not refused for it" {
	start_server
	assert_accepted twocn 1
}

@test "server: revoked client certificate is rejected when crl is set" {
	start_server crl="$CERTS/crl.pem"
	assert_rejected revoked
	assert_accepted client 1
}

@test "server: an accepted chain is remembered, a rejected one never is" {
	start_bg backend "$PY" "$TOOLS/counting-backend.py" --listen "$BE_ADDR" \
		--count-file "$COUNT" --echo --lifetime 60
	wait_for_port "$BE_PORT"
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" crl="$CERTS/crl.pem")"
	start_sheath srv -l debug -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
	# the first connection is verified in full, the second from memory
	assert_accepted client 1
	run grep -c 'certificate chain accepted earlier' "$SRV_LOG"
	assert_output 0
	assert_accepted client 2
	run grep -c 'peer CN=client1,OU=app: certificate chain accepted earlier by this configuration' "$SRV_LOG"
	assert_output 1
	# a revoked chain is rejected every time: rejections are not remembered
	assert_rejected revoked revoked
	assert_rejected revoked revoked
	run grep -c 'certificate chain accepted earlier' "$SRV_LOG"
	assert_output 1
}

@test "server: the revoked certificate is otherwise valid (accepted without crl)" {
	start_server
	assert_accepted revoked 1
}

@test "server: allow_cn not matching is rejected and names allow_cn" {
	start_server allow_cn='[ "client2" ]'
	assert_rejected client allow_cn
	assert_accepted client2 1
}

@test "server: allow_cn as a single string" {
	start_server allow_cn=client1
	assert_rejected client2 allow_cn
	assert_accepted client 1
}

@test "server: allow_dns matching accepts, not matching rejects" {
	start_server allow_dns='[ "client1.test" ]'
	assert_rejected client2 allow_dns
	assert_accepted client 1
}

@test "server: allow_dns with no matching entry rejects client1" {
	start_server allow_dns='[ "nope.test", "client1.test.evil" ]'
	assert_rejected client allow_dns
}

@test "server: allow_uri matching accepts, not matching rejects" {
	start_server allow_uri='[ "spiffe://sheath.test/client1" ]'
	assert_rejected client2 allow_uri
	assert_accepted client 1
}

@test "server: allow_uri with a different URI rejects" {
	start_server allow_uri='[ "spiffe://sheath.test/client2" ]'
	assert_rejected client allow_uri
}

@test "server: allow_ou matching accepts, not matching rejects" {
	start_server allow_ou='[ "other" ]'
	assert_rejected client allow_ou
	assert_accepted client2 1
}

@test "server: a match in any allow list is enough" {
	start_server allow_cn='[ "nobody" ]' allow_ou='[ "app" ]'
	assert_rejected client2
	assert_accepted client 1
}

@test "server: allow lists never admit a certificate that does not verify" {
	start_server allow_cn='[ "client1" ]'
	assert_rejected other
	assert_rejected expired
	assert_accepted client 1
}

@test "server: pin_sha256 matching accepts, another key from the same CA is rejected" {
	start_server pin_sha256="[ \"$CLIENT_PIN\" ]"
	assert_rejected client2 "pin mismatch"
	assert_accepted client 1
}

@test "server: pin_sha256 alone, without ca, is the trust anchor" {
	start_server ca= pin_sha256="[ \"$CLIENT_PIN\" ]"
	assert_accepted client 1
	assert_rejected client2 "pin mismatch"
	assert_rejected other
	assert_rejected none
}

@test "server: verify = optional lets a client without certificate in" {
	start_server verify=optional
	assert_accepted none 1
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv identity "$(conn_lines "$SRV_LOG" srv)")" -
	# a presented certificate is still verified
	assert_rejected other
	assert_accepted client 2
}

@test "server: verify = none warns at start and lets anyone in" {
	start_server verify=none ca=
	local warn
	warn=$(grep -iE 'warn' "$SRV_LOG" | grep -iE 'verify' | grep -iE 'none' || true)
	[[ -n $warn ]] || fail "no start-up warning about verify = none in:
$(cat "$SRV_LOG")"
	assert_accepted none 1
	assert_accepted other 2
}

@test "server: verify = require draws no verify warning" {
	start_server
	run grep -iE 'verify.*none|none.*verify' "$SRV_LOG"
	assert_failure
}

# --- client mode -------------------------------------------------------------
#
#   probe --plain--> sheath client --TLS--> python TLS server (echo, records)

# start_tls_server CERT: python TLS echo server presenting $CERTS/CERT.crt,
# requiring a client certificate from CA1.
start_tls_server() {
	TLS_PORT=$(free_port)
	start_bg tlsserver "$PY" "$TOOLS/tls-peer.py" server --listen "127.0.0.1:$TLS_PORT" \
		--cert "$CERTS/$1.crt" --key "$CERTS/$1.key" --ca "$CERTS/ca.crt" --require-cert \
		--echo --count-file "$COUNT" --record-dir "$BATS_TEST_TMPDIR/rec" --lifetime 60
	wait_for_port "$TLS_PORT"
}

# start_clients SERVICE...: one sheath client instance "cli" with the given
# service groups (each made by client_svc with an accept port in $PORTS[name]).
start_clients() {
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$@"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready cli $#
}

# probe_through PORT: send "secret" and half-close through sheath client.
probe_through() {
	run "$PY" "$TOOLS/probe.py" --connect "127.0.0.1:$1" --send secret --shut-wr --timeout 10
	assert_success
}

# assert_no_plaintext: every connection the TLS server saw carried 0 bytes.
assert_no_plaintext() {
	local n i
	n=$(backend_count "$COUNT")
	((n >= 1)) || fail "the TLS server saw no connection at all"
	for ((i = 1; i <= n; i++)); do
		wait_for_file "$BATS_TEST_TMPDIR/rec/conn-$i"
		assert_equal "$(kv received "$(cat "$BATS_TEST_TMPDIR/rec/conn-$i")")" 0
	done
}

@test "client: server certificate from the wrong CA: local client closed, no plaintext sent" {
	start_tls_server server
	local bad good
	bad=$(free_port)
	good=$(free_port)
	start_clients "$(client_svc bad "127.0.0.1:$bad" "127.0.0.1:$TLS_PORT" ca="$CERTS/ca2.crt")" \
		"$(client_svc good "127.0.0.1:$good" "127.0.0.1:$TLS_PORT")"
	probe_through "$bad"
	assert_output --regexp '^(eof|reset) recv=0 '
	wait_for_log "$BATS_TEST_TMPDIR/cli.log" 'service=bad .*end=rejected: '
	assert_no_plaintext
	# the same server through a correctly configured service works
	probe_through "$good"
	assert_output --regexp '^eof recv=6 '
}

@test "client: verify_name mismatch (server2 has only DNS:other.example) is rejected" {
	start_tls_server server2
	local bad good
	bad=$(free_port)
	good=$(free_port)
	start_clients "$(client_svc bad "127.0.0.1:$bad" "127.0.0.1:$TLS_PORT" verify_name=localhost)" \
		"$(client_svc good "127.0.0.1:$good" "127.0.0.1:$TLS_PORT" verify_name=other.example)"
	probe_through "$bad"
	assert_output --regexp '^(eof|reset) recv=0 '
	wait_for_log "$BATS_TEST_TMPDIR/cli.log" 'service=bad .*end=rejected: '
	assert_no_plaintext
	probe_through "$good"
	assert_output --regexp '^eof recv=6 '
}

@test "client: a server certificate whose EKU lacks serverAuth is rejected (wrong key usage), with a CA or a pin" {
	start_tls_server srv-clientauth
	local bad alone pin
	bad=$(free_port)
	alone=$(free_port)
	pin=$(spki_pin "$CERTS/srv-clientauth.crt")
	start_clients "$(client_svc bad "127.0.0.1:$bad" "127.0.0.1:$TLS_PORT")" \
		"$(client_svc alone "127.0.0.1:$alone" "127.0.0.1:$TLS_PORT" ca= pin_sha256="[ \"$pin\" ]")"
	probe_through "$bad"
	assert_output --regexp '^(eof|reset) recv=0 '
	wait_for_log "$BATS_TEST_TMPDIR/cli.log" 'service=bad .*end=rejected: wrong key usage: subject "CN=server"'
	probe_through "$alone"
	assert_output --regexp '^(eof|reset) recv=0 '
	wait_for_log "$BATS_TEST_TMPDIR/cli.log" 'service=alone .*end=rejected: wrong key usage'
	assert_no_plaintext
}

@test "client: verify_name = \"127.0.0.1\" matches the IP SAN, 127.0.0.2 does not" {
	start_tls_server server
	local ip other
	ip=$(free_port)
	other=$(free_port)
	start_clients "$(client_svc ip "127.0.0.1:$ip" "127.0.0.1:$TLS_PORT" verify_name=127.0.0.1)" \
		"$(client_svc other "127.0.0.1:$other" "127.0.0.1:$TLS_PORT" verify_name=127.0.0.2)"
	probe_through "$other"
	assert_output --regexp '^(eof|reset) recv=0 '
	assert_no_plaintext
	probe_through "$ip"
	assert_output --regexp '^eof recv=6 '
}

@test "client: without verify_name the host of connect (127.0.0.1) is verified" {
	start_tls_server server
	local p
	p=$(free_port)
	start_clients "$(client_svc dflt "127.0.0.1:$p" "127.0.0.1:$TLS_PORT" verify_name=)"
	probe_through "$p"
	assert_output --regexp '^eof recv=6 '
}

@test "client: pin_sha256 of the server accepts, a wrong pin rejects" {
	start_tls_server server
	local ok bad alone
	ok=$(free_port)
	bad=$(free_port)
	alone=$(free_port)
	start_clients "$(client_svc bad "127.0.0.1:$bad" "127.0.0.1:$TLS_PORT" pin_sha256="[ \"$SERVER2_PIN\" ]")" \
		"$(client_svc ok "127.0.0.1:$ok" "127.0.0.1:$TLS_PORT" pin_sha256="[ \"$SERVER_PIN\" ]")" \
		"$(client_svc alone "127.0.0.1:$alone" "127.0.0.1:$TLS_PORT" ca= pin_sha256="[ \"$SERVER_PIN\" ]")"
	probe_through "$bad"
	assert_output --regexp '^(eof|reset) recv=0 '
	wait_for_log "$BATS_TEST_TMPDIR/cli.log" 'service=bad .*rejected: pin mismatch'
	assert_no_plaintext
	probe_through "$ok"
	assert_output --regexp '^eof recv=6 '
	probe_through "$alone"
	assert_output --regexp '^eof recv=6 '
}

# --- every rejection is told to the peer (its alert, seen from its side) ---

# s_client_alert ARGS...: openssl s_client against srv, reading until srv
# closes; sets ALERT to the fatal alert it received ("" if none).
s_client_alert() {
	run timeout 10 openssl s_client -connect "$SRV_ADDR" -msg -ign_eof "$@" </dev/null
	ALERT=$(grep -oE '^<<< TLS [0-9.]+, Alert \[length 0002\], fatal [a-z_]+' <<<"$output" |
		awk '{ print $NF }' | head -n 1)
}

# expect_alert NAME REASON ARGS...: s_client with ARGS gets alert NAME, srv
# logs "rejected: REASON", and the backend still has seen nothing.
expect_alert() {
	local name=$1 reason=$2 n0
	shift 2
	n0=$(count_conn_lines "$SRV_LOG" srv)
	s_client_alert "$@"
	assert_equal "$ALERT" "$name"
	wait_conn_line "$SRV_LOG" srv $((n0 + 1))
	[[ $(conn_lines "$SRV_LOG" srv | tail -n 1) == *"end=rejected: $reason"* ]] ||
		fail "expected rejected: $reason: $(conn_lines "$SRV_LOG" srv | tail -n 1)"
	assert_equal "$(backend_count "$COUNT")" 0
}

@test "alerts: openssl s_client sees the alert that names each rejection" {
	start_server crl="$CERTS/crl.pem" allow_cn='[ "client1" ]'
	expect_alert protocol_version "protocol version mismatch" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0'
	expect_alert certificate_required "no certificate"
	expect_alert handshake_failure "no certificate" -tls1_2
	expect_alert unknown_ca "unknown CA" -cert "$CERTS/other.crt" -key "$CERTS/other.key"
	expect_alert certificate_expired "certificate expired" -cert "$CERTS/expired.crt" -key "$CERTS/expired.key"
	expect_alert certificate_revoked "certificate revoked" -cert "$CERTS/revoked.crt" -key "$CERTS/revoked.key"
	expect_alert bad_certificate "wrong key usage" -cert "$CERTS/cli-serverauth.crt" -key "$CERTS/cli-serverauth.key"
	expect_alert bad_certificate "several CNs" -cert "$CERTS/twocn.crt" -key "$CERTS/twocn.key"
	expect_alert access_denied "not in allow_cn" -cert "$CERTS/client2.crt" -key "$CERTS/client2.key"
}

@test "alerts: a pin mismatch is access_denied; python's ssl names the alert" {
	start_server pin_sha256="[ \"$CLIENT_PIN\" ]"
	expect_alert access_denied "pin mismatch" -cert "$CERTS/client2.crt" -key "$CERTS/client2.key"
	tls_client client2
	assert_equal "$(kv end "$output")" alert:TLSV1_ALERT_ACCESS_DENIED
	tls_client other
	assert_equal "$(kv end "$output")" alert:TLSV1_ALERT_UNKNOWN_CA
	assert_equal "$(backend_count "$COUNT")" 0
}

@test "alerts: a sheath client that rejects its server tells it why" {
	start_tls_server srv-clientauth
	local bad
	bad=$(free_port)
	start_clients "$(client_svc bad "127.0.0.1:$bad" "127.0.0.1:$TLS_PORT")"
	probe_through "$bad"
	wait_for_file "$BATS_TEST_TMPDIR/rec/conn-1"
	assert_equal "$(kv end "$(cat "$BATS_TEST_TMPDIR/rec/conn-1")")" alert:SSLV3_ALERT_BAD_CERTIFICATE
	assert_no_plaintext
}

@test "alerts: a sheath client whose server has the wrong name tells it bad_certificate" {
	start_tls_server server2
	local bad
	bad=$(free_port)
	start_clients "$(client_svc bad "127.0.0.1:$bad" "127.0.0.1:$TLS_PORT" verify_name=localhost)"
	probe_through "$bad"
	wait_for_log "$BATS_TEST_TMPDIR/cli.log" 'service=bad .*end=rejected: name mismatch \(expected "localhost"\): subject "CN=server2"'
	wait_for_file "$BATS_TEST_TMPDIR/rec/conn-1"
	assert_equal "$(kv end "$(cat "$BATS_TEST_TMPDIR/rec/conn-1")")" alert:SSLV3_ALERT_BAD_CERTIFICATE
	assert_no_plaintext
}

@test "renegotiation: a TLS 1.2 client that renegotiates is cut and logged as rejected: renegotiation" {
	start_server
	local n0
	n0=$(count_conn_lines "$SRV_LOG" srv)
	# s_client's interactive "R" command renegotiates
	run timeout 10 openssl s_client -connect "$SRV_ADDR" -tls1_2 -cert "$CERTS/client.crt" \
		-key "$CERTS/client.key" -CAfile "$CERTS/ca.crt" <<<'R'
	wait_conn_line "$SRV_LOG" srv $((n0 + 1))
	[[ $(conn_lines "$SRV_LOG" srv | tail -n 1) == *'end=rejected: renegotiation'* ]] ||
		fail "not logged as a refused renegotiation: $(conn_lines "$SRV_LOG" srv | tail -n 1)"
	grep -qF 'rejected: renegotiation' "$SRV_LOG" || fail "no notice line"
}
