#!/usr/bin/env bats
# OCSP stapling (ocsp_response on server and bridge services; OCSP status
# checked by sheath clients) and private keys held in a PKCS#11 token
# (SoftHSM2 through p11-kit), with PINs that are never printed.
#
# OCSP responses are made with `openssl ocsp` acting as the responder (the
# CA signs them itself); a stale one (nextUpdate in the past) with
# tools/ocsp-response.py (python cryptography) or, failing that, openssl
# under faketime.

load 'helpers/common'

setup() {
	common_setup
	pair_setup
	UP_PORT=$(free_port)
	UP_ADDR=127.0.0.1:$UP_PORT
	OCSP=$BATS_TEST_TMPDIR/ocsp
}

# --- OCSP -----------------------------------------------------------------------

# ocsp_make STATUS OUT [DAYS]: a DER OCSP response for server.crt signed by
# CA1 (or by $OCSP_SIGNER.crt/.key), STATUS good or revoked, valid for DAYS
# (default 7) from now.
ocsp_make() {
	local status=$1 out=$2 days=${3:-7} serial subj
	mkdir -p "$OCSP"
	serial=$(openssl x509 -in "$CERTS/server.crt" -noout -serial | cut -d= -f2)
	subj=$(openssl x509 -in "$CERTS/server.crt" -noout -subject -nameopt compat | sed 's/^subject=//')
	if [[ $status == good ]]; then
		printf 'V\t351231235959Z\t\t%s\tunknown\t%s\n' "$serial" "$subj" >"$OCSP/index.txt"
	else
		printf 'R\t351231235959Z\t240101000000Z,keyCompromise\t%s\tunknown\t%s\n' \
			"$serial" "$subj" >"$OCSP/index.txt"
	fi
	openssl ocsp -issuer "$CERTS/ca.crt" -cert "$CERTS/server.crt" -no_nonce \
		-reqout "$OCSP/req.der" >/dev/null 2>&1 || fail "openssl ocsp: request"
	openssl ocsp -index "$OCSP/index.txt" -rsigner "${OCSP_SIGNER:-$CERTS/ca}.crt" \
		-rkey "${OCSP_SIGNER:-$CERTS/ca}.key" -CA "$CERTS/ca.crt" -reqin "$OCSP/req.der" \
		-respout "$out" -ndays "$days" >/dev/null 2>&1 ||
		fail "openssl ocsp: response"
	openssl ocsp -respin "$out" -resp_text -noverify 2>/dev/null | grep -q "Cert Status: $status" ||
		fail "response in $out does not say $status"
}

# next_update DER: the "Next Update" of a response as openssl prints it.
next_update() {
	openssl ocsp -respin "$1" -resp_text -noverify 2>/dev/null | sed -n 's/^ *Next Update: //p'
}

# s_client_status ADDR: openssl s_client -status with client1's certificate;
# prints what it printed.
s_client_status() {
	openssl s_client -status -connect "$1" -servername localhost -CAfile "$CERTS/ca.crt" \
		-cert "$CERTS/client.crt" -key "$CERTS/client.key" </dev/null 2>&1 || true
}

@test "OCSP: a server staples ocsp_response; s_client -status sees a successful response with status good" {
	ocsp_make good "$OCSP/good.der"
	start_counting_backend --echo
	start_srv ocsp_response="$OCSP/good.der"
	run s_client_status "$SRV_ADDR"
	assert_output --partial 'OCSP Response Status: successful'
	assert_output --partial 'Cert Status: good'
	assert_output --partial "Next Update: $(next_update "$OCSP/good.der")"
	refute_output --partial 'no response sent'
}

@test "OCSP: without ocsp_response nothing is stapled (control)" {
	start_counting_backend --echo
	start_srv
	run s_client_status "$SRV_ADDR"
	assert_output --partial 'OCSP response: no response sent'
}

