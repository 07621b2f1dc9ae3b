#!/usr/bin/env bats
# The metrics endpoint: /metrics (Prometheus text format) and /status (JSON)
# on a plaintext HTTP address or unix socket.
#
#   TLS clients ------------------------------> srv (mode server) --> echo backend
#   client --plain--> cli (mode client) --TLS--^     ^-- curl http://127.0.0.1:M/metrics

load 'helpers/common'

setup() {
	common_setup
	pair_setup
	M_PORT=$(free_port)
	M_ADDR=127.0.0.1:$M_PORT
}

# ---------------------------------------------------------------------------
# helpers of this file

start_backend() {
	start_bg backend "$PY" "$TOOLS/echo-server.py" --listen "$BE_ADDR" --lifetime 120
	wait_for_port "$BE_PORT"
}

# start_metrics_srv [KEY=VALUE...]: the server half with metrics on $M_ADDR (and the
# globals in CONF_GLOBALS); admits client1 only, checks the CRL.
start_metrics_srv() {
	CONF_GLOBALS="metrics = \"$M_ADDR\"; ${CONF_GLOBALS:-}" write_conf "$SRV_CONF" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR" allow_cn=client1 crl="$CERTS/crl.pem" "$@")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	wait_for_port "$M_PORT"
}

# scrape [PATH]: GET PATH (default /metrics) from $M_ADDR into $SCRAPE.
scrape() {
	SCRAPE=$(curl -sS --max-time 5 "http://$M_ADDR${1:-/metrics}") ||
		fail "GET ${1:-/metrics} failed"
}

# metric 'NAME{LABELS}': its value in $SCRAPE (empty when absent).
metric() {
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { exit !f }' <<<"$SCRAPE"
}

# assert_metric 'NAME{LABELS}' VALUE
assert_metric() {
	local v
	v=$(metric "$1") || fail "no sample $1 in the scrape"
	[[ $v == "$2" ]] || fail "$1 is $v, expected $2"
}

# tls_client CERTNAME [ARGS...]: a TLS client with CERTNAME.crt/.key
# ("-" for none) that sends 3000 seeded bytes and expects them back.
tls_client() {
	local c=$1 args=()
	shift
	[[ $c == - ]] || args=(--cert "$CERTS/$c.crt" --key "$CERTS/$c.key")
	"$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		"${args[@]}" --size 3000 --seed 1 --expect 3000 --clean-close --timeout 10 "$@"
}

# status_py EXPR: evaluate python EXPR with `s` = the /status document
# (fetched anew).
status_py() {
	scrape /status
	json_py "$1"
}
# json_py EXPR: the same on the document already in $SCRAPE.
json_py() {
	"$PY" -c 'import json, sys; s = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$SCRAPE" "$1"
}

reload_done() {
	(($(grep -Ec 'configuration reloaded: |reload failed; the previous configuration stays in force' "$1") >= $2))
}
# reload NAME N: SIGHUP NAME and wait for its Nth reload outcome line.
reload() {
	kill -HUP "$(pid_of "$1")"
	wait_until 10 "reload $2 of $1" reload_done "$BATS_TEST_TMPDIR/$1.log" "$2"
}


# ---------------------------------------------------------------------------

