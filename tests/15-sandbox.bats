#!/usr/bin/env bats
# The `sandbox` global key: every process that handles connections runs with
# no-new-privileges and a seccomp filter; a supervisor that handles none
# reloads, binds and restarts them. A forbidden call kills the worker, the
# supervisor logs it and starts another.
#
#   client --plain--> cli (mode client) --TLS--> srv (mode server) --plain--> backend

load 'helpers/common'

setup() {
	common_setup
	pair_setup
	# The filter needs a build with libseccomp and a kernel with seccomp.
	"$SHEATH" -V | grep -q 'seccomp' || skip "sheath built without libseccomp"
	grep -q '^Seccomp:' /proc/self/status || skip "kernel without seccomp"
}

# ---------------------------------------------------------------------------
# helpers of this file

# status_of PID FIELD: the value of FIELD in /proc/PID/status.
status_of() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# workers_of PID: the live children of PID, one line, sorted.
workers_of() {
	local c out=()
	for c in $(pgrep -P "$1" | sort -n); do
		alive "$c" && out+=("$c")
	done
	echo "${out[*]}"
}
nworkers_is() { # PID N
	local w
	w=($(workers_of "$1"))
	((${#w[@]} == $2))
}

# sandboxed_workers LOG: how many "runs with the seccomp filter" lines.
sandboxed_workers() {
	grep -c 'sandbox: worker [0-9]* runs with the seccomp filter' "$1" 2>/dev/null || true
}
sandboxed_at_least() { (($(sandboxed_workers "$1") >= $2)); }

# assert_sandboxed NAME N [LOG]: sheath NAME is a supervisor without a
# filter with N workers, each with Seccomp 2 (filter) and NoNewPrivs 1.
assert_sandboxed() {
	local sup w n=0
	sup=$(pid_of "$1")
	wait_until 10 "$2 worker(s) of $1" nworkers_is "$sup" "$2"
	wait_until 10 "$2 sandboxed worker(s) of $1" sandboxed_at_least \
		"${3:-$BATS_TEST_TMPDIR/$1.log}" "$2"
	for w in $(workers_of "$sup"); do
		assert_equal "$(status_of "$w" Seccomp)" 2
		assert_equal "$(status_of "$w" NoNewPrivs)" 1
		n=$((n + 1))
	done
	assert_equal "$n" "$2"
	# the supervisor binds and reloads: it has no filter (unless the test
	# itself runs under one)
	if [[ $(status_of $$ Seccomp) == 0 ]]; then
		assert_equal "$(status_of "$sup" Seccomp)" 0
	fi
}

# tls_hello ADDR: a TLS client (client1) that sends "hello" through srv to
# the echo backend and expects it back.
tls_hello() {
	"$PY" "$TOOLS/tls-peer.py" client --connect "$1" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --data hello \
		--expect 5 --clean-close --timeout 10
}
assert_hello() {
	run tls_hello "$1"
	assert_success
	assert_equal "$(kv handshake "$output")" ok
	assert_equal "$(kv recv "$output")" 5
}
hello_works() { tls_hello "$1" >/dev/null 2>&1; }

# transfer SIZE: SIZE seeded bytes through cli and srv to the echo backend
# and back, byte-exact at both ends.
transfer() {
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size "$1" --seed 15 --timeout 60
	assert_success
	local s=$output r
	assert_equal "$(kv sent "$s")" "$1"
	assert_equal "$(kv recv "$s")" "$1"
	assert_equal "$(kv recv_sha256 "$s")" "$(kv sent_sha256 "$s")"
	wait_for_file "$REC/conn-1"
	r=$(cat "$REC/conn-1")
	assert_equal "$(kv sha256 "$r")" "$(kv sent_sha256 "$s")"
}

# ---------------------------------------------------------------------------

@test "default: every worker of srv and cli has Seccomp 2 and NoNewPrivs 1, the supervisor none; 1 MiB moves byte-exact" {
	start_counting_backend --echo
	start_srv
	start_cli
	assert_sandboxed srv 1
	assert_sandboxed cli 1
	grep -q "sheath .* started .*with 1 worker\$" "$SRV_LOG" || fail "no supervisor start line"
	transfer $((1024 * 1024))
	# the workers are still the same, alive and filtered
	assert_sandboxed srv 1
	assert_sandboxed cli 1
	refute grep -q 'SIGSYS' "$SRV_LOG" "$CLI_LOG"
}

@test "sandbox = false: one process, Seccomp 0, NoNewPrivs 0; the tunnel works" {
	[[ $(status_of $$ Seccomp) == 0 ]] || skip "the tests run under a seccomp filter already"
	start_counting_backend --echo
	CONF_GLOBALS='sandbox = false;' start_srv
	CONF_GLOBALS='sandbox = false;' start_cli
	local p
	for p in "$(pid_of srv)" "$(pid_of cli)"; do
		assert_equal "$(workers_of "$p")" ""
		assert_equal "$(status_of "$p" Seccomp)" 0
		assert_equal "$(status_of "$p" NoNewPrivs)" 0
	done
	refute grep -q 'sandbox:' "$SRV_LOG"
	transfer $((64 * 1024))
}

@test "a forbidden call (test-only execve) kills the worker by SIGSYS; the supervisor logs it and starts one that serves" {
	start_counting_backend --echo
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	SHEATH_TEST_SANDBOX_VIOLATION=1 start_sheath srv -c "$SRV_CONF"
	local sup
	sup=$(pid_of srv)
	# the first worker calls execve once its filter is loaded ...
	wait_for_log "$SRV_LOG" 'sandbox: SHEATH_TEST_SANDBOX_VIOLATION is set: calling execve'
	local victim
	victim=$(sed -n 's/^sheath\[\([0-9]*\)\]: warning: sandbox: SHEATH_TEST_SANDBOX_VIOLATION.*/\1/p' "$SRV_LOG")
	[[ -n $victim ]] || fail "no pid for the violating worker"
	# ... and dies of it: the supervisor reaps and says so
	wait_for_log "$SRV_LOG" "worker 0 \\(pid $victim\\) killed by signal 31 \\(SIGSYS: a system call its sandbox forbids\\); restarting it"
	refute grep -q 'execve was not stopped' "$SRV_LOG"
	alive "$victim" && fail "worker $victim still alive"
	# the replacement (started after a pause, since it died at once)
	# inherits nothing of the test variable: it is filtered and serves
	wait_until 10 "a second sandboxed worker" sandboxed_at_least "$SRV_LOG" 2
	assert_sandboxed srv 1
	[[ $(workers_of "$sup") != "$victim" ]] || fail "the dead worker was not replaced"
	wait_until 10 "srv to answer" hello_works "$SRV_ADDR"
	assert_hello "$SRV_ADDR"
	# only the one violation: no restart loop
	assert_equal "$(grep -c 'killed by signal 31' "$SRV_LOG")" 1
	assert_equal "$(grep -c 'calling execve' "$SRV_LOG")" 1
}

@test "without a sandbox the test variable does nothing" {
	start_counting_backend --echo
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	sed -i '1i sandbox = false;' "$SRV_CONF"
	SHEATH_TEST_SANDBOX_VIOLATION=1 start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	assert_hello "$SRV_ADDR"
	refute grep -q 'SHEATH_TEST_SANDBOX_VIOLATION' "$SRV_LOG"
}

@test "SIGHUP with the sandbox on: a service added on a new port answers; its workers are filtered; the old one keeps serving" {
	start_counting_backend --echo
	start_srv
	assert_sandboxed srv 1
	local port2
	port2=$(free_port)
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")" \
		"$(server_svc srv2 "127.0.0.1:$port2" "$BE_ADDR")"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$SRV_LOG" 'configuration reloaded: 2 services'
	wait_for_port "$port2"
	wait_until 10 "a sandboxed worker of the new configuration" sandboxed_at_least "$SRV_LOG" 2
	assert_hello "127.0.0.1:$port2"
	assert_hello "$SRV_ADDR"
	assert_sandboxed srv 1
	refute grep -q 'SIGSYS' "$SRV_LOG"
}

@test "user = nobody with the sandbox on: workers run as nobody, filtered; a reload adds a listener below port 1024" {
	[[ $(id -u) == 0 ]] || skip "needs root to drop privileges"
	getent passwd nobody >/dev/null && getent group nogroup >/dev/null || skip "no nobody/nogroup"
	local low="" p i uid
	for i in $(seq 1 50); do
		p=$((700 + RANDOM % 300))
		port_listening "$p" && continue
		"$PY" -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null || continue
		low=$p
		break
	done
	[[ -n $low ]] || skip "no free port below 1024"
	uid=$(id -u nobody)
	start_counting_backend --echo
	CONF_GLOBALS='user = "nobody"; group = "nogroup";' start_srv
	assert_sandboxed srv 1
	local w
	w=$(workers_of "$(pid_of srv)")
	run grep -E '^Uid:' "/proc/$w/status"
	assert_output --regexp "^Uid:[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+$uid\$"
	# the supervisor, which handles no connection, binds the new port
	CONF_GLOBALS='user = "nobody"; group = "nogroup";' write_conf "$SRV_CONF" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR")" \
		"$(server_svc low "127.0.0.1:$low" "$BE_ADDR")"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$SRV_LOG" 'configuration reloaded: 2 services'
	wait_for_port "$low"
	assert_hello "127.0.0.1:$low"
	assert_hello "$SRV_ADDR"
	assert_sandboxed srv 1
	w=$(workers_of "$(pid_of srv)")
	run grep -E '^Uid:' "/proc/$w/status"
	assert_output --regexp "^Uid:[[:space:]]+${uid}[[:space:]]"
}

@test "SIGUSR1 with the sandbox on: the workers reopen a log file moved away" {
	start_counting_backend --echo
	local logfile=$BATS_TEST_TMPDIR/srvfile.log
	CONF_GLOBALS="log = \"$logfile\";" start_sheath_file "$logfile"
	assert_sandboxed srv 1 "$logfile"
	assert_hello "$SRV_ADDR"
	wait_conn_line "$logfile" srv 1
	mv "$logfile" "$logfile.1"
	kill -USR1 "$(pid_of srv)"
	# the supervisor reopens first (it is signalled first), then the
	# worker; a connection's line lands in the new file
	wait_for_file "$logfile"
	wait_until 10 "the worker to reopen" worker_reopened "$logfile"
	assert_equal "$(count_conn_lines "$logfile.1" srv)" 1
	assert_sandboxed srv 1 "$logfile.1"
	refute grep -q 'SIGSYS' "$logfile" "$logfile.1"
}

# start_sheath_file LOG: srv with its log in the file LOG (CONF_GLOBALS
# names it), waits until it listens.
start_sheath_file() {
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	start_sheath srv -c "$SRV_CONF"
	wait_for_log "$1" 'service srv: listening on'
}

# worker_reopened LOG: a new connection's line appears in LOG.
worker_reopened() {
	tls_hello "$SRV_ADDR" >/dev/null 2>&1 || return 1
	local deadline=$((SECONDS + 2))
	while ((SECONDS < deadline)); do
		(($(count_conn_lines "$1" srv) >= 1)) && return 0
		sleep 0.05
	done
	return 1
}

@test "workers = 2 with the sandbox on: both filtered, both serve; the metrics endpoint (TCP and unix) answers from a filtered worker" {
	start_counting_backend --echo
	local m_port msock=$SOCKDIR/m.sock
	m_port=$(free_port)
	CONF_GLOBALS="workers = 2; metrics = \"127.0.0.1:$m_port\";" start_srv
	assert_sandboxed srv 2
	local i
	for i in 1 2 3 4 5 6; do
		assert_hello "$SRV_ADDR"
	done
	run curl -sS --max-time 5 "http://127.0.0.1:$m_port/metrics"
	assert_success
	assert_output --partial 'sheath_connections_accepted_total{service="srv"} 6'
	run curl -sS --max-time 5 "http://127.0.0.1:$m_port/status"
	assert_success
	local answered
	answered=$(echo "$output" | sed -n 's/^{"pid":\([0-9]*\),.*/\1/p')
	[[ " $(workers_of "$(pid_of srv)") " == *" $answered "* ]] || fail "/status answered by $answered, not a worker"
	assert_equal "$(status_of "$answered" Seccomp)" 2
	# the same over a unix socket, moved there by a reload
	sed -i "s|metrics = \"127.0.0.1:$m_port\";|metrics = \"unix:$msock\";|" "$SRV_CONF"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$SRV_LOG" 'configuration reloaded: 1 service'
	wait_for_unix "$msock"
	wait_until 10 "the new workers" sandboxed_at_least "$SRV_LOG" 4
	run curl -sS --max-time 5 --unix-socket "$msock" http://localhost/metrics
	assert_success
	assert_output --partial 'sheath_connections_accepted_total{service="srv"} 6'
	assert_sandboxed srv 2
	refute grep -q 'SIGSYS' "$SRV_LOG"
}