@test "OCSP: a bridge staples its ocsp_response too" {
	ocsp_make good "$OCSP/good.der"
	start_bg upstream "$PY" "$TOOLS/tls-peer.py" server --listen "$UP_ADDR" \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" --require-cert \
		--echo --lifetime 60
	wait_for_port "$UP_PORT"
	write_conf "$BATS_TEST_TMPDIR/br.conf" "$(svc name=br mode=bridge accept="$SRV_ADDR" \
		connect="$UP_ADDR" cert="$CERTS/server.crt" key="$CERTS/server.key" ca="$CERTS/ca.crt" \
		ocsp_response="$OCSP/good.der" \
		upstream="$(svc cert="$CERTS/client2.crt" key="$CERTS/client2.key" ca="$CERTS/ca.crt" verify_name=localhost)")"
	start_sheath br -c "$BATS_TEST_TMPDIR/br.conf"
	wait_sheath_ready br
	run s_client_status "$SRV_ADDR"
	assert_output --partial 'OCSP Response Status: successful'
	assert_output --partial 'Cert Status: good'
}

@test "OCSP: SIGHUP re-reads the ocsp_response file" {
	ocsp_make good "$OCSP/a.der" 7
	ocsp_make good "$OCSP/b.der" 30
	local a b
	a=$(next_update "$OCSP/a.der")
	b=$(next_update "$OCSP/b.der")
	[[ -n $a && $a != "$b" ]] || fail "test responses are not distinguishable: '$a' '$b'"
	cp "$OCSP/a.der" "$OCSP/staple.der"
	start_counting_backend --echo
	start_srv ocsp_response="$OCSP/staple.der"
	run s_client_status "$SRV_ADDR"
	assert_output --partial "Next Update: $a"
	cp "$OCSP/b.der" "$OCSP/staple.der.new"
	mv -f "$OCSP/staple.der.new" "$OCSP/staple.der"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$SRV_LOG" 'configuration reloaded'
	run s_client_status "$SRV_ADDR"
	assert_output --partial 'Cert Status: good'
	assert_output --partial "Next Update: $b"
}

@test "OCSP: a stale response (nextUpdate in the past) draws a warning at start, is not stapled; sheath still serves" {
	mkdir -p "$OCSP"
	local rc=0
	# re-encoded by openssl: python cryptography refuses some certtool EC keys
	openssl pkey -in "$CERTS/ca.key" -out "$OCSP/ca-key.pem" || fail "openssl pkey"
	"$PY" "$TOOLS/ocsp-response.py" --cert "$CERTS/server.crt" --issuer "$CERTS/ca.crt" \
		--issuer-key "$OCSP/ca-key.pem" --out "$OCSP/stale.der" \
		--this-update-hours -48 --next-update-hours -24 2>"$OCSP/err" || rc=$?
	if ((rc == 3)); then
		command -v faketime >/dev/null ||
			skip "needs python3-cryptography or faketime to make a stale OCSP response"
		ocsp_make good "$OCSP/fresh.der" 1 # for the index and request
		faketime -f '-2d' openssl ocsp -index "$OCSP/index.txt" -rsigner "$CERTS/ca.crt" \
			-rkey "$CERTS/ca.key" -CA "$CERTS/ca.crt" -reqin "$OCSP/req.der" \
			-respout "$OCSP/stale.der" -ndays 1 >/dev/null 2>&1 || fail "faketime openssl ocsp"
	elif ((rc != 0)); then
		fail "ocsp-response.py failed ($rc): $(cat "$OCSP/err")"
	fi
	start_counting_backend --echo
	start_srv ocsp_response="$OCSP/stale.der"
	grep -E 'warning: .*stale' "$SRV_LOG" | grep -qF "$OCSP/stale.der" ||
		fail "no warning naming the stale response: $(cat "$SRV_LOG")"
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --data hello --expect 5 --timeout 10
	assert_success
	assert_equal "$(kv recv "$output")" 5
	# sheath.conf(5): a stale response is not stapled
	run s_client_status "$SRV_ADDR"
	assert_output --partial 'OCSP response: no response sent'
	# a fresh response and SIGHUP: stapled again
	ocsp_make good "$OCSP/fresh.der"
	cp "$OCSP/fresh.der" "$OCSP/stale.der"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$SRV_LOG" 'configuration reloaded'
	run s_client_status "$SRV_ADDR"
	assert_output --partial 'Cert Status: good'
}