@test "/metrics: accepted, ended, bytes and every rejection reason are counted" {
	start_backend
	start_metrics_srv
	scrape
	assert_metric 'sheath_connections_accepted_total{service="srv"}' 0
	assert_metric 'sheath_connections_active{service="srv"}' 0
	assert_metric 'sheath_connections_ended_total{service="srv",outcome="closed"}' 0
	assert_metric 'sheath_bytes_total{service="srv",direction="in"}' 0
	local t
	t=$(metric sheath_start_time_seconds)
	awk -v t="$t" -v now="$(date +%s)" 'BEGIN { exit !(t > now - 60 && t <= now + 1) }' ||
		fail "sheath_start_time_seconds = $t, now is $(date +%s)"

	# one good connection: 3000 bytes each way
	run tls_client client
	assert_success
	assert_equal "$(kv recv "$output")" 3000
	wait_conn_line "$SRV_LOG" srv 1
	# one of each rejection reason
	local c
	for c in client2 other expired revoked -; do
		run tls_client "$c"
		[[ $(kv recv "$output") == 0 ]] || fail "$c got through: $output"
	done
	# no certificate under TLS 1.2 as well (GnuTLS words it differently)
	run tls_client - --tls12
	[[ $(kv recv "$output") == 0 ]] || fail "no certificate (TLS 1.2) got through: $output"
	# and a peer that does not speak TLS
	run "$PY" "$TOOLS/probe.py" --connect "$SRV_ADDR" --send $'GET / HTTP/1.0\r\n\r\n' --timeout 5
	wait_conn_line "$SRV_LOG" srv 8
	scrape
	echo "$SCRAPE" | grep '^sheath_' | grep -v _bucket
	assert_metric 'sheath_connections_accepted_total{service="srv"}' 8
	assert_metric 'sheath_connections_active{service="srv"}' 0
	assert_metric 'sheath_connections_ended_total{service="srv",outcome="closed"}' 1
	assert_metric 'sheath_connections_ended_total{service="srv",outcome="rejected"}' 7
	assert_metric 'sheath_connections_ended_total{service="srv",outcome="truncated"}' 0
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="allow_list"}' 1
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="untrusted"}' 1
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="expired"}' 1
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="revoked"}' 1
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="key_usage"}' 0
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="psk_identity"}' 0
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="protocol_version"}' 0
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="pin"}' 0
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="name_mismatch"}' 0
	assert_metric 'sheath_bytes_total{service="srv",direction="in"}' 3000
	assert_metric 'sheath_bytes_total{service="srv",direction="out"}' 3000
	# the non-TLS peer is a handshake failure
	(($(metric 'sheath_handshake_failures_total{service="srv"}') >= 1)) ||
		fail "sheath_handshake_failures_total: $(metric 'sheath_handshake_failures_total{service="srv"}')"
	# one verified handshake in the histogram, and it took under 10 s
	assert_metric 'sheath_handshake_duration_seconds_count{service="srv"}' 1
	assert_metric 'sheath_handshake_duration_seconds_bucket{service="srv",le="+Inf"}' 1
	assert_metric 'sheath_handshake_duration_seconds_bucket{service="srv",le="10"}' 1
	assert_metric 'sheath_handshakes_resumed_total{service="srv"}' 0
	grep -q '^# TYPE sheath_handshake_duration_seconds histogram$' <<<"$SCRAPE" || fail "no histogram TYPE line"
	grep -q '^# TYPE sheath_connections_accepted_total counter$' <<<"$SCRAPE" || fail "no counter TYPE line"
	# a client without a certificate (TLS 1.3 and TLS 1.2) is no_certificate,
	# not a generic handshake failure
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="no_certificate"}' 2
	assert_metric 'sheath_connections_rejected_total{service="srv",reason="handshake"}' 1
}

@test "/metrics: handshakes that resumed a session are counted apart from full ones" {
	start_backend
	start_metrics_srv
	start_cli
	local i
	for i in 1 2 3; do
		run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --data "round $i" --timeout 10
		assert_success
		assert_equal "$(kv recv "$output")" 7
	done
	wait_conn_line "$SRV_LOG" srv 3
	scrape
	assert_metric 'sheath_handshake_duration_seconds_count{service="srv"}' 3
	# the first connection is a full handshake, the next two use its ticket
	assert_metric 'sheath_handshakes_resumed_total{service="srv"}' 2
	grep -q '^# TYPE sheath_handshakes_resumed_total counter$' <<<"$SCRAPE" || fail "no TYPE line"
}

