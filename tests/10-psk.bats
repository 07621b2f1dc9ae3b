#!/usr/bin/env bats
# TLS with pre-shared keys (psk_file in psktool format, psk_identity), always
# combined with an (EC)DHE exchange: a sheath PSK pair, gnutls-cli and
# openssl s_client against a sheath PSK server, a sheath PSK client against
# gnutls-serv, and the rejections (wrong key, unknown identity, plain PSK
# without (EC)DHE, bad psk_file lines).

load 'helpers/common'

setup() {
	common_setup
	pair_setup
	# two identities written by psktool itself
	PSK=$BATS_TEST_TMPDIR/psk.txt
	psktool -u alice -p "$PSK" >/dev/null 2>&1 || fail "psktool failed"
	psktool -u bob -p "$PSK" >/dev/null 2>&1 || fail "psktool failed"
	chmod 600 "$PSK"
	ALICE_KEY=$(awk -F: '$1 == "alice" { print $2 }' "$PSK")
	BOB_KEY=$(awk -F: '$1 == "bob" { print $2 }' "$PSK")
	[[ ${#ALICE_KEY} -ge 32 && ${#BOB_KEY} -ge 32 ]] || fail "psktool wrote no keys: $(cat "$PSK")"
	PSK_PRIO='NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-PSK:+DHE-PSK'
}

# psk_server [KEY=VALUE...]: sheath server with only a psk_file (no
# certificate, no CA) on $SRV_ADDR -> $BE_ADDR.
psk_server() {
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" psk_file="$PSK" "$@")"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
}

# psk_client CONNECT PSKFILE [KEY=VALUE...]: sheath client with only PSK.
psk_client() {
	local connect=$1 file=$2
	shift 2
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$(svc name=cli mode=client accept="$CLI_ADDR" \
		connect="$connect" psk_file="$file" "$@")"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready cli
}

last_srv_line() {
	conn_lines "$SRV_LOG" srv | tail -n 1
}

# assert_srv_rejected N: the srv's Nth connection line is a rejection, and
# the backend has seen no connection.
assert_srv_rejected() {
	wait_conn_line "$SRV_LOG" srv "$1"
	assert_equal "$(kv end "$(last_srv_line)")" rejected:
	sleep 0.3
	assert_equal "$(backend_count "$COUNT")" 0
}

# gnutls_psk USER KEY PRIORITY: gnutls-cli with a PSK sends a line to
# $SRV_ADDR and waits for its echo (status and output in $status/$output).
gnutls_psk() {
	run "$PY" "$TOOLS/drive.py" --send $'hello over psk\n' --until 'hello over psk' --timeout 5 -- \
		gnutls-cli --pskusername "$1" --pskkey "$2" --priority "$3" -p "$SRV_PORT" 127.0.0.1
}

# openssl_psk USER KEY ARGS...: the same with openssl s_client.
openssl_psk() {
	local user=$1 key=$2
	shift 2
	run "$PY" "$TOOLS/drive.py" --send $'hello over psk\n' --until 'hello over psk' --timeout 5 -- \
		openssl s_client -connect "$SRV_ADDR" -psk_identity "$user" -psk "$key" -quiet -no_ign_eof "$@"
}

@test "PSK pair: sheath client (psk_identity bob) -> sheath server (psk_file only), 1 MiB echo byte-exact" {
	start_counting_backend --echo
	psk_server
	psk_client "$SRV_ADDR" "$PSK" psk_identity=bob
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 1M --seed 101 --timeout 30
	assert_success
	assert_equal "$(kv recv "$output")" $((1 << 20))
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv sha256 "$(cat "$REC/conn-1")")" "$(kv sent_sha256 "$output")"
	wait_conn_line "$SRV_LOG" srv
	wait_conn_line "$CLI_LOG" cli
	local s c
	s=$(last_srv_line)
	c=$(conn_lines "$CLI_LOG" cli)
	assert_equal "$(kv identity "$s")" '"psk:bob"'
	assert_equal "$(kv identity "$c")" '"psk:bob"'
	assert_equal "$(kv version "$s")" TLS1.3
	assert_equal "$(kv end "$s")" closed
	assert_equal "$(kv bytes_in "$s")" $((1 << 20))
}

@test "PSK pair: psk_identity defaults to the first line of psk_file" {
	start_counting_backend --echo
	psk_server
	psk_client "$SRV_ADDR" "$PSK"
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data 'first line' --timeout 10
	assert_success
	assert_equal "$(kv recv "$output")" 10
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv identity "$(last_srv_line)")" '"psk:alice"'
}

@test "PSK: gnutls-cli with ECDHE-PSK/DHE-PSK is served by a sheath PSK server" {
	start_counting_backend --echo
	psk_server
	gnutls_psk alice "$ALICE_KEY" "$PSK_PRIO"
	assert_success
	assert_output --partial 'hello over psk'
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv identity "$(last_srv_line)")" '"psk:alice"'
	assert_equal "$(kv version "$(last_srv_line)")" TLS1.3
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "PSK: openssl s_client TLS 1.2 ECDHE-PSK and DHE-PSK, and TLS 1.3 PSK, are served" {
	start_counting_backend --echo
	psk_server
	openssl_psk bob "$BOB_KEY" -tls1_2 -cipher ECDHE-PSK-CHACHA20-POLY1305
	assert_success
	openssl_psk bob "$BOB_KEY" -tls1_2 -cipher DHE-PSK-AES128-GCM-SHA256
	assert_success
	openssl_psk bob "$BOB_KEY" -tls1_3
	assert_success
	wait_conn_line "$SRV_LOG" srv 3
	run conn_lines "$SRV_LOG" srv
	assert_equal "$(grep -c 'identity="psk:bob" version=TLS1.2 ' <<<"$output")" 2
	assert_equal "$(grep -c 'identity="psk:bob" version=TLS1.3 ' <<<"$output")" 1
	assert_equal "$(backend_count "$COUNT")" 3
}

@test "PSK: sheath PSK client -> gnutls-serv --pskpasswd --echo" {
	start_bg gnutls_serv timeout 30 gnutls-serv --echo -p "$SRV_PORT" --pskpasswd "$PSK" --priority "$PSK_PRIO"
	wait_for_port "$SRV_PORT"
	psk_client "$SRV_ADDR" "$PSK" psk_identity=bob
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send $'hello gnutls-serv psk\n' --expect 22 \
		--out "$BATS_TEST_TMPDIR/echo.out" --timeout 10
	assert_success
	assert_output --regexp '^expect recv=22 '
	assert_equal "$(cat "$BATS_TEST_TMPDIR/echo.out")" 'hello gnutls-serv psk'
	wait_conn_line "$CLI_LOG" cli
	assert_equal "$(kv identity "$(conn_lines "$CLI_LOG" cli)")" '"psk:bob"'
}

@test "PSK: wrong key for a known identity is rejected; nothing reaches the backend" {
	start_counting_backend --echo
	psk_server
	local wrong
	wrong=$(printf '%s' "$BOB_KEY" | tr '0-9a-f' '1-9a-f0')
	gnutls_psk bob "$wrong" "$PSK_PRIO"
	assert_failure
	refute_output --partial 'hello over psk'
	assert_srv_rejected 1
	# a sheath client with the wrong key gets nothing either
	printf 'bob:%s\n' "$wrong" >"$BATS_TEST_TMPDIR/wrong.psk"
	psk_client "$SRV_ADDR" "$BATS_TEST_TMPDIR/wrong.psk"
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data 'must not pass' --timeout 10
	assert_equal "$(kv recv "$output")" 0
	assert_srv_rejected 2
	# the right key passes the same instance
	gnutls_psk bob "$BOB_KEY" "$PSK_PRIO"
	assert_success
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "PSK: an identity that is not in psk_file is rejected" {
	start_counting_backend --echo
	psk_server
	gnutls_psk mallory "$ALICE_KEY" "$PSK_PRIO"
	assert_failure
	refute_output --partial 'hello over psk'
	assert_srv_rejected 1
	openssl_psk mallory "$ALICE_KEY" -tls1_2 -cipher ECDHE-PSK-CHACHA20-POLY1305
	assert_failure
	assert_srv_rejected 2
}

@test "PSK: a client offering only plain PSK (no ECDHE/DHE) is refused, TLS 1.3 and TLS 1.2" {
	start_counting_backend --echo
	psk_server
	gnutls_psk alice "$ALICE_KEY" 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+PSK:-ECDHE-PSK:-DHE-PSK'
	assert_failure
	refute_output --partial 'hello over psk'
	assert_srv_rejected 1
	openssl_psk alice "$ALICE_KEY" -tls1_2 -cipher PSK-AES128-GCM-SHA256
	assert_failure
	refute_output --partial 'hello over psk'
	assert_srv_rejected 2
	# control: the same key with ECDHE-PSK passes
	gnutls_psk alice "$ALICE_KEY" "$PSK_PRIO"
	assert_success
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "PSK: a sheath PSK client refuses a server that allows only plain PSK (no forward secrecy)" {
	start_bg gnutls_serv timeout 30 gnutls-serv --echo -p "$SRV_PORT" --pskpasswd "$PSK" \
		--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+PSK:-ECDHE-PSK:-DHE-PSK'
	wait_for_port "$SRV_PORT"
	psk_client "$SRV_ADDR" "$PSK" psk_identity=bob
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send $'plain psk\n' --expect 10 --timeout 10
	assert_success
	refute_output --regexp '^expect '
	assert_output --regexp ' recv=0 '
	wait_conn_line "$CLI_LOG" cli
	assert_equal "$(kv end "$(conn_lines "$CLI_LOG" cli)")" rejected:
}

@test "PSK: key material never appears in the log, even at debug level" {
	start_counting_backend --echo
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" psk_file="$PSK")"
	start_sheath srv -l debug -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
	psk_client "$SRV_ADDR" "$PSK" psk_identity=bob
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data 'secret-free' --timeout 10
	assert_equal "$(kv recv "$output")" 11
	wait_conn_line "$SRV_LOG" srv
	run grep -ciF -e "$ALICE_KEY" -e "$BOB_KEY" "$SRV_LOG" "$CLI_LOG"
	refute_output --regexp ':[1-9]'
}

@test "PSK: -t rejects bad psk_file lines, naming psk_file and the line" {
	local bad=$BATS_TEST_TMPDIR/bad.psk line
	for line in 'alice:zz11' 'no-colon-here' 'bob:' 'alice:abc'; do
		printf 'good:%s\n%s\n' "$ALICE_KEY" "$line" >"$bad"
		write_conf "$BATS_TEST_TMPDIR/bad.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
			connect="$BE_ADDR" psk_file="$bad")"
		run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/bad.conf"
		assert_failure 1
		assert_output --partial psk_file
		assert_output --partial 'line 2'
		refute_output --partial "$ALICE_KEY"
	done
	# and the good file passes -t
	write_conf "$BATS_TEST_TMPDIR/good.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" psk_file="$PSK")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/good.conf"
	assert_success
	assert_output --partial 'configuration ok'
}

@test "PSK: -t rejects a psk_identity that is not in psk_file, and a missing psk_file" {
	write_conf "$BATS_TEST_TMPDIR/c1.conf" "$(svc name=cli mode=client accept="$CLI_ADDR" \
		connect="$SRV_ADDR" psk_file="$PSK" psk_identity=carol)"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/c1.conf"
	assert_failure 1
	assert_output --partial psk_identity
	write_conf "$BATS_TEST_TMPDIR/c2.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" psk_file="$BATS_TEST_TMPDIR/nonexistent.psk")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/c2.conf"
	assert_failure 1
	assert_output --partial psk_file
}