# start_s_server_status DER: openssl s_server stapling DER, requiring a
# client certificate, reversing lines, for one connection.
start_s_server_status() {
	start_bg s_server openssl s_server -accept "$UP_ADDR" -cert "$CERTS/server.crt" \
		-key "$CERTS/server.key" -CAfile "$CERTS/ca.crt" -Verify 1 -rev -naccept 1 -status_file "$1"
	wait_for_port "$UP_PORT"
}

@test "OCSP: a sheath client rejects a server stapling a revoked status; nothing is sent" {
	ocsp_make revoked "$OCSP/revoked.der"
	start_s_server_status "$OCSP/revoked.der"
	start_cli_to "$UP_ADDR"
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send $'must not pass\n' --expect 14 --timeout 10
	assert_success
	assert_output --regexp ' recv=0 '
	wait_conn_line "$CLI_LOG" cli
	local l
	l=$(conn_lines "$CLI_LOG" cli)
	assert_equal "$(kv end "$l")" rejected:
	[[ $l == *revoked* ]] || fail "rejection does not say revoked: $l"
	assert_equal "$(kv bytes_in "$l")" 0
	assert_equal "$(kv bytes_out "$l")" 0
}

# make_responder: a delegated OCSP responder certificate issued by CA1 (EKU
# OCSPSigning) in $OCSP/responder.crt/.key; sets OCSP_SIGNER.
make_responder() {
	mkdir -p "$OCSP"
	certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
		--outfile "$OCSP/responder.key" >/dev/null 2>&1 || fail "certtool key"
	printf '%s\n' 'cn = "sheath test OCSP responder"' 'serial = 701' 'expiration_days = 30' \
		'signing_key' 'ocsp_signing_key' >"$OCSP/responder.tmpl"
	certtool --generate-certificate --load-privkey "$OCSP/responder.key" \
		--load-ca-certificate "$CERTS/ca.crt" --load-ca-privkey "$CERTS/ca.key" \
		--template "$OCSP/responder.tmpl" --outfile "$OCSP/responder.crt" >/dev/null 2>&1 ||
		fail "certtool responder certificate"
	OCSP_SIGNER=$OCSP/responder
}

@test "OCSP: a revoked status signed by a delegated responder is rejected too" {
	make_responder
	ocsp_make revoked "$OCSP/revoked.der"
	openssl ocsp -respin "$OCSP/revoked.der" -resp_text -noverify 2>/dev/null |
		grep -q 'Responder Id: CN = sheath test OCSP responder' || fail "not signed by the responder"
	start_s_server_status "$OCSP/revoked.der"
	start_cli_to "$UP_ADDR"
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send $'must not pass\n' --expect 14 --timeout 10
	assert_success
	assert_output --regexp ' recv=0 '
	wait_conn_line "$CLI_LOG" cli
	assert_equal "$(kv end "$(conn_lines "$CLI_LOG" cli)")" rejected:
	[[ $(conn_lines "$CLI_LOG" cli) == *revoked* ]] || fail "not rejected as revoked: $(conn_lines "$CLI_LOG" cli)"
}

@test "OCSP: a sheath client accepts a server stapling a good status" {
	ocsp_make good "$OCSP/good.der"
	start_s_server_status "$OCSP/good.der"
	start_cli_to "$UP_ADDR"
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send $'stapled ok\n' --expect 11 \
		--out "$BATS_TEST_TMPDIR/rev.out" --timeout 10
	assert_success
	assert_output --regexp '^expect recv=11 '
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rev.out")" 'ko delpats'
}

@test "OCSP: a sheath pair where the server staples a good status passes" {
	ocsp_make good "$OCSP/good.der"
	start_counting_backend --echo
	start_srv ocsp_response="$OCSP/good.der"
	start_cli_to "$SRV_ADDR"
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 100000 --seed 31 --timeout 10
	assert_success
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	assert_equal "$(kv recv "$output")" 100000
}

