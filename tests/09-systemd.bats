#!/usr/bin/env bats
# systemd integration: readiness and state notifications over NOTIFY_SOCKET
# (Type=notify) and socket activation (LISTEN_FDS with FileDescriptorName=
# the service name). No systemd needs to run: a python listener plays the
# manager's notify socket, and systemd-socket-activate (from the systemd
# package) passes the socket.

load 'helpers/common'

setup_file() {
	common_setup_file
	if ! ldd "$SHEATH" 2>/dev/null | grep -q libsystemd; then
		export SKIP_SYSTEMD="sheath built without libsystemd"
	fi
}

setup() {
	[[ -z ${SKIP_SYSTEMD:-} ]] || skip "$SKIP_SYSTEMD"
	common_setup
	pair_setup
	NOTIFY=$BATS_TEST_TMPDIR/notify.out
}

# ---------------------------------------------------------------------------
# helpers of this file

start_backend() {
	start_bg backend "$PY" "$TOOLS/echo-server.py" --listen "$BE_ADDR" --lifetime 120
	wait_for_port "$BE_PORT"
}

# start_notify: the manager's side of NOTIFY_SOCKET; lines go to $NOTIFY
# as "SEQ SENDER_PID KEY=VALUE".
start_notify() {
	NOTIFY_SOCKET=$SOCKDIR/notify.sock
	start_bg notify "$PY" "$TOOLS/notify-listener.py" --socket "$NOTIFY_SOCKET" --out "$NOTIFY" --lifetime 120
	wait_for_unix "$NOTIFY_SOCKET"
}

# notify_seq REGEX [AFTER]: the sequence number of the first notification
# line (after sequence AFTER) whose KEY=VALUE matches REGEX, or nothing.
notify_seq() {
	awk -v re="$1" -v after="${2:-0}" '$1 > after && substr($0, length($1) + length($2) + 3) ~ re { print $1; exit }' "$NOTIFY" 2>/dev/null
}
has_notify() { [[ -n $(notify_seq "$@") ]]; }

# wait_notify REGEX [AFTER] [TIMEOUT]: wait for such a line; sets SEQ.
wait_notify() {
	if ! wait_until "${3:-10}" "notification /$1/ after #${2:-0}" has_notify "$1" "${2:-0}"; then
		cat "$NOTIFY" >&2
		return 1
	fi
	SEQ=$(notify_seq "$1" "${2:-0}")
}

# tls_hello ADDR: a TLS client (client1) that sends "hello" and expects it
# echoed, with close_notify at the end.
assert_hello() {
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$1" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --data hello \
		--expect 5 --clean-close --timeout 10
	assert_success
	assert_equal "$(kv handshake "$output")" ok
	assert_equal "$(kv recv "$output")" 5
}

# wait_child_exit NAME TIMEOUT: wait for NAME (our child) to exit; sets
# EXIT_STATUS.
wait_child_exit() {
	local pid deadline=$((SECONDS + $2))
	pid=$(pid_of "$1")
	while kill -0 "$pid" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]; do
		((SECONDS < deadline)) || fail "$1 (pid $pid) still running after $2 s"
		sleep 0.02
	done
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
}

reload_done() {
	(($(grep -Ec 'configuration reloaded: |reload failed; the previous configuration stays in force' "$1") >= $2))
}

# ---------------------------------------------------------------------------
# NOTIFY_SOCKET