# --- session tickets and the PSK check (SECURITY.md, SA-2026-01) ----------

# save_ticket ADDR: a full PSK handshake as alice at ADDR; her session
# ticket goes to $TICKET (tests/progs/psk-resume).
save_ticket() {
	TICKET=$BATS_TEST_TMPDIR/ticket
	run "$PROGS_DIR/psk-resume" save alice "$ALICE_KEY" "${1%:*}" "${1##*:}" "$TICKET"
	assert_success
	assert_equal "$(kv first "$output")" ok
}

# offer_ticket ADDR: offer only $TICKET (no PSK identity, no certificate).
offer_ticket() {
	run "$PROGS_DIR/psk-resume" offer "$TICKET" "${1%:*}" "${1##*:}"
	assert_success
}

# ticket_services FILE SECOND...: srv (PSK, alice and bob) and the SECOND
# service, sharing one ticket_key_file, in one process.
ticket_services() {
	local tk=$BATS_TEST_TMPDIR/tickets.key
	head -c 64 /dev/urandom >"$tk"
	chmod 600 "$tk"
	start_counting_backend --echo
	write_conf "$SRV_CONF" \
		"$(svc name=srv mode=server accept="$SRV_ADDR" connect="$BE_ADDR" psk_file="$PSK" ticket_key_file="$tk")" \
		"$(svc "$@" mode=server accept="$B_ADDR" connect="$BE_ADDR" ticket_key_file="$tk")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
}