@test "OCSP: -t rejects an unreadable or non-OCSP ocsp_response, and ocsp_response in client mode" {
	write_conf "$BATS_TEST_TMPDIR/t1.conf" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR" ocsp_response="$BATS_TEST_TMPDIR/missing.der")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/t1.conf"
	assert_failure 1
	assert_output --partial ocsp_response
	head -c 300 /dev/urandom >"$BATS_TEST_TMPDIR/junk.der"
	write_conf "$BATS_TEST_TMPDIR/t2.conf" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR" ocsp_response="$BATS_TEST_TMPDIR/junk.der")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/t2.conf"
	assert_failure 1
	assert_output --partial ocsp_response
	ocsp_make good "$OCSP/good.der"
	write_conf "$BATS_TEST_TMPDIR/t3.conf" \
		"$(client_svc cli "$CLI_ADDR" "$SRV_ADDR" ocsp_response="$OCSP/good.der")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/t3.conf"
	assert_failure 1
	assert_output --partial ocsp_response
}

# --- PKCS#11 (SoftHSM2) ---------------------------------------------------------------

HSM_PIN=1234
HSM_SO_PIN=5678
TOKEN=sheath-test

# make_token: a SoftHSM2 token in the test directory holding ECDSA P-256
# keys "srvkey" and "clikey", and hsm-server.crt / hsm-client.crt issued by
# CA1 for them. Exports SOFTHSM2_CONF (sheath inherits it).
make_token() {
	command -v softhsm2-util >/dev/null || skip "softhsm2 not installed"
	command -v p11tool >/dev/null || skip "p11tool (gnutls-bin) not installed"
	[[ -f /usr/share/p11-kit/modules/softhsm2.module ]] || skip "softhsm2 p11-kit module not registered"
	HSM=$BATS_TEST_TMPDIR/hsm
	mkdir -p "$HSM/tokens"
	printf '%s\n' "directories.tokendir = $HSM/tokens" 'objectstore.backend = file' \
		'log.level = ERROR' 'slots.removable = false' >"$HSM/softhsm2.conf"
	export SOFTHSM2_CONF=$HSM/softhsm2.conf
	softhsm2-util --init-token --free --label "$TOKEN" --pin "$HSM_PIN" --so-pin "$HSM_SO_PIN" \
		>/dev/null || fail "softhsm2-util --init-token failed"
	local k
	for k in srvkey clikey; do
		GNUTLS_PIN=$HSM_PIN p11tool --login --generate-privkey ecdsa --curve secp256r1 \
			--label "$k" "pkcs11:token=$TOKEN" >/dev/null 2>&1 || fail "p11tool --generate-privkey $k failed"
	done
	printf '%s\n' 'cn = "hsm-server"' 'serial = 601' 'expiration_days = 30' \
		'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'tls_www_server' 'signing_key' \
		>"$HSM/server.tmpl"
	printf '%s\n' 'cn = "hsm-client"' 'serial = 602' 'expiration_days = 30' \
		'tls_www_client' 'signing_key' >"$HSM/client.tmpl"
	local which
	for which in server:srvkey client:clikey; do
		GNUTLS_PIN=$HSM_PIN certtool --generate-certificate \
			--load-privkey "pkcs11:token=$TOKEN;object=${which#*:};type=private" \
			--load-pubkey "pkcs11:token=$TOKEN;object=${which#*:};type=public" \
			--load-ca-certificate "$CERTS/ca.crt" --load-ca-privkey "$CERTS/ca.key" \
			--template "$HSM/${which%:*}.tmpl" --outfile "$HSM/hsm-${which%:*}.crt" >/dev/null 2>&1 ||
			fail "certtool could not issue a certificate for ${which#*:}"
	done
	unset GNUTLS_PIN
	SRV_URI="pkcs11:token=$TOKEN;object=srvkey;type=private"
	CLI_URI="pkcs11:token=$TOKEN;object=clikey;type=private"
}

