#!/usr/bin/env bats
# PROXY protocol both ways, and the JA4 fingerprint of the ClientHello.
#
#   proxy_protocol = "v1"|"v2": sheath writes a header before anything else on
#     the connect side; tools/proxy-backend.py parses it strictly
#     (tools/proxyproto.py) and records addresses, TLVs and the payload.
#   accept_proxy = true: tools/proxy-client.py sends v1/v2 headers (or broken
#     ones) before its TLS handshake.
#   HAProxy in front of and behind sheath (skipped without haproxy).
#   JA4: tools/ja4.py captures the ClientHello of a client whose hello is the
#     same from run to run, computes JA4 on its own, and the value sheath logs
#     (and sends in TLV 0xE4) must be the same.

load 'helpers/common'

setup() {
	common_setup
	pair_setup
	CAP_PORT=$(free_port)
	HAP_PORT=$(free_port)
	CAP_ADDR=127.0.0.1:$CAP_PORT
	HAP_ADDR=127.0.0.1:$HAP_PORT
	SNI=svc.sheath.test
}

# start_proxy_backend: echoing PROXY-parsing backend on $BE_ADDR.
start_proxy_backend() {
	start_bg backend "$PY" "$TOOLS/proxy-backend.py" --listen "$BE_ADDR" --echo \
		--count-file "$COUNT" --record-dir "$REC" --lifetime 60
	wait_for_port "$BE_PORT"
}

# pclient ARGS...: proxy-client.py as a TLS client with client1's certificate
# (no assertion on its result).
pclient() {
	run "$PY" "$TOOLS/proxy-client.py" --tls --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --timeout 10 "$@"
}

# record N: the backend's record of connection N (waits for it).
record() {
	wait_for_file "$REC/conn-$1"
	cat "$REC/conn-$1"
}

# assert_kv TEXT KEY VALUE
assert_kv() {
	local got
	got=$(kv "$2" "$1") || fail "no $2= in: $1"
	[[ $got == "$3" ]] || fail "$2 is '$got', expected '$3' in: $1"
}

# last_conn_line: the last per-connection line of srv.
last_conn_line() {
	conn_lines "$SRV_LOG" srv | tail -n 1
}

# capture_ja4 CMD...: start a ClientHello capture on $CAP_ADDR, run CMD
# (which must connect to $CAP_ADDR; its failure is expected), print the JA4
# that tools/ja4.py computes from the captured bytes.
capture_ja4() {
	local out=$BATS_TEST_TMPDIR/hello.$RANDOM.bin
	start_bg capture "$PY" "$TOOLS/ja4.py" capture --listen "$CAP_ADDR" --out "$out" --timeout 10
	wait_for_port "$CAP_PORT"
	"$@" </dev/null >/dev/null 2>&1 || true
	wait_exit capture 10
	[[ -s $out ]] || fail "no ClientHello captured"
	"$PY" "$TOOLS/ja4.py" compute "$out" | head -n 1
}

# hexof: stdin as one line of hex digits (for --header hex:...).
hexof() {
	od -An -v -tx1 | tr -d ' \n'
}

# expect_rejected_header N: the client's handshake failed, srv's Nth
# connection line is the PROXY rejection.
expect_rejected_header() {
	assert_equal "$(kv handshake "$output")" fail
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$SRV_LOG" srv "$1"
	last_conn_line | grep -qF 'end=rejected: invalid PROXY protocol header' ||
		fail "not rejected for the header: $(last_conn_line)"
}

# expect_no_backend: a moment later the backend still has seen nothing.
expect_no_backend() {
	sleep 0.3
	assert_equal "$(backend_count "$COUNT")" 0
}

# --- the JA4 calculator itself ------------------------------------------------

@test "ja4.py self-check: published vector t13d1516h2_8daaf6152771_d8a2da3f94cd" {
	run "$PY" "$TOOLS/ja4.py" selftest
	assert_success
	assert_output 'selftest ok'
}

# --- proxy_protocol (sending) ---------------------------------------------------