@test "sd_notify: READY=1 and MAINPID once listening, STATUS with connections, RELOADING=1 then READY=1, STOPPING=1" {
	start_backend
	start_notify
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	NOTIFY_SOCKET=$NOTIFY_SOCKET start_sheath srv -c "$SRV_CONF"
	local pid=$LAST_PID
	wait_notify '^READY=1$'
	local ready=$SEQ
	# ready means serving: the listener is there when READY=1 is sent
	port_listening "$SRV_PORT" || fail "READY=1 before listening"
	grep -q "service srv: listening on" "$SRV_LOG" || fail "READY=1 before the listening line"
	wait_notify "^MAINPID=$pid\$"
	# sent by sheath itself (the credentials the manager checks)
	run awk -v s="$ready" '$1 == s && $3 == "READY=1" { print $2 }' "$NOTIFY"
	[[ $output == "$pid" || $output == - ]] || fail "READY=1 came from pid $output, not $pid"
	wait_notify '^STATUS=.*[0-9]+ connections?'
	[[ $(notify_seq '^STATUS=.* 0 connections') ]] || fail "no STATUS with 0 connections: $(cat "$NOTIFY")"

	# an open connection shows in STATUS within a second or two
	write_conf "$BATS_TEST_TMPDIR/cli.conf" "$(client_svc cli "$CLI_ADDR" "$SRV_ADDR")"
	start_sheath cli -c "$BATS_TEST_TMPDIR/cli.conf"
	wait_sheath_ready cli
	start_bg trickle "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 12 --interval 0.25 --shut-wr --timeout 10
	wait_notify '^STATUS=.* 1 connection($|[^s])' 0 5
	wait_exit trickle 10
	wait_notify '^STATUS=.* 0 connections' "$SEQ" 5

	# SIGHUP: RELOADING=1, then READY=1 again
	local before
	before=$(awk 'END { print $1 + 0 }' "$NOTIFY")
	kill -HUP "$pid"
	wait_notify '^RELOADING=1$' "$before"
	local reloading=$SEQ
	wait_notify '^READY=1$' "$reloading"
	wait_until 5 "the reload line" reload_done "$SRV_LOG" 1
	grep -q 'configuration reloaded: 1 service' "$SRV_LOG" || fail "reload failed"

	# a failed reload: RELOADING=1, READY=1 (still serving) and a STATUS
	# that says so
	cp "$SRV_CONF" "$SRV_CONF.good"
	echo 'services = ( broken' >>"$SRV_CONF"
	before=$(awk 'END { print $1 + 0 }' "$NOTIFY")
	kill -HUP "$pid"
	wait_notify '^RELOADING=1$' "$before"
	reloading=$SEQ
	wait_notify '^READY=1$' "$reloading"
	wait_notify '^STATUS=.*reload failed' "$reloading"
	assert_hello "$SRV_ADDR"
	cp "$SRV_CONF.good" "$SRV_CONF"

	# SIGTERM: STOPPING=1, exit 0
	before=$(awk 'END { print $1 + 0 }' "$NOTIFY")
	kill -TERM "$pid"
	wait_notify '^STOPPING=1$' "$before"
	wait_child_exit srv 5
	assert_equal "$EXIT_STATUS" 0
	# READY=1 was never sent before the first listening line, nor twice in
	# a row without a RELOADING=1 between
	run awk '$3 == "READY=1" { if (r) bad = 1; r = 1 } $3 == "RELOADING=1" { r = 0 } END { exit bad }' "$NOTIFY"
	assert_success
}

@test "sd_notify with workers = 2: the supervisor alone notifies, with its own MAINPID" {
	start_backend
	start_notify
	CONF_GLOBALS='workers = 2;' write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	NOTIFY_SOCKET=$NOTIFY_SOCKET start_sheath srv -c "$SRV_CONF"
	local pid=$LAST_PID
	wait_notify '^READY=1$'
	wait_notify "^MAINPID=$pid\$"
	wait_sheath_ready srv 2
	assert_hello "$SRV_ADDR"
	kill -HUP "$pid"
	wait_notify '^RELOADING=1$'
	wait_notify '^READY=1$' "$SEQ"
	assert_hello "$SRV_ADDR"
	kill -TERM "$pid"
	wait_notify '^STOPPING=1$'
	wait_child_exit srv 8
	assert_equal "$EXIT_STATUS" 0
	# every notification came from the supervisor (NotifyAccess=main)
	run awk -v p="$pid" '$2 != p && $2 != "-" { print }' "$NOTIFY"
	assert_output ""
	# and READY=1 exactly twice: start and reload
	assert_equal "$(grep -c ' READY=1$' "$NOTIFY")" 2
}

@test "no NOTIFY_SOCKET: nothing is sent, sheath starts as usual" {
	start_backend
	start_notify
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	assert_hello "$SRV_ADDR"
	kill -HUP "$(pid_of srv)"
	wait_until 5 "the reload" reload_done "$SRV_LOG" 1
	sleep 0.2
	assert_equal "$(cat "$NOTIFY" 2>/dev/null)" ""
}