@test "/status: an open connection with its identity, stage and bytes; the service listening" {
	start_backend
	start_metrics_srv
	start_cli
	# trickle 16 bytes over 4 s through the pair, so it is open while we look
	start_bg trickle "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 16 --interval 0.25 --shut-wr --timeout 10
	wait_until 5 "an open connection in /status" eval '[[ $(status_py "len(s[\"connections\"])") == 1 ]]'
	sleep 0.3
	# both documents first, while the trickle is surely open; then look
	scrape
	local metrics_doc=$SCRAPE
	scrape /status
	echo "$SCRAPE"
	assert_equal "$(json_py 's["pid"]')" "$(serving_pid srv)"
	assert_equal "$(json_py '[(v["name"], v["mode"], v["accept"], v["listening"], v["active"]) for v in s["services"]]')" \
		"[('srv', 'server', '$SRV_ADDR', True, 1)]"
	local c='s["connections"][0]'
	assert_equal "$(json_py "len(s['connections']), ${c}['service'], ${c}['identity'], ${c}['stage']")" \
		"(1, 'srv', 'CN=client1,OU=app', 'relay')"
	[[ $(json_py "${c}['peer']") =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "peer"
	assert_equal "$(json_py "${c}['bytes_in'] >= 1 and ${c}['bytes_out'] >= 1 and 0 < ${c}['age_seconds'] < 10")" True
	SCRAPE=$metrics_doc assert_metric 'sheath_connections_active{service="srv"}' 1
	wait_exit trickle 10
	run cat "$BATS_TEST_TMPDIR/trickle.log"
	assert_output --regexp '^eof recv=16 '
	wait_conn_line "$SRV_LOG" srv 1
	assert_equal "$(status_py 'len(s["connections"]), s["services"][0]["active"]')" "(0, 0)"
	scrape
	assert_metric 'sheath_connections_active{service="srv"}' 0
	assert_metric 'sheath_bytes_total{service="srv",direction="in"}' 16
	assert_metric 'sheath_bytes_total{service="srv",direction="out"}' 16
}

@test "reloads: success and failure counted, last_reload_successful follows, counters survive" {
	start_backend
	start_metrics_srv
	run tls_client client
	assert_equal "$(kv recv "$output")" 3000
	wait_conn_line "$SRV_LOG" srv 1
	scrape
	assert_metric 'sheath_config_reloads_total{result="success"}' 0
	assert_metric 'sheath_config_reloads_total{result="failure"}' 0
	assert_metric sheath_config_last_reload_successful 1
	local start
	start=$(metric sheath_start_time_seconds)

	reload srv 1
	scrape
	assert_metric 'sheath_config_reloads_total{result="success"}' 1
	assert_metric 'sheath_config_reloads_total{result="failure"}' 0
	assert_metric sheath_config_last_reload_successful 1
	assert_metric 'sheath_connections_accepted_total{service="srv"}' 1
	assert_metric sheath_start_time_seconds "$start"

	cp "$SRV_CONF" "$SRV_CONF.good"
	echo 'bogus_key = 1;' >>"$SRV_CONF"
	reload srv 2
	scrape
	assert_metric 'sheath_config_reloads_total{result="success"}' 1
	assert_metric 'sheath_config_reloads_total{result="failure"}' 1
	assert_metric sheath_config_last_reload_successful 0

	cp "$SRV_CONF.good" "$SRV_CONF"
	reload srv 3
	scrape
	assert_metric 'sheath_config_reloads_total{result="success"}' 2
	assert_metric 'sheath_config_reloads_total{result="failure"}' 1
	assert_metric sheath_config_last_reload_successful 1
	assert_metric 'sheath_connections_accepted_total{service="srv"}' 1
	assert_metric 'sheath_bytes_total{service="srv",direction="in"}' 3000
}

@test "promtool check metrics passes on the output" {
	command -v promtool >/dev/null || skip "promtool not installed (Debian package prometheus)"
	start_backend
	local a=$(free_port)
	CONF_GLOBALS="" start_metrics_srv
	# a second service, some traffic, a rejection and a reload
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" allow_cn=client1)" \
		"$(server_svc other "127.0.0.1:$a" "$BE_ADDR")"
	sed -i "1i metrics = \"$M_ADDR\";" "$SRV_CONF"
	reload srv 1
	run tls_client client
	run tls_client client2
	wait_conn_line "$SRV_LOG" srv 2
	scrape
	grep -q 'sheath_connections_accepted_total{service="other"} 0' <<<"$SCRAPE" ||
		fail "the service added by the reload is not in /metrics"
	run promtool check metrics <<<"$SCRAPE"
	echo "$output"
	assert_success
	assert_output ""
}

@test "hostile metrics clients (silent, slow, oversized) do not stall tunnels and are cut after ~10 s" {
	start_backend
	start_metrics_srv
	start_cli
	# silent: connects and sends nothing; slow: one byte a second, never
	# finishing the request; both report when sheath closes them
	local hostile='
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
mode = sys.argv[2]
t = time.monotonic()
end = "timeout"
s.settimeout(1)
while time.monotonic() - t < 30:
    try:
        if mode == "slow":
            s.send(b"G")
        d = s.recv(100)
        end = "data" if d else "eof"
        break
    except socket.timeout:
        continue
    except (ConnectionResetError, BrokenPipeError):
        end = "reset"
        break
print(end, "elapsed=%.2f" % (time.monotonic() - t))'
	start_bg silent "$PY" -c "$hostile" "$M_PORT" silent
	start_bg slow "$PY" -c "$hostile" "$M_PORT" slow
	# oversized: a 1 MiB request line is cut at once, without a response
	run "$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
t = time.monotonic()
sent = 0
try:
    while sent < (1 << 20):
        sent += s.send(b"GET /" + b"A" * 65536)
    d = s.recv(100)
    end = "data" if d else "eof"
except (ConnectionResetError, BrokenPipeError):
    end = "reset"
except socket.timeout:
    end = "timeout"
print(end, "sent=%d elapsed=%.2f" % (sent, time.monotonic() - t))' "$M_PORT"
	[[ $output =~ ^(eof|reset)\  ]] || fail "oversized request: $output"
	# meanwhile: 16 MiB round trip through the pair, byte-exact, while the
	# silent and slow clients are still connected (checked below)
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 16M --seed 3 --timeout 20
	assert_success
	assert_equal "$(kv recv "$output")" $((16 << 20))
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	# and a normal scrape is answered meanwhile
	scrape
	assert_metric 'sheath_connections_accepted_total{service="srv"}' 1
	alive "$(pid_of silent)" || fail "the silent client was cut too early"
	alive "$(pid_of slow)" || fail "the slow client was cut too early"
	wait_exit silent 15
	wait_exit slow 15
	local r
	for r in silent slow; do
		run cat "$BATS_TEST_TMPDIR/$r.log"
		echo "$r: $output"
		[[ $output =~ ^(eof|reset)\ elapsed=([0-9.]+)$ ]] || fail "$r: $output"
		awk -v e="${BASH_REMATCH[2]}" 'BEGIN { exit !(e >= 8.5 && e <= 13) }' ||
			fail "$r client cut after ${BASH_REMATCH[2]} s, expected about 10"
	done
}

@test "HTTP details: unknown path 404, other methods 400, HEAD has no body, content types" {
	start_backend
	start_metrics_srv
	run curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://$M_ADDR/nope"
	assert_output 404
	run curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://$M_ADDR/metricsx"
	assert_output 404
	run curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST --data x "http://$M_ADDR/metrics"
	assert_output 400
	run curl -sS -o /dev/null -w '%{http_code} %{content_type}' --max-time 5 "http://$M_ADDR/metrics"
	assert_output --regexp '^200 text/plain; version=0\.0\.4'
	run curl -sS -o /dev/null -w '%{http_code} %{content_type}' --max-time 5 "http://$M_ADDR/status"
	assert_output '200 application/json'
	run curl -sS -I --max-time 5 "http://$M_ADDR/metrics"
	assert_line --regexp '^HTTP/1\.[01] 200'
	refute_output --partial 'sheath_connections'
	# the tunnel port is not the metrics port
	run curl -sS --max-time 3 "http://$SRV_ADDR/metrics"
	assert_failure
}

@test "metrics on a unix socket" {
	start_backend
	local sock=$SOCKDIR/metrics.sock
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	sed -i "1i metrics = \"unix:$sock\";" "$SRV_CONF"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	wait_for_unix "$sock"
	run tls_client client
	wait_conn_line "$SRV_LOG" srv 1
	SCRAPE=$(curl -sS --max-time 5 --unix-socket "$sock" http://localhost/metrics)
	assert_metric 'sheath_connections_accepted_total{service="srv"}' 1
	assert_metric 'sheath_bytes_total{service="srv",direction="out"}' 3000
	run curl -sS --max-time 5 --unix-socket "$sock" http://localhost/status
	assert_output --partial "\"pid\":$(serving_pid srv)"
	kill -TERM "$(pid_of srv)"
	wait_until 5 "the metrics socket to go" eval "[[ ! -e $sock ]]"
}

@test "workers = 2: counters are shared, every scrape agrees whichever worker answers" {
	start_backend
	CONF_GLOBALS='workers = 2;' start_metrics_srv
	wait_sheath_ready srv 2
	local i
	for i in $(seq 1 10); do
		run tls_client client
		assert_equal "$(kv recv "$output")" 3000
	done
	run tls_client client2
	wait_conn_line "$SRV_LOG" srv 11
	# the connections were served by the workers, not the supervisor
	run conn_lines "$SRV_LOG" srv
	refute_output --partial "sheath[$(pid_of srv)]:"
	for i in $(seq 1 6); do
		scrape
		assert_metric 'sheath_connections_accepted_total{service="srv"}' 11
		assert_metric 'sheath_connections_ended_total{service="srv",outcome="closed"}' 10
		assert_metric 'sheath_connections_rejected_total{service="srv",reason="allow_list"}' 1
		assert_metric 'sheath_bytes_total{service="srv",direction="in"}' 30000
		assert_metric 'sheath_connections_active{service="srv"}' 0
	done
	# a reload (done by the supervisor) is seen by every worker's scrape
	reload srv 1
	sleep 0.3
	for i in $(seq 1 4); do
		scrape
		assert_metric 'sheath_config_reloads_total{result="success"}' 1
		assert_metric 'sheath_connections_accepted_total{service="srv"}' 11
	done
}

@test "workers = 2: /status lists every worker's connections, whichever worker answers" {
	start_backend
	start_cli
	CONF_GLOBALS='workers = 2;' start_metrics_srv
	wait_sheath_ready srv 2
	# one connection, held open (no bytes, no end) for the whole test
	start_bg hold "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --timeout 60
	wait_until 10 "an open connection in /metrics" eval \
		'scrape && [[ $(metric "sheath_connections_active{service=\"srv\"}") == 1 ]]'
	local i pid n owner answered=() workers
	workers=$(pgrep -P "$(pid_of srv)" | sort | tr '\n' ' ')
	for i in $(seq 1 60); do
		scrape /status
		read -r pid n owner < <(json_py 's["pid"], len(s["connections"]), s["connections"][0]["pid"] if s["connections"] else 0' | tr -d '(),')
		[[ " $workers" == *" $pid "* ]] || fail "/status pid $pid is not a worker ($workers)"
		((n == 1)) || fail "worker $pid listed $n connections: $SCRAPE"
		[[ " $workers" == *" $owner "* ]] || fail "the connection's pid $owner is not a worker"
		assert_equal "$(json_py 's["connections"][0]["stage"], s["connections"][0]["identity"], s["services"][0]["active"], s["connections_unlisted"]')" \
			"('relay', 'CN=client1,OU=app', 1, 0)"
		[[ " ${answered[*]} " == *" $pid "* ]] || answered+=("$pid")
		((${#answered[@]} < 2)) || break
	done
	echo "answered: ${answered[*]}, the connection is in $owner"
	((${#answered[@]} == 2)) || fail "only worker ${answered[*]} answered in 60 scrapes"
}

@test "workers = 2: workers killed while holding connections: the gauge drops to 0, max_connections admits again, the log says how many" {
	start_backend
	start_cli
	CONF_GLOBALS='workers = 2;' start_metrics_srv max_connections=3
	wait_sheath_ready srv 2
	local st=$BATS_TEST_TMPDIR/held.state stop=$BATS_TEST_TMPDIR/held.stop
	start_bg held "$PY" "$TOOLS/hold-conns.py" --connect "$CLI_ADDR" --max 3 --probe-timeout 5 \
		--state-file "$st" --stop-file "$stop" --timeout 60
	wait_for_file "$st" 20
	assert_equal "$(kv held "$(cat "$st")")" 3
	scrape
	assert_metric 'sheath_connections_active{service="srv"}' 3
	# the limit counts them: a fourth is refused
	run tls_client client
	[[ $(kv recv "$output") != 3000 ]] || fail "a fourth connection was served: $output"
	wait_until 5 "the refusal in the log" grep -q 'connection limit reached (3)' "$SRV_LOG"

	local workers
	workers=$(pgrep -P "$(pid_of srv)" | tr '\n' ' ')
	[[ $(wc -w <<<"$workers") == 2 ]] || fail "workers: $workers"
	# shellcheck disable=SC2086
	kill -KILL $workers
	wait_until 10 "both deaths logged" eval '(($(grep -c "killed by signal 9" "$SRV_LOG") == 2))'
	wait_until 10 "two new workers" eval '(($(pgrep -P "$(pid_of srv)" | wc -l) == 2))'
	wait_until 10 "the gauge at 0" eval \
		'scrape && [[ $(metric "sheath_connections_active{service=\"srv\"}") == 0 ]]'
	# and the limit admits new connections again
	run tls_client client
	assert_success
	assert_equal "$(kv recv "$output")" 3000
	grep 'killed by signal 9' "$SRV_LOG"
	# the log says how many connections each took with it: 3 in all
	local lost
	lost=$(grep -o 'signal 9 with [0-9]* open connection' "$SRV_LOG" | awk '{ n += $4 } END { print n + 0 }')
	assert_equal "$lost" 3
	touch "$stop"
	wait_exit held 20
}

@test "a reload that changes the metrics address moves the endpoint" {
	start_backend
	start_metrics_srv
	local m2
	m2=$(free_port)
	sed -i "s/metrics = \"$M_ADDR\"/metrics = \"127.0.0.1:$m2\"/" "$SRV_CONF"
	grep -q "127.0.0.1:$m2" "$SRV_CONF" || fail "sed"
	reload srv 1
	wait_for_port "$m2"
	wait_until 3 "the old metrics port to close" eval '! port_listening '"$M_PORT"
	M_ADDR=127.0.0.1:$m2
	scrape
	assert_metric 'sheath_config_reloads_total{result="success"}' 1
}

@test "a request line without a token gets 400 and reads no uninitialised memory (valgrind)" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	if ldd "$SHEATH" | grep -q libasan; then skip "a sanitizer build cannot run under valgrind"; fi
	start_backend
	CONF_GLOBALS="metrics = \"$M_ADDR\";" write_conf "$SRV_CONF" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	start_bg vg valgrind -q --error-exitcode=99 --track-origins=yes \
		--log-file="$BATS_TEST_TMPDIR/vg.log" "$SHEATH" -f -c "$SRV_CONF"
	wait_until 60 "the metrics port under valgrind" port_listening "$M_PORT"
	local req
	for req in $'\r\n\r\n' $' \r\n\r\n' $'GET\r\n\r\n'; do
		run "$PY" "$TOOLS/probe.py" --connect "$M_ADDR" --send "$req" --timeout 20 \
			--out "$BATS_TEST_TMPDIR/resp"
		assert_success
		head -n 1 "$BATS_TEST_TMPDIR/resp" | grep -q '^HTTP/1.0 400 Bad Request' ||
			fail "not a 400 for ${req@Q}: $(cat "$BATS_TEST_TMPDIR/resp")"
	done
	local pid status=0
	pid=$(pid_of vg)
	kill -TERM "$pid"
	wait "$pid" || status=$?
	[[ $status == 0 ]] || fail "valgrind found errors (exit $status): $(cat "$BATS_TEST_TMPDIR/vg.log")"
}