@test "proxy_protocol v2: addresses, ALPN, authority, SSL TLVs and JA4 match the TLS client; payload byte-exact" {
	start_proxy_backend
	start_srv alpn='[ "h2", "http/1.1" ]' proxy_protocol=v2
	local client_args=(--sni "$SNI" --alpn http/1.1 --size 100000 --seed 5)
	local ja4
	ja4=$(capture_ja4 "$PY" "$TOOLS/proxy-client.py" --tls --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --timeout 3 \
		--connect "$CAP_ADDR" "${client_args[@]}")
	[[ $ja4 =~ ^t13d[0-9]{4}h1_[0-9a-f]{12}_[0-9a-f]{12}$ ]] || fail "unexpected JA4 '$ja4'"

	pclient --connect "$SRV_ADDR" "${client_args[@]}"
	assert_success
	local c=$output
	assert_kv "$c" handshake ok
	assert_kv "$c" alpn http/1.1
	assert_kv "$c" recv 100000
	assert_kv "$c" recv_sha256 "$(kv sent_sha256 "$c")"

	local r
	r=$(record 1)
	assert_kv "$r" header ok
	assert_kv "$r" version 2
	assert_kv "$r" command PROXY
	assert_kv "$r" family TCP4
	assert_kv "$r" src "$(kv local "$c")"
	assert_kv "$r" dst "$SRV_ADDR"
	assert_kv "$r" alpn http/1.1
	assert_kv "$r" authority "$SNI"
	assert_kv "$r" ssl_verify 0
	assert_kv "$r" ssl_version TLSv1.3
	assert_kv "$r" ssl_cn client1
	assert_kv "$r" ssl_cipher "$(kv cipher "$c")"
	assert_kv "$r" ssl_sig_alg ECDSA-SHA256
	assert_kv "$r" ssl_key_alg EC256
	assert_kv "$r" ja4 "$ja4"
	# the client byte has PP2_CLIENT_SSL and PP2_CLIENT_CERT_CONN at least
	local cb=$(($(kv ssl_client "$r")))
	(((cb & 0x03) == 0x03)) || fail "SSL TLV client byte $(kv ssl_client "$r") lacks SSL|CERT_CONN"
	# payload after the header: exactly what the client sent
	assert_kv "$r" received 100000
	assert_kv "$r" sha256 "$(kv sent_sha256 "$c")"
	assert_kv "$r" end eof

	wait_conn_line "$SRV_LOG" srv
	local l
	l=$(last_conn_line)
	assert_kv "$l" ja4 "$ja4"
	assert_kv "$l" alpn http/1.1
	assert_kv "$l" peer "$(kv local "$c")"
}

@test "proxy_protocol v2: SSL TLV client bits are CERT_CONN|CERT_SESS (0x07) on a full handshake, CERT_SESS (0x05) on resumption" {
	# proxy-protocol.txt: PP2_CLIENT_CERT_CONN = a certificate was presented
	# on this connection; PP2_CLIENT_CERT_SESS = at least once in the TLS
	# session this connection belongs to (HAProxy: 0x07 then 0x05).
	start_proxy_backend
	start_srv proxy_protocol=v2
	pclient --connect "$SRV_ADDR" --sni "$SNI" --data hello --connections 2
	assert_success
	assert_equal "$(echo "$output" | sed -n 2p | grep -o 'resumed=[a-z]*')" resumed=yes
	local r1 r2
	r1=$(record 1)
	r2=$(record 2)
	assert_kv "$r1" ssl_cn client1
	assert_kv "$r2" ssl_cn client1
	assert_kv "$r1" ssl_client 0x07
	assert_kv "$r2" ssl_client 0x05
}

@test "proxy_protocol v2 on a resumed session still carries sheath's signature and key algorithm" {
	start_proxy_backend
	start_srv proxy_protocol=v2
	pclient --connect "$SRV_ADDR" --sni "$SNI" --data hello --connections 2
	assert_success
	assert_equal "$(echo "$output" | sed -n 2p | grep -o 'resumed=[a-z]*')" resumed=yes
	local r2
	r2=$(record 2)
	assert_kv "$r2" ssl_version TLSv1.3
	assert_kv "$r2" ssl_sig_alg ECDSA-SHA256
	assert_kv "$r2" ssl_key_alg EC256
}