# ---------------------------------------------------------------------------
# socket activation

# start_activated NAME FDNAME CONF [EXTRA_SOCKET_ACTIVATE_ARGS...]: run sheath
# -f -c CONF under systemd-socket-activate listening on $SRV_ADDR; sheath is
# exec'd on the first connection, in the same process (so its exit status
# is checked at teardown like start_sheath's).
start_activated() {
	local name=$1 fdname=$2 conf=$3
	shift 3
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed (package systemd)"
	start_bg "$name" systemd-socket-activate -l "$SRV_ADDR" --fdname="$fdname" "$@" "$SHEATH" -f -c "$conf"
	sed -i "s/^bg $name /sheath $name /" "$BATS_TEST_TMPDIR/.pids"
	wait_for_port "$SRV_PORT"
}

@test "socket activation: the service named by FileDescriptorName uses the passed socket, not its accept address" {
	start_backend
	local own
	own=$(free_port)
	write_conf "$SRV_CONF" "$(server_svc srv "127.0.0.1:$own" "$BE_ADDR")"
	start_activated srv srv "$SRV_CONF"
	! grep -q 'listening on' "$SRV_LOG" || fail "sheath ran before the first connection"
	# the first connection starts sheath, which accepts it on the passed socket
	assert_hello "$SRV_ADDR"
	local pid
	pid=$(pid_of srv)
	assert_equal "$(tr -d '\0' <"/proc/$pid/cmdline")" "$SHEATH-f-c$SRV_CONF"
	wait_for_log "$SRV_LOG" "service srv: listening on $SRV_ADDR \(server mode, socket from systemd\)"
	! port_listening "$own" || fail "the service bound its own accept port $own as well"
	assert_hello "$SRV_ADDR"

	# a reload keeps the passed socket, and still does not bind $own
	kill -HUP "$pid"
	wait_until 5 "the reload" reload_done "$SRV_LOG" 1
	grep -q 'configuration reloaded: 1 service' "$SRV_LOG" || fail "reload failed"
	assert_hello "$SRV_ADDR"
	! port_listening "$own" || fail "port $own listening after the reload"

	# SIGTERM: the passed socket is closed too, exit 0
	kill -TERM "$pid"
	wait_child_exit srv 5
	assert_equal "$EXIT_STATUS" 0
	! port_listening "$SRV_PORT" || fail "the passed socket is still listening"
}

@test "socket activation: a passed socket whose name matches no service is closed with a warning" {
	start_backend
	local own
	own=$(free_port)
	write_conf "$SRV_CONF" "$(server_svc srv "127.0.0.1:$own" "$BE_ADDR")"
	start_activated srv nosuchservice "$SRV_CONF"
	# the connection that starts sheath is on a socket sheath does not use
	run "$PY" "$TOOLS/probe.py" --connect "$SRV_ADDR" --timeout 5
	wait_sheath_ready srv
	wait_for_log "$SRV_LOG" 'warning: socket activation: no service named "nosuchservice"'
	wait_for_log "$SRV_LOG" "service srv: listening on 127.0.0.1:$own \(server mode\)"
	assert_hello "127.0.0.1:$own"
	wait_until 3 "the passed socket to close" eval '! port_listening '"$SRV_PORT"
}

@test "socket activation with workers = 2: both workers serve the passed socket" {
	start_backend
	local own
	own=$(free_port)
	CONF_GLOBALS='workers = 2;' write_conf "$SRV_CONF" "$(server_svc srv "127.0.0.1:$own" "$BE_ADDR")"
	start_activated srv srv "$SRV_CONF"
	assert_hello "$SRV_ADDR"
	wait_sheath_ready srv 2
	grep -q 'socket from systemd' "$SRV_LOG" || fail "no 'socket from systemd'"
	local i
	for i in 1 2 3 4 5 6; do assert_hello "$SRV_ADDR"; done
	! port_listening "$own" || fail "the service bound its own accept port $own as well"
	kill -HUP "$(pid_of srv)"
	wait_until 5 "the reload" reload_done "$SRV_LOG" 1
	for i in 1 2 3; do assert_hello "$SRV_ADDR"; done
	kill -TERM "$(pid_of srv)"
	wait_child_exit srv 8
	assert_equal "$EXIT_STATUS" 0
}