# assert_ticket_refused SERVICE: the offer got no echo, SERVICE logged a
# connection that did not end well, and the backend saw only the first.
assert_ticket_refused() {
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$SRV_LOG" "$1" 1
	[[ $(conn_lines "$SRV_LOG" "$1") != *"end=closed"* ]] || fail "$1 accepted the ticket: $(conn_lines "$SRV_LOG" "$1")"
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "PSK ticket: a certificate-only service sharing ticket_key_file refuses a PSK service's ticket" {
	B_ADDR=127.0.0.1:$(free_port)
	ticket_services name=certonly cert="$CERTS/server.crt" key="$CERTS/server.key" ca="$CERTS/ca.crt"
	save_ticket "$SRV_ADDR"
	offer_ticket "$B_ADDR"
	assert_ticket_refused certonly
	[[ $(conn_lines "$SRV_LOG" certonly) != *"resumed=yes"* ]] || fail "certonly resumed srv's ticket"
}

@test "PSK ticket: a PSK service whose psk_file never held the identity refuses a ticket made for it elsewhere" {
	local bobonly=$BATS_TEST_TMPDIR/bob.txt
	grep '^bob:' "$PSK" >"$bobonly"
	chmod 600 "$bobonly"
	B_ADDR=127.0.0.1:$(free_port)
	ticket_services name=bobs psk_file="$bobonly"
	save_ticket "$SRV_ADDR"
	offer_ticket "$B_ADDR"
	assert_ticket_refused bobs
}

@test "PSK ticket: an identity removed from psk_file (SIGHUP) can no longer resume" {
	local tk=$BATS_TEST_TMPDIR/tickets.key
	head -c 64 /dev/urandom >"$tk"
	chmod 600 "$tk"
	start_counting_backend --echo
	psk_server ticket_key_file="$tk"
	save_ticket "$SRV_ADDR"
	# while alice is in the file, her ticket resumes
	offer_ticket "$SRV_ADDR"
	assert_equal "$(kv resumed "$output")" yes
	assert_equal "$(kv recv "$output")" 5
	assert_equal "$(backend_count "$COUNT")" 2
	# alice leaves the file; the ticket key stays the same
	grep -v '^alice:' "$PSK" >"$PSK.new"
	chmod 600 "$PSK.new"
	mv "$PSK.new" "$PSK"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$SRV_LOG" 'configuration reloaded'
	offer_ticket "$SRV_ADDR"
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$SRV_LOG" srv 3
	assert_equal "$(kv end "$(last_srv_line)")" rejected:
	[[ $(last_srv_line) == *'end=rejected: unknown PSK identity'* ]] || fail "not rejected for the identity: $(last_srv_line)"
	# and the client was told so
	assert_equal "$(kv alert "$output")" access_was_denied
	assert_equal "$(backend_count "$COUNT")" 2
}