@test "PKCS#11: a server key inside SoftHSM2 (pin-value) serves a sheath pair byte-exact" {
	make_token
	start_counting_backend --echo
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" cert="$HSM/hsm-server.crt" key="$SRV_URI;pin-value=$HSM_PIN" ca="$CERTS/ca.crt")"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
	start_cli_to "$SRV_ADDR"
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 1M --seed 61 --timeout 30
	assert_success
	assert_equal "$(kv recv "$output")" $((1 << 20))
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv sha256 "$(cat "$REC/conn-1")")" "$(kv sent_sha256 "$output")"
	wait_conn_line "$CLI_LOG" cli
	assert_equal "$(kv identity "$(conn_lines "$CLI_LOG" cli)")" '"CN=hsm-server"'
	# the key never existed as a file, and the PIN is in no log
	run grep -rl 'PRIVATE KEY' "$HSM"
	assert_output ''
	run grep -c "pin-value=$HSM_PIN" "$SRV_LOG"
	assert_output 0
}

@test "PKCS#11: pin-source=file: reads the PIN from the first line of a file" {
	make_token
	start_counting_backend --echo
	printf '%s\nnot-the-pin\n' "$HSM_PIN" >"$HSM/pin.txt"
	chmod 600 "$HSM/pin.txt"
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" cert="$HSM/hsm-server.crt" key="$SRV_URI;pin-source=file:$HSM/pin.txt" \
		ca="$CERTS/ca.crt")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/srv.conf"
	assert_success
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
	start_cli_to "$SRV_ADDR"
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data 'pin from file' --timeout 10
	assert_success
	assert_equal "$(kv recv "$output")" 13
}

@test "PKCS#11: a client key inside SoftHSM2 authenticates a sheath client to a server" {
	make_token
	start_counting_backend --echo
	start_srv allow_cn=hsm-client
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$(svc name=cli mode=client accept="$CLI_ADDR" \
		connect="$SRV_ADDR" cert="$HSM/hsm-client.crt" key="$CLI_URI;pin-value=$HSM_PIN" \
		ca="$CERTS/ca.crt" verify_name=localhost)"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready cli
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data 'client key in token' --timeout 10
	assert_success
	assert_equal "$(kv recv "$output")" 19
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv identity "$(conn_lines "$SRV_LOG" srv)")" '"CN=hsm-client"'
}

@test "PKCS#11: a wrong pin-value fails -t and start-up with exit 1; the PIN is shown as ***" {
	make_token
	local wrong=97531
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" cert="$HSM/hsm-server.crt" key="$SRV_URI;pin-value=$wrong" ca="$CERTS/ca.crt")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/srv.conf"
	assert_failure 1
	assert_output --partial 'pin-value=***'
	refute_output --partial "$wrong"
	assert_output --partial key
	run timeout 10 "$SHEATH" -f -c "$BATS_TEST_TMPDIR/srv.conf"
	assert_failure 1
	refute_output --partial "$wrong"
	refute_output --regexp 'listening on'
	# the right PIN passes -t, and -t output does not show it either
	write_conf "$BATS_TEST_TMPDIR/ok.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" cert="$HSM/hsm-server.crt" key="$SRV_URI;pin-value=$HSM_PIN" ca="$CERTS/ca.crt")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/ok.conf"
	assert_success
	refute_output --partial "pin-value=$HSM_PIN"
}

@test "PKCS#11: a wrong PIN in pin-source file fails -t with exit 1, without printing it" {
	make_token
	echo 86420 >"$HSM/badpin.txt"
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" cert="$HSM/hsm-server.crt" key="$SRV_URI;pin-source=file:$HSM/badpin.txt" \
		ca="$CERTS/ca.crt")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/srv.conf"
	assert_failure 1
	assert_output --partial key
	refute_output --partial 86420
}

@test "PKCS#11: a key object that is not in the token fails -t with exit 1" {
	make_token
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(svc name=srv mode=server accept="$SRV_ADDR" \
		connect="$BE_ADDR" cert="$HSM/hsm-server.crt" \
		key="pkcs11:token=$TOKEN;object=nosuchkey;type=private;pin-value=$HSM_PIN" ca="$CERTS/ca.crt")"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/srv.conf"
	assert_failure 1
	assert_output --partial key
	refute_output --partial "pin-value=$HSM_PIN"
}