@test "proxy_protocol v2 without client certificate and ALPN: no CN, no ALPN TLV, client byte 0x01" {
	start_proxy_backend
	start_srv proxy_protocol=v2 verify=optional
	run "$PY" "$TOOLS/proxy-client.py" --tls --ca "$CERTS/ca.crt" --connect "$SRV_ADDR" \
		--sni "$SNI" --data 'no cert here' --timeout 10
	assert_success
	assert_kv "$output" recv 12
	local r
	r=$(record 1)
	assert_kv "$r" header ok
	assert_kv "$r" src "$(kv local "$output")"
	assert_kv "$r" authority "$SNI"
	assert_kv "$r" alpn -
	[[ ,$(kv tlvs "$r"), != *,01,* ]] || fail "ALPN TLV sent although none was negotiated: $r"
	assert_kv "$r" ssl_client 0x01
	assert_kv "$r" ssl_cn -
	assert_kv "$r" ssl_version TLSv1.3
}

@test "proxy_protocol v2 with a TLS 1.2 client names TLSv1.2" {
	start_proxy_backend
	start_srv proxy_protocol=v2
	pclient --connect "$SRV_ADDR" --tls12 --sni "$SNI" --data hello12
	assert_success
	assert_kv "$output" version TLSv1.2
	local r
	r=$(record 1)
	assert_kv "$r" ssl_version TLSv1.2
	assert_kv "$r" ssl_cn client1
	[[ $(kv ssl_cipher "$r") != - ]] || fail "no cipher sub-TLV: $r"
	assert_kv "$r" received 7
}

@test "proxy_protocol v1: TCP4 line with the TLS client's address, then the payload byte-exact" {
	start_proxy_backend
	start_srv proxy_protocol=v1
	pclient --connect "$SRV_ADDR" --sni "$SNI" --size 200000 --seed 7
	assert_success
	local c=$output r
	assert_kv "$c" recv_sha256 "$(kv sent_sha256 "$c")"
	r=$(record 1)
	assert_kv "$r" header ok
	assert_kv "$r" version 1
	assert_kv "$r" family TCP4
	assert_kv "$r" src "$(kv local "$c")"
	assert_kv "$r" dst "$SRV_ADDR"
	assert_kv "$r" received 200000
	assert_kv "$r" sha256 "$(kv sent_sha256 "$c")"
}

@test "proxy_protocol: a rejected TLS client causes no backend connection and no header" {
	start_proxy_backend
	start_srv proxy_protocol=v2
	run "$PY" "$TOOLS/proxy-client.py" --tls --ca "$CERTS/ca.crt" --connect "$SRV_ADDR" \
		--sni "$SNI" --data 'no cert' --timeout 10
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv end "$(last_conn_line)")" rejected:
	sleep 0.3
	assert_equal "$(backend_count "$COUNT")" 0
}

# --- accept_proxy -----------------------------------------------------------------

@test "accept_proxy: v1 header before TLS; its source is the logged peer and the forwarded v2 source" {
	start_proxy_backend
	start_srv accept_proxy=true proxy_protocol=v2
	pclient --connect "$SRV_ADDR" --header v1 --src 203.0.113.7:4242 --dst 198.51.100.1:443 \
		--sni "$SNI" --size 50000 --seed 8
	assert_success
	local c=$output r
	assert_kv "$c" handshake ok
	assert_kv "$c" recv_sha256 "$(kv sent_sha256 "$c")"
	wait_conn_line "$SRV_LOG" srv
	assert_kv "$(last_conn_line)" peer 203.0.113.7:4242
	assert_kv "$(last_conn_line)" identity '"CN=client1,OU=app"'
	r=$(record 1)
	assert_kv "$r" header ok
	assert_kv "$r" src 203.0.113.7:4242
	assert_kv "$r" ssl_cn client1
	assert_kv "$r" sha256 "$(kv sent_sha256 "$c")"
}

@test "accept_proxy: v2 header with an IPv6 source; forwarded as v1" {
	start_proxy_backend
	start_srv accept_proxy=true proxy_protocol=v1
	pclient --connect "$SRV_ADDR" --header v2 --src '[2001:db8::5]:5555' --dst '[2001:db8::1]:443' \
		--sni "$SNI" --data 'over v2'
	assert_success
	assert_kv "$output" recv 7
	wait_conn_line "$SRV_LOG" srv
	assert_kv "$(last_conn_line)" peer '[2001:db8::5]:5555'
	local r
	r=$(record 1)
	assert_kv "$r" header ok
	assert_kv "$r" version 1
	assert_kv "$r" src '[2001:db8::5]:5555'
}

@test "accept_proxy: a header split over two TCP segments is still read" {
	start_counting_backend --echo
	start_srv accept_proxy=true
	pclient --connect "$SRV_ADDR" --header v2 --src 192.0.2.33:3333 --split 0.3 --sni "$SNI" --data split
	assert_success
	assert_kv "$output" recv 5
	pclient --connect "$SRV_ADDR" --header v1 --src 192.0.2.34:3434 --split 0.3 --sni "$SNI" --data split
	assert_success
	assert_kv "$output" recv 5
	wait_conn_line "$SRV_LOG" srv 2
	conn_lines "$SRV_LOG" srv | grep -q 'peer=192.0.2.33:3333 ' || fail "v2 peer not logged"
	conn_lines "$SRV_LOG" srv | grep -q 'peer=192.0.2.34:3434 ' || fail "v1 peer not logged"
}

@test "accept_proxy: a v2 header carrying TLVs (NOOP, AUTHORITY, UNIQUE_ID, CRC32C) is accepted" {
	start_counting_backend --echo
	start_srv accept_proxy=true
	pclient --connect "$SRV_ADDR" --header v2 --tlvs --src 192.0.2.44:4444 --sni "$SNI" --data tlvs
	assert_success
	assert_kv "$output" handshake ok
	assert_kv "$output" recv 4
	wait_conn_line "$SRV_LOG" srv
	assert_kv "$(last_conn_line)" peer 192.0.2.44:4444
}

@test "accept_proxy in client mode: header and payload in one segment, payload forwarded byte-exact" {
	start_counting_backend --echo
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$(client_svc cli "$CLI_ADDR" "$SRV_ADDR" accept_proxy=true)"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready srv
	wait_sheath_ready cli
	local h
	for h in v1 v2; do
		run "$PY" "$TOOLS/proxy-client.py" --connect "$CLI_ADDR" --header "$h" --coalesce \
			--src 198.51.100.77:7777 --size 70000 --seed 12 --timeout 10
		assert_success
		assert_kv "$output" recv 70000
		assert_kv "$output" recv_sha256 "$(kv sent_sha256 "$output")"
	done
	local r
	for r in 1 2; do
		wait_for_file "$REC/conn-$r"
		assert_kv "$(cat "$REC/conn-$r")" sha256 "$(kv sent_sha256 "$output")"
	done
	wait_conn_line "$CLI_LOG" cli 2
	assert_equal "$(conn_lines "$CLI_LOG" cli | grep -c 'peer=198.51.100.77:7777 ')" 2
}

@test "accept_proxy: LOCAL (v2) and UNKNOWN (v1) keep the real address" {
	start_proxy_backend
	start_srv accept_proxy=true proxy_protocol=v2
	pclient --connect "$SRV_ADDR" --header v2-local --sni "$SNI" --data local
	assert_success
	assert_kv "$output" recv 5
	local c1=$output
	# "PROXY UNKNOWN" may carry anything up to the CRLF (107 bytes in all)
	pclient --connect "$SRV_ADDR" --header "hex:$(printf 'PROXY UNKNOWN %080d\r\n' 0 | hexof)" \
		--sni "$SNI" --data unknown
	assert_success
	assert_kv "$output" recv 7
	local c2=$output
	wait_conn_line "$SRV_LOG" srv 2
	conn_lines "$SRV_LOG" srv | grep -qF "peer=$(kv local "$c1") " || fail "LOCAL: real address not logged"
	conn_lines "$SRV_LOG" srv | grep -qF "peer=$(kv local "$c2") " || fail "UNKNOWN: real address not logged"
	local r1 r2
	r1=$(record 1)
	r2=$(record 2)
	assert_kv "$r1" src "$(kv local "$c1")"
	assert_kv "$r2" src "$(kv local "$c2")"
}

@test "accept_proxy: no header (TLS at once) is closed, logged, never forwarded" {
	start_counting_backend --echo
	start_srv accept_proxy=true
	pclient --connect "$SRV_ADDR" --sni "$SNI" --data 'no header'
	expect_rejected_header 1
	expect_no_backend
	grep -q 'notice: .*service=srv .*rejected: invalid PROXY protocol header' "$SRV_LOG" ||
		fail "no notice line for the rejection"
	# and a correct client gets through the same instance
	pclient --connect "$SRV_ADDR" --header v1 --sni "$SNI" --data ok
	assert_kv "$output" recv 2
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "accept_proxy: a garbage header is closed and never forwarded" {
	start_counting_backend --echo
	start_srv accept_proxy=true
	pclient --connect "$SRV_ADDR" --header garbage --sni "$SNI" --data x
	expect_rejected_header 1
	expect_no_backend
}

@test "accept_proxy: malformed v1 and v2 headers are all rejected" {
	start_counting_backend --echo
	start_srv accept_proxy=true
	local h n=0
	local -a bad=(
		"$(printf 'PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n' | hexof)"      # port out of range
		"$(printf 'PROXY TCP4 1.2.3.4\r\n' | hexof)"                       # fields missing
		"$(printf 'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n' | hexof)"           # v4 addresses as TCP6
		"$(printf 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n' | hexof)"             # LF without CR
		"$(printf 'PROXY UNKNOWN %0100d\r\n' 0 | hexof)"                 # 116 bytes > 107
		'0d0a0d0a000d0a515549540a3111000c7f0000017f00000104d201bb'                   # v2 version 3
		'0d0a0d0a000d0a515549540a2111000401020304'                                   # v2 TCP4, 4-byte address block
		'0d0a0d0a000d0a515549540a2f11000c7f0000017f00000104d201bb'                   # v2 command 15
	)
	for h in "${bad[@]}"; do
		n=$((n + 1))
		pclient --connect "$SRV_ADDR" --header "hex:$h" --sni "$SNI" --data x
		expect_rejected_header "$n"
	done
	expect_no_backend
}

@test "proxy chain: client mode accept_proxy + proxy_protocol v2 -> server accept_proxy + v1 -> backend keeps the original source" {
	start_proxy_backend
	write_conf "$BATS_TEST_TMPDIR/srv.conf" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR" accept_proxy=true proxy_protocol=v1)"
	write_conf "$BATS_TEST_TMPDIR/cli.conf" \
		"$(client_svc cli "$CLI_ADDR" "$SRV_ADDR" accept_proxy=true proxy_protocol=v2)"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready srv
	wait_sheath_ready cli
	run "$PY" "$TOOLS/proxy-client.py" --connect "$CLI_ADDR" --header v1 --src 198.51.100.9:5555 \
		--dst 198.51.100.1:80 --size 300000 --seed 9 --timeout 10
	assert_success
	local c=$output r
	assert_kv "$c" recv_sha256 "$(kv sent_sha256 "$c")"
	wait_conn_line "$CLI_LOG" cli
	wait_conn_line "$SRV_LOG" srv
	assert_kv "$(conn_lines "$CLI_LOG" cli)" peer 198.51.100.9:5555
	assert_kv "$(conn_lines "$SRV_LOG" srv)" peer 198.51.100.9:5555
	r=$(record 1)
	assert_kv "$r" version 1
	assert_kv "$r" src 198.51.100.9:5555
	assert_kv "$r" received 300000
	assert_kv "$r" sha256 "$(kv sent_sha256 "$c")"
}

# --- HAProxy ------------------------------------------------------------------------

# start_haproxy LINES...: haproxy in the foreground (-db) with a global
# section logging to stdout and the given lines after it.
start_haproxy() {
	local conf=$BATS_TEST_TMPDIR/haproxy.cfg
	{
		printf '%s\n' global '  log stdout format raw local0 info' '  maxconn 100' \
			defaults '  mode tcp' '  log global' '  timeout connect 5s' \
			'  timeout client 30s' '  timeout server 30s'
		printf '%s\n' "$@"
	} >"$conf"
	haproxy -c -f "$conf" >/dev/null || fail "haproxy rejects its config"
	start_bg haproxy haproxy -db -f "$conf"
}

@test "HAProxy send-proxy-v2 in front of sheath accept_proxy: sheath logs the client's own address" {
	command -v haproxy >/dev/null || skip "haproxy not installed"
	start_proxy_backend
	start_srv accept_proxy=true proxy_protocol=v1
	start_haproxy 'listen front' "  bind $HAP_ADDR" "  server s $SRV_ADDR send-proxy-v2"
	wait_for_port "$HAP_PORT"
	pclient --connect "$HAP_ADDR" --sni "$SNI" --size 100000 --seed 10
	assert_success
	local c=$output r
	assert_kv "$c" handshake ok
	assert_kv "$c" recv_sha256 "$(kv sent_sha256 "$c")"
	wait_conn_line "$SRV_LOG" srv
	# HAProxy connects from a port of its own; the peer must be the client's
	assert_kv "$(last_conn_line)" peer "$(kv local "$c")"
	r=$(record 1)
	assert_kv "$r" src "$(kv local "$c")"
	assert_kv "$r" sha256 "$(kv sent_sha256 "$c")"
}

@test "HAProxy accept-proxy behind sheath proxy_protocol v2: HAProxy sees the TLS client's address and SNI" {
	command -v haproxy >/dev/null || skip "haproxy not installed"
	start_counting_backend --echo
	start_haproxy 'listen back' "  bind $HAP_ADDR accept-proxy" \
		'  log-format "pp ci=%ci cp=%cp authority=%[fc_pp_authority] bytes=%B"' \
		"  server b $BE_ADDR"
	wait_for_port "$HAP_PORT"
	write_conf "$BATS_TEST_TMPDIR/srv.conf" "$(server_svc srv "$SRV_ADDR" "$HAP_ADDR" proxy_protocol=v2)"
	start_sheath srv -c "$BATS_TEST_TMPDIR/srv.conf"
	wait_sheath_ready srv
	pclient --connect "$SRV_ADDR" --sni "$SNI" --size 65536 --seed 11
	assert_success
	local c=$output
	assert_kv "$c" recv_sha256 "$(kv sent_sha256 "$c")"
	local addr=$(kv local "$c")
	wait_for_log "$BATS_TEST_TMPDIR/haproxy.log" "pp ci=${addr%:*} cp=${addr##*:} authority=$SNI "
	wait_for_file "$REC/conn-1"
	assert_kv "$(cat "$REC/conn-1")" sha256 "$(kv sent_sha256 "$c")"
}

# --- JA4 in the log -----------------------------------------------------------------

@test "JA4: gnutls-cli (fixed priority, SNI, ALPN) - sheath's ja4= equals the independent value" {
	start_counting_backend --echo
	start_srv alpn='[ "h2" ]'
	local gc=(gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2' --alpn h2
		--x509cafile "$CERTS/ca.crt" --x509certfile "$CERTS/client.crt"
		--x509keyfile "$CERTS/client.key" --sni-hostname "$SNI" --verify-hostname localhost)
	local ja4
	ja4=$(capture_ja4 timeout 5 "${gc[@]}" -p "$CAP_PORT" 127.0.0.1)
	[[ $ja4 == t13d????h2_* ]] || fail "unexpected JA4 '$ja4'"
	run "$PY" "$TOOLS/drive.py" --send $'ja4 probe\n' --until 'ja4 probe' --timeout 10 -- \
		"${gc[@]}" -p "$SRV_PORT" 127.0.0.1
	assert_success
	wait_conn_line "$SRV_LOG" srv
	assert_kv "$(last_conn_line)" ja4 "$ja4"
	assert_kv "$(last_conn_line)" alpn h2
}

@test "JA4: gnutls-cli without SNI - 'i' in the fingerprint, equal to the independent value" {
	start_counting_backend --echo
	start_srv
	local gc=(gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2'
		--x509cafile "$CERTS/ca.crt" --x509certfile "$CERTS/client.crt"
		--x509keyfile "$CERTS/client.key")
	local ja4
	ja4=$(capture_ja4 timeout 5 "${gc[@]}" -p "$CAP_PORT" 127.0.0.1)
	[[ $ja4 == t13i????00_* ]] || fail "unexpected JA4 '$ja4'"
	run "$PY" "$TOOLS/drive.py" --send $'ja4 probe\n' --until 'ja4 probe' --timeout 10 -- \
		"${gc[@]}" -p "$SRV_PORT" 127.0.0.1
	assert_success
	wait_conn_line "$SRV_LOG" srv
	assert_kv "$(last_conn_line)" ja4 "$ja4"
}

@test "JA4: openssl s_client (TLS 1.2 only, ALPN http/1.1) - sheath's ja4= equals the independent value" {
	start_counting_backend --echo
	start_srv alpn='[ "http/1.1" ]'
	local sc=(openssl s_client -tls1_2 -servername "$SNI" -alpn http/1.1 -CAfile "$CERTS/ca.crt"
		-cert "$CERTS/client.crt" -key "$CERTS/client.key" -quiet -no_ign_eof)
	local ja4
	ja4=$(capture_ja4 timeout 5 "${sc[@]}" -connect "$CAP_ADDR")
	[[ $ja4 == t12d????h1_* ]] || fail "unexpected JA4 '$ja4'"
	run "$PY" "$TOOLS/drive.py" --send $'ja4 probe\n' --until 'ja4 probe' --timeout 10 -- \
		"${sc[@]}" -connect "$SRV_ADDR"
	assert_success
	wait_conn_line "$SRV_LOG" srv
	assert_kv "$(last_conn_line)" ja4 "$ja4"
	assert_kv "$(last_conn_line)" version TLS1.2
}

# --- accept_proxy_from and the one deadline (SECURITY.md) -------------------

@test "accept_proxy_from: a source outside the list is closed before any byte is read, never forwarded" {
	start_counting_backend --echo
	start_srv accept_proxy=true accept_proxy_from='[ "10.0.0.0/8", "2001:db8::/32" ]'
	pclient --connect "$SRV_ADDR" --header v1 --src 203.0.113.7:4242 --sni "$SNI" --data x
	assert_equal "$(kv recv "$output")" 0
	wait_conn_line "$SRV_LOG" srv 1
	last_conn_line | grep -qF 'end=rejected: PROXY header from untrusted source' ||
		fail "not rejected for its source: $(last_conn_line)"
	# the real source is logged: the header was never read
	[[ $(kv peer "$(last_conn_line)") == 127.0.0.1:* ]] || fail "not the real source: $(last_conn_line)"
	grep -qF 'rejected: PROXY header from untrusted source' "$SRV_LOG" ||
		fail "no notice line"
	expect_no_backend
}

@test "accept_proxy_from: a source inside a listed prefix is served, its header believed" {
	start_counting_backend --echo
	start_srv accept_proxy=true accept_proxy_from='[ "10.0.0.0/8", "127.0.0.0/30" ]'
	pclient --connect "$SRV_ADDR" --header v1 --src 203.0.113.7:4242 --sni "$SNI" --data hello
	assert_success
	assert_kv "$output" recv 5
	wait_conn_line "$SRV_LOG" srv 1
	assert_kv "$(last_conn_line)" peer 203.0.113.7:4242
	assert_equal "$(backend_count "$COUNT")" 1
}

@test "accept_proxy_from: bad prefixes and a list without accept_proxy are configuration errors" {
	write_conf "$BATS_TEST_TMPDIR/bad.conf" \
		"$(server_svc a "$SRV_ADDR" "$BE_ADDR" accept_proxy=true accept_proxy_from='[ "10.0.0.0/33" ]')" \
		"$(server_svc b "127.0.0.1:1" "$BE_ADDR" accept_proxy=true accept_proxy_from='[ "example.net" ]')" \
		"$(server_svc c "127.0.0.1:2" "$BE_ADDR" accept_proxy_from='[ "10.0.0.0/8" ]')"
	run "$SHEATH" -t -c "$BATS_TEST_TMPDIR/bad.conf"
	assert_failure 1
	assert_output --partial 'accept_proxy_from: "10.0.0.0/33": the prefix length must be 0 to 32'
	assert_output --partial 'accept_proxy_from: "example.net": not an IPv4 or IPv6 address'
	assert_output --partial 'accept_proxy_from: needs accept_proxy = true'
}

@test "one deadline: timeout_handshake runs from accept, a slow PROXY header included" {
	start_counting_backend --echo
	start_srv accept_proxy=true timeout_handshake=2
	# the header takes 1.2 s to arrive whole, then no ClientHello comes
	run "$PY" "$TOOLS/proxy-client.py" --connect "$SRV_ADDR" --header v1 --split 1.2 \
		--data '' --expect 1 --timeout 10
	assert_success
	assert_kv "$output" end eof
	wait_conn_line "$SRV_LOG" srv 1
	assert_equal "$(kv end "$(last_conn_line)")" timeout:
	# accept + 2 s, not header + 2 s (3.2 s)
	local d
	d=$(kv duration "$(last_conn_line)")
	awk -v d="$d" 'BEGIN { exit !(d >= 1.9 && d < 2.9) }' ||
		fail "the handshake deadline did not count from accept: duration=$d"
	expect_no_backend
}
