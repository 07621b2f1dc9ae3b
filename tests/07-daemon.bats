#!/usr/bin/env bats
# The daemon life cycle: daemonizing and the pid file, dropping privileges,
# SIGHUP reload, SIGTERM/SIGINT drain, SIGUSR1 log reopening, and the
# workers = N supervisor.
#
#   client --plain--> cli (mode client) --TLS--> srv (mode server) --plain--> backend

load 'helpers/common'

setup() {
	common_setup
	pair_setup
}

# ---------------------------------------------------------------------------
# helpers of this file

# set_shutdown_timeout FILE SECONDS: write_conf always writes 2.
set_shutdown_timeout() {
	sed -i "s/^shutdown_timeout = 2;/shutdown_timeout = $2;/" "$1"
}

dead() { ! alive "$1"; }

# children PID: the PIDs of PID's live children, sorted, on one line.
children() {
	local c out=()
	for c in $(pgrep -P "$1" | sort -n); do
		alive "$c" && out+=("$c")
	done
	echo "${out[*]}"
}
nchildren_is() { # PID N
	local c
	c=($(children "$1"))
	((${#c[@]} == $2))
}

# log_count FILE REGEX
log_count() {
	grep -Ec -- "$2" "$1" 2>/dev/null || true
}
log_count_is() { [[ $(log_count "$1" "$2") == "$3" ]]; }

# tls_hello ADDR [ARGS...]: a TLS client (client1) that sends "hello" and
# expects it echoed; prints the tls-peer.py line.
tls_hello() {
	local addr=$1
	shift
	"$PY" "$TOOLS/tls-peer.py" client --connect "$addr" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client.crt" --key "$CERTS/client.key" --data hello \
		--expect 5 --clean-close --timeout 10 "$@"
}

# assert_hello ADDR: one echo round trip over TLS works; prints the peer.
assert_hello() {
	run tls_hello "$1"
	assert_success
	assert_equal "$(kv handshake "$output")" ok
	assert_equal "$(kv recv "$output")" 5
}

# assert_server_cn ADDR CN: a TLS handshake with ADDR shows server
# certificate CN (whatever the backend then sends).
assert_server_cn() {
	run tls_hello "$1"
	assert_success
	assert_equal "$(kv handshake "$output")" ok
	assert_equal "$(kv peer "$output")" "CN=$2"
}

# plain_hello ADDR: a plaintext round trip (through the client half).
plain_hello() {
	run "$PY" "$TOOLS/probe.py" --connect "$1" --send hello --shut-wr --timeout 10
	assert_success
	assert_output --regexp '^eof recv=5 '
}

# gen_server_cert DIR NAME CN: a server certificate from CA1 for localhost
# and 127.0.0.1 in DIR/NAME.crt and DIR/NAME.key (mode 600).
gen_server_cert() {
	local dir=$1 name=$2 cn=$3
	printf '%s\n' "cn = \"$cn\"" "serial = $RANDOM$RANDOM" 'expiration_days = 30' \
		'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'tls_www_server' \
		'signing_key' >"$dir/$name.tmpl"
	(umask 077 && certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
		--outfile "$dir/$name.key.new" >/dev/null 2>&1) || fail "certtool privkey"
	certtool --generate-certificate --load-privkey "$dir/$name.key.new" \
		--load-ca-certificate "$CERTS/ca.crt" --load-ca-privkey "$CERTS/ca.key" \
		--template "$dir/$name.tmpl" --outfile "$dir/$name.crt.new" >/dev/null 2>&1 ||
		fail "certtool certificate"
	mv -f "$dir/$name.key.new" "$dir/$name.key"
	mv -f "$dir/$name.crt.new" "$dir/$name.crt"
	rm -f "$dir/$name.tmpl"
}

# reload NAME: SIGHUP sheath NAME and wait for the outcome line; N counts
# the reloads of this process so far (the Nth outcome is waited for).
reload() {
	local name=$1 n=$2 log=$BATS_TEST_TMPDIR/$1.log
	kill -HUP "$(pid_of "$name")"
	wait_until 10 "reload $n of $name" reload_done "$log" "$n"
}
reload_done() {
	(($(log_count "$1" 'configuration reloaded: |reload failed; the previous configuration stays in force') >= $2))
}

# port_refuses PORT: a TCP connect to 127.0.0.1:PORT is refused.
port_refuses() {
	! "$PY" -c '
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except ConnectionRefusedError:
    sys.exit(1)
sys.exit(0)' "$1"
}

# listen_inode PORT: the inode of the socket listening on 127.0.0.1:PORT.
listen_inode() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10; exit }' /proc/net/tcp
}

# forget_pid NAME: teardown need not stop NAME (a daemon seen dead; not our
# child, it may stay a zombie until PID 1 reaps it).
forget_pid() {
	sed -i "/^[a-z]* $1 /d" "$BATS_TEST_TMPDIR/.pids"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_child_exit NAME TIMEOUT: wait for sheath NAME (our child) to exit;
# sets EXIT_STATUS and EXIT_MS (when it was seen gone).
wait_child_exit() {
	local pid deadline=$((SECONDS + $2))
	pid=$(pid_of "$1")
	while alive "$pid"; do
		((SECONDS < deadline)) || fail "$1 (pid $pid) still running after $2 s"
		sleep 0.02
	done
	EXIT_MS=$(now_ms)
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
}

# ---------------------------------------------------------------------------
# daemonizing, pid file

@test "daemonizes without -f: parent returns 0 when serving, pid file written, SIGTERM removes it" {
	start_counting_backend --echo
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	local pidfile=$BATS_TEST_TMPDIR/run/sheath.pid logfile=$BATS_TEST_TMPDIR/daemon-file.log
	mkdir -p "$BATS_TEST_TMPDIR/run"
	sed -i "1i pid_file = \"$pidfile\";\nlog = \"$logfile\";" "$SRV_CONF"
	local status=0
	timeout 20 "$SHEATH" -c "$SRV_CONF" >"$BATS_TEST_TMPDIR/parent.out" 2>&1 3>&- </dev/null || status=$?
	assert_equal "$status" 0
	# the parent returned: the pid file is complete and the daemon serves,
	# with no waiting
	[[ -f $pidfile ]] || fail "no pid file right after the parent returned"
	local pid
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || fail "pid file holds '$pid'"
	_record_pid sheath daemon "$pid"
	alive "$pid" || fail "pid $pid from the pid file is not running"
	assert_equal "$(tr -d '\0' <"/proc/$pid/cmdline")" "$SHEATH-c$SRV_CONF"
	port_listening "$SRV_PORT" || fail "not listening right after the parent returned"
	# the temporary file of the atomic rename is gone
	assert_equal "$(ls "$BATS_TEST_TMPDIR/run")" sheath.pid
	# detached: its own session, standard streams on /dev/null, nothing
	# printed by the parent
	assert_equal "$(awk '{ print $6 }' "/proc/$pid/stat")" "$pid"
	assert_equal "$(readlink "/proc/$pid/fd/0")" /dev/null
	assert_equal "$(readlink "/proc/$pid/fd/2")" /dev/null
	assert_equal "$(cat "$BATS_TEST_TMPDIR/parent.out")" ""
	assert_hello "$SRV_ADDR"
	wait_for_log "$logfile" "sheath\[$pid\]: notice: sheath .* started"

	kill -TERM "$pid"
	wait_until 10 "daemon $pid to exit" dead "$pid"
	forget_pid daemon
	[[ ! -e $pidfile ]] || fail "pid file still there after SIGTERM"
	! port_listening "$SRV_PORT" || fail "port still listening after exit"
	wait_for_log "$logfile" "sheath\[$pid\]: notice: stopped"
}

@test "daemonizing: a start-up failure after the fork makes the parent exit 1" {
	start_counting_backend --echo
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	# the pid file is written by the daemon: a missing directory fails there
	sed -i "1i pid_file = \"$BATS_TEST_TMPDIR/no/such/dir/sheath.pid\";\nlog = \"$BATS_TEST_TMPDIR/daemon-file.log\";" "$SRV_CONF"
	local status=0
	timeout 20 "$SHEATH" -c "$SRV_CONF" >"$BATS_TEST_TMPDIR/parent.out" 2>&1 3>&- </dev/null || status=$?
	assert_equal "$status" 1
	grep -q 'cannot write pid file' "$BATS_TEST_TMPDIR/daemon-file.log" ||
		fail "no 'cannot write pid file' in the log"
	# nothing keeps running: the port is free again
	wait_until 5 "port $SRV_PORT to close" eval '! port_listening '"$SRV_PORT"
	run pgrep -f -- "-c $SRV_CONF"
	assert_failure
}

@test "a bad user name: exit 1 with the name in the message, with and without -f" {
	start_counting_backend --echo
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	sed -i '1i user = "no-such-user-sheath";' "$SRV_CONF"
	run timeout 20 "$SHEATH" -f -c "$SRV_CONF" 3>&-
	assert_equal "$status" 1
	assert_output --partial 'no-such-user-sheath'
	local status=0
	timeout 20 "$SHEATH" -c "$SRV_CONF" >"$BATS_TEST_TMPDIR/parent.out" 2>&1 3>&- </dev/null || status=$?
	assert_equal "$status" 1
	grep -q 'no-such-user-sheath' "$BATS_TEST_TMPDIR/parent.out" ||
		fail "the daemonizing parent's output does not name the user: $(cat "$BATS_TEST_TMPDIR/parent.out")"
	wait_until 5 "port $SRV_PORT to close" eval '! port_listening '"$SRV_PORT"
	# a bad group too
	sed -i 's/^user = .*/group = "no-such-group-sheath";/' "$SRV_CONF"
	run timeout 20 "$SHEATH" -f -c "$SRV_CONF" 3>&-
	assert_equal "$status" 1
	assert_output --partial 'no-such-group-sheath'
}

# ---------------------------------------------------------------------------
# user and group

# A privileged port (< 1024) nothing listens on, or nothing.
free_low_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((700 + RANDOM % 300))
		port_listening "$p" && continue
		"$PY" -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null || continue
		echo "$p"
		return 0
	done
	return 1
}

@test "user/group, sandbox = false (one process): drops to nobody:nogroup after binding (a port < 1024 too); relays; reload reads world-readable files" {
	[[ $(id -u) == 0 ]] || skip "needs root to drop privileges"
	getent passwd nobody >/dev/null && getent group nogroup >/dev/null || skip "no nobody/nogroup"
	local low uid
	low=$(free_low_port) || skip "no free port below 1024"
	uid=$(id -u nobody)
	start_counting_backend --echo
	# After the drop, a reload reads the config, certificates and keys as
	# nobody: they must be readable by it (here world-readable copies in a
	# world-traversable directory; the key draws the readable-by-others
	# warning, which is expected). A key only root can read makes the
	# reload fail and the previous configuration stays in force.
	local d=$SOCKDIR/tls
	chmod 755 "$SOCKDIR"
	mkdir -m 755 "$d"
	cp "$CERTS/server.crt" "$CERTS/ca.crt" "$d/"
	cp "$CERTS/server.key" "$d/srv.key"
	cp "$CERTS/server.crt" "$d/srv.crt"
	chmod 644 "$d"/*
	local conf=$d/srv.conf
	# One process that reloads itself; with the sandbox (the default) a
	# supervisor reloads as root instead (15-sandbox.bats).
	CONF_GLOBALS='user = "nobody"; group = "nogroup"; sandbox = false;' write_conf "$conf" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR" cert="$d/srv.crt" key="$d/srv.key" ca="$d/ca.crt")" \
		"$(server_svc low "127.0.0.1:$low" "$BE_ADDR" cert="$d/srv.crt" key="$d/srv.key" ca="$d/ca.crt")"
	chmod 644 "$conf"
	start_sheath srv -c "$conf"
	wait_sheath_ready srv 2
	local pid
	pid=$(pid_of srv)
	# the status lines settle once the drop happened (it follows the bind)
	wait_for_log "$SRV_LOG" 'notice: sheath .* started'
	run grep -E '^(Uid|Gid|Groups):' "/proc/$pid/status"
	assert_line --regexp "^Uid:[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+$uid\$"
	assert_line --regexp '^Gid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534$'
	assert_line --regexp '^Groups:[[:space:]]+65534[[:space:]]*$'
	grep -q 'private key .*srv.key is readable by group or others' "$SRV_LOG" ||
		fail "no warning about the world-readable key"
	assert_hello "$SRV_ADDR"
	assert_equal "$(kv peer "$output")" CN=server
	assert_hello "127.0.0.1:$low"

	# reload as nobody with a new (world-readable) certificate
	gen_server_cert "$d" srv server-new
	chmod 644 "$d/srv.key"
	reload srv 1
	grep -q 'configuration reloaded: 2 services' "$SRV_LOG" || fail "reload as nobody failed"
	assert_hello "$SRV_ADDR"
	assert_equal "$(kv peer "$output")" CN=server-new
	# the privileged listener was carried over (nobody could not bind it)
	assert_hello "127.0.0.1:$low"

	# a key nobody cannot read: the reload fails, the old settings serve on
	gen_server_cert "$d" srv server-newer
	chmod 600 "$d/srv.key"
	reload srv 2
	grep -q 'reload failed; the previous configuration stays in force' "$SRV_LOG" ||
		fail "a reload with an unreadable key did not fail"
	assert_hello "$SRV_ADDR"
	assert_equal "$(kv peer "$output")" CN=server-new
}

@test "user = nobody, log to a file: a SIGHUP that raises log_level to info takes effect" {
	[[ $(id -u) == 0 ]] || skip "needs root to drop privileges"
	getent passwd nobody >/dev/null && getent group nogroup >/dev/null || skip "no nobody/nogroup"
	start_counting_backend --echo
	local d=$SOCKDIR/tls logfile=$SOCKDIR/srvfile.log
	chmod 755 "$SOCKDIR"
	mkdir -m 755 "$d"
	cp "$CERTS/server.crt" "$CERTS/server.key" "$CERTS/ca.crt" "$d/"
	chmod 644 "$d"/*
	local conf=$d/srv.conf
	CONF_GLOBALS="user = \"nobody\"; group = \"nogroup\"; log = \"$logfile\";" write_conf "$conf" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR" cert="$d/server.crt" key="$d/server.key" ca="$d/ca.crt")"
	sed -i 's/^log_level = "info";/log_level = "notice";/' "$conf"
	chmod 644 "$conf"
	start_sheath srv -c "$conf"
	wait_for_log "$logfile" 'notice: sheath .* started'
	assert_hello "$SRV_ADDR"
	sleep 0.3
	assert_equal "$(count_conn_lines "$logfile" srv)" 0 # info is below notice
	sed -i 's/^log_level = "notice";/log_level = "info";/' "$conf"
	kill -HUP "$(pid_of srv)"
	wait_for_log "$logfile" 'configuration reloaded: 1 service'
	assert_hello "$SRV_ADDR"
	# the log file was created by root before the drop; the reload must
	# not depend on reopening it as nobody
	wait_conn_line "$logfile" srv 1 3
}

@test "workers = 2 with a bad user name: exit 1, not a worker restart loop" {
	start_counting_backend --echo
	CONF_GLOBALS='workers = 2; user = "no-such-user-sheath";' write_conf "$SRV_CONF" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	run timeout -k 1 3 "$SHEATH" -f -c "$SRV_CONF" 3>&-
	echo "$output" | head -n 8
	assert_equal "$status" 1
	assert_output --partial 'no-such-user-sheath'
	local status=0
	sed -i "1i log = \"$BATS_TEST_TMPDIR/daemon-file.log\";" "$SRV_CONF"
	timeout -k 1 10 "$SHEATH" -c "$SRV_CONF" >"$BATS_TEST_TMPDIR/parent.out" 2>&1 3>&- </dev/null || status=$?
	if ((status == 0)); then
		# it reported success: stop what it left running
		local p
		for p in $(pgrep -f -- "-c $SRV_CONF"); do kill -TERM "$p"; done
		fail "the daemonizing parent exited 0 although no worker can start"
	fi
	assert_equal "$status" 1
}

# ---------------------------------------------------------------------------
# SIGHUP

@test "SIGHUP: a new server certificate serves new connections; a 64 MiB transfer started before finishes byte-exact" {
	local size=$((64 << 20)) d=$BATS_TEST_TMPDIR/tls
	mkdir "$d"
	cp "$CERTS/server.crt" "$d/srv.crt"
	cp "$CERTS/server.key" "$d/srv.key"
	start_counting_backend --send "$size" --seed 21
	start_srv cert="$d/srv.crt" key="$d/srv.key"
	start_cli
	# the reader stalls 2 s before reading anything: the transfer is in
	# flight (and blocked on backpressure) across the reload
	start_bg reader "$PY" "$TOOLS/slow-reader.py" --connect "$CLI_ADDR" --data go \
		--stall 2 --slow-bytes 4M --rate 8M --rcvbuf 64K --timeout 60
	wait_until 5 "the backend connection" test -e "$REC/conn-1.open"
	gen_server_cert "$d" srv server-new
	reload srv 1
	grep -q 'configuration reloaded: 1 service' "$SRV_LOG" || fail "reload failed"
	alive "$(pid_of reader)" || fail "the transfer was over before the reload finished"
	# a new connection, straight to the server half, sees the new certificate
	assert_server_cn "$SRV_ADDR" server-new
	# and one through the client half: its end line names the new server
	# (the backend sends 64 MiB to everyone: read a little, then close)
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hi --expect 1000 --timeout 10
	assert_output --regexp '^expect recv=[0-9]+ '
	wait_for_log "$CLI_LOG" 'service=cli .*identity="CN=server-new"'
	# the transfer started before the reload completes byte-exact
	wait_exit reader 60
	local out
	out=$(cat "$BATS_TEST_TMPDIR/reader.log")
	assert_equal "$(kv end "$out")" eof
	assert_equal "$(kv recv "$out")" "$size"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$(cat "$REC/conn-1")")"
	# ... over the TLS session made with the old certificate
	wait_for_log "$CLI_LOG" "service=cli .*identity=\"CN=server\" .*bytes_out=$size .*end=closed"
}

@test "SIGHUP: a broken new config is logged at error and the old one keeps serving" {
	start_counting_backend --echo
	start_srv allow_cn=client1
	start_cli
	plain_hello "$CLI_ADDR"
	local pid inode
	pid=$(pid_of srv)
	inode=$(listen_inode "$SRV_PORT")
	cp "$SRV_CONF" "$SRV_CONF.good"

	# 1. a syntax error
	echo 'services = ( { name = "x" ' >>"$SRV_CONF"
	reload srv 1
	wait_for_log "$SRV_LOG" 'error: reload failed; the previous configuration stays in force'
	grep -Eq "error: .*srv\.conf:[0-9]+" "$SRV_LOG" || fail "the error does not name the file and line"
	plain_hello "$CLI_ADDR"

	# 2. a certificate file that does not exist; the allow-list is dropped
	#    too, so a new config would let client2 in: the old one does not
	cp "$SRV_CONF.good" "$SRV_CONF"
	sed -i "s|$CERTS/server.crt|$BATS_TEST_TMPDIR/missing.crt|; s/ allow_cn = \"client1\";//" "$SRV_CONF"
	reload srv 2
	assert_equal "$(log_count "$SRV_LOG" 'reload failed; the previous configuration stays in force')" 2
	grep -q 'missing.crt' "$SRV_LOG" || fail "the error does not name the missing file"
	run "$PY" "$TOOLS/tls-peer.py" client --connect "$SRV_ADDR" --ca "$CERTS/ca.crt" \
		--cert "$CERTS/client2.crt" --key "$CERTS/client2.key" --data hello --expect 5 --timeout 10
	[[ $(kv recv "$output") == 0 ]] || fail "client2 got through, the broken config was applied: $output"
	wait_for_log "$SRV_LOG" 'service=srv .*rejected'
	assert_hello "$SRV_ADDR"

	# 3. an address that cannot be bound (in use by the backend)
	cp "$SRV_CONF.good" "$SRV_CONF"
	sed -i "s|accept = \"$SRV_ADDR\"|accept = \"$BE_ADDR\"|" "$SRV_CONF"
	reload srv 3
	assert_equal "$(log_count "$SRV_LOG" 'reload failed; the previous configuration stays in force')" 3
	plain_hello "$CLI_ADDR"

	# same process, same listening socket, never a success line
	alive "$pid" || fail "sheath died"
	assert_equal "$(listen_inode "$SRV_PORT")" "$inode"
	assert_equal "$(log_count "$SRV_LOG" 'configuration reloaded')" 0
	# and a good config afterwards is taken
	cp "$SRV_CONF.good" "$SRV_CONF"
	reload srv 4
	assert_equal "$(log_count "$SRV_LOG" 'configuration reloaded: 1 service')" 1
	plain_hello "$CLI_ADDR"
}

@test "SIGHUP: a service added starts listening, a service removed stops" {
	start_counting_backend --echo
	local a=$(free_port) b=$(free_port)
	write_conf "$SRV_CONF" "$(server_svc one "127.0.0.1:$a" "$BE_ADDR")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	assert_hello "127.0.0.1:$a"
	! port_listening "$b" || fail "port $b listens before the reload"

	write_conf "$SRV_CONF" "$(server_svc one "127.0.0.1:$a" "$BE_ADDR")" \
		"$(server_svc two "127.0.0.1:$b" "$BE_ADDR")"
	reload srv 1
	grep -q 'configuration reloaded: 2 services' "$SRV_LOG" || fail "reload failed"
	wait_for_log "$SRV_LOG" "service two: listening on 127.0.0.1:$b"
	port_listening "$b" || fail "the added service does not listen"
	assert_hello "127.0.0.1:$b"
	wait_for_log "$SRV_LOG" 'service=two .*end=closed'
	assert_hello "127.0.0.1:$a"

	write_conf "$SRV_CONF" "$(server_svc two "127.0.0.1:$b" "$BE_ADDR")"
	reload srv 2
	grep -q 'configuration reloaded: 1 service$' "$SRV_LOG" || fail "second reload failed"
	wait_until 5 "port $a to close" eval '! port_listening '"$a"
	port_refuses "$a" || fail "the removed service still accepts"
	assert_hello "127.0.0.1:$b"
}

@test "SIGHUP re-reads include_dir: a service in a new conf.d file starts listening" {
	start_counting_backend --echo
	local b=$(free_port) dir=$BATS_TEST_TMPDIR/conf.d
	mkdir "$dir"
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	sed -i "s|^include_dir = \"\";|include_dir = \"$dir\";|" "$SRV_CONF"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	echo "services = ( $(server_svc extra "127.0.0.1:$b" "$BE_ADDR") );" >"$dir/extra.conf"
	echo "services = ( $(server_svc ignored "127.0.0.1:$(free_port)" "$BE_ADDR") );" >"$dir/extra.conf.example"
	reload srv 1
	grep -q 'configuration reloaded: 2 services' "$SRV_LOG" || fail "reload failed"
	wait_for_log "$SRV_LOG" "service extra: listening on 127.0.0.1:$b"
	assert_hello "127.0.0.1:$b"
	assert_hello "$SRV_ADDR"
	rm "$dir/extra.conf"
	reload srv 2
	wait_until 5 "port $b to close" eval '! port_listening '"$b"
}

@test "SIGHUP re-reads the CRL: a revoked client is refused from then on, its open connection goes on" {
	start_counting_backend --echo
	local d=$BATS_TEST_TMPDIR/tls
	mkdir "$d"
	# an empty CRL from CA1 first
	printf '%s\n' 'crl_next_update = 30' 'crl_number = 7' >"$d/crl.tmpl"
	certtool --generate-crl --load-ca-certificate "$CERTS/ca.crt" --load-ca-privkey "$CERTS/ca.key" \
		--template "$d/crl.tmpl" --outfile "$d/crl.pem" >/dev/null 2>&1 || fail "certtool --generate-crl"
	start_srv crl="$d/crl.pem"
	start_cli cert="$CERTS/revoked.crt" key="$CERTS/revoked.key"
	plain_hello "$CLI_ADDR"
	start_bg trickle "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 8 --interval 0.25 --shut-wr --timeout 20
	wait_until 5 "the backend connection" test -e "$REC/conn-2.open"
	cp "$CERTS/crl.pem" "$d/crl.pem"
	reload srv 1
	grep -q 'configuration reloaded: 1 service' "$SRV_LOG" || fail "reload failed"
	run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hello --shut-wr --timeout 10
	[[ $output =~ ^(eof|reset)\ recv=0\  ]] || fail "a revoked client got through after the reload: $output"
	wait_for_log "$SRV_LOG" 'service=srv .*rejected: certificate revoked'
	assert_equal "$(backend_count "$COUNT")" 2
	wait_exit trickle 15
	run cat "$BATS_TEST_TMPDIR/trickle.log"
	assert_output --regexp '^eof recv=8 '
}

@test "SIGHUP: unchanged listeners are never closed; connections keep working through 8 reloads" {
	start_counting_backend --echo
	start_srv
	start_cli
	local srv_inode cli_inode
	srv_inode=$(listen_inode "$SRV_PORT")
	cli_inode=$(listen_inode "$CLI_PORT")
	[[ -n $srv_inode && -n $cli_inode ]] || fail "listening sockets not found"
	start_bg loop "$PY" "$TOOLS/connect-loop.py" --connect "$CLI_ADDR" --parallel 3 \
		--stop-file "$BATS_TEST_TMPDIR/stop" --started-file "$BATS_TEST_TMPDIR/started" --duration 30
	wait_for_file "$BATS_TEST_TMPDIR/started"
	local i
	for i in 1 2 3 4; do
		# both halves, one after the other
		reload srv "$i"
		reload cli "$i"
		sleep 0.15
	done
	touch "$BATS_TEST_TMPDIR/stop"
	wait_exit loop 20
	local out
	out=$(cat "$BATS_TEST_TMPDIR/loop.log")
	echo "connect loop: $out"
	assert_equal "$(kv refused "$out")" 0
	assert_equal "$(kv reset "$out")" 0
	assert_equal "$(kv bad "$out")" 0
	assert_equal "$(kv timeout "$out")" 0
	(($(kv ok "$out") >= 20)) || fail "only $(kv ok "$out") connections in the loop"
	assert_equal "$(log_count "$SRV_LOG" 'configuration reloaded: 1 service')" 4
	assert_equal "$(log_count "$CLI_LOG" 'configuration reloaded: 1 service')" 4
	# the very same listening sockets
	assert_equal "$(listen_inode "$SRV_PORT")" "$srv_inode"
	assert_equal "$(listen_inode "$CLI_PORT")" "$cli_inode"
}

# ---------------------------------------------------------------------------
# SIGTERM, SIGINT, SIGUSR1

# drain_within SIGNAL: a connection trickling 8 bytes over 2 s finishes
# after SIGNAL; new connections are refused at once; exit 0 once it is done.
drain_within() {
	start_counting_backend --echo
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	set_shutdown_timeout "$SRV_CONF" 10
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	start_cli
	start_bg trickle "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 8 --interval 0.25 --shut-wr --timeout 20
	wait_until 5 "the backend connection" test -e "$REC/conn-1.open"
	local t0
	t0=$(now_ms)
	kill "-$1" "$(pid_of srv)"
	wait_for_log "$SRV_LOG" 'shutting down: 1 connection to drain' 2
	# not accepting any more, at once
	wait_until 1 "port $SRV_PORT to close" eval '! port_listening '"$SRV_PORT"
	port_refuses "$SRV_PORT" || fail "still accepting after SIG$1"
	alive "$(pid_of srv)" || fail "sheath exited with a connection in flight"
	wait_exit trickle 15
	run cat "$BATS_TEST_TMPDIR/trickle.log"
	assert_output --regexp '^eof recv=8 '
	wait_child_exit srv 5
	assert_equal "$EXIT_STATUS" 0
	((EXIT_MS - t0 >= 1200)) || fail "sheath exited $((EXIT_MS - t0)) ms after SIG$1, before the trickle ended"
	((EXIT_MS - t0 < 5000)) || fail "sheath exited $((EXIT_MS - t0)) ms after SIG$1, long after the trickle ended"
	wait_conn_line "$SRV_LOG" srv
	assert_equal "$(kv end "$(conn_lines "$SRV_LOG" srv)")" closed
	grep -q 'notice: stopped' "$SRV_LOG" || fail "no 'stopped' line"
}

@test "SIGTERM: stops accepting at once, an established pair finishes, exit 0" {
	drain_within TERM
}

@test "SIGINT: the same drain as SIGTERM" {
	drain_within INT
}

@test "SIGTERM: after shutdown_timeout the remaining connections are cut, exit still 0" {
	start_counting_backend --echo
	start_srv # shutdown_timeout = 2
	start_cli
	start_bg trickle "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 40 --interval 0.25 --shut-wr --timeout 20
	wait_until 5 "the backend connection" test -e "$REC/conn-1.open"
	sleep 0.3
	local t0
	t0=$(now_ms)
	kill -TERM "$(pid_of srv)"
	wait_child_exit srv 8
	assert_equal "$EXIT_STATUS" 0
	((EXIT_MS - t0 >= 1800 && EXIT_MS - t0 < 3500)) ||
		fail "exited $((EXIT_MS - t0)) ms after SIGTERM with shutdown_timeout = 2"
	grep -q 'shutdown timeout: closing 1 connection' "$SRV_LOG" || fail "no shutdown timeout line"
	# the client side learns the stream did not end cleanly
	wait_exit trickle 10
	local out
	out=$(cat "$BATS_TEST_TMPDIR/trickle.log")
	[[ $out =~ ^(reset|eof)\  ]] || fail "trickle: $out"
	(($(kv recv "$out") < 40)) || fail "the trickle got everything: $out"
	alive "$(pid_of backend)" || fail "backend died"
}

@test "SIGUSR1 reopens the log file: after a move, new lines go to a fresh file at the same path" {
	start_counting_backend --echo
	start_cli
	local logfile=$BATS_TEST_TMPDIR/srvfile.log
	CONF_GLOBALS="log = \"$logfile\";" write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	start_sheath srv -c "$SRV_CONF"
	wait_for_log "$logfile" 'service srv: listening on'
	plain_hello "$CLI_ADDR"
	wait_conn_line "$logfile" srv 1
	mv "$logfile" "$logfile.1"
	kill -USR1 "$(pid_of srv)"
	wait_for_file "$logfile" 5
	plain_hello "$CLI_ADDR"
	wait_conn_line "$logfile" srv 1
	assert_equal "$(count_conn_lines "$logfile.1" srv)" 1
	assert_equal "$(count_conn_lines "$logfile" srv)" 1
	[[ $(head -c 1 "$logfile") == 2 ]] || fail "log file line without a time stamp: $(head -n 1 "$logfile")"
	# and SIGUSR1 with the file in place appends, it does not truncate
	kill -USR1 "$(pid_of srv)"
	plain_hello "$CLI_ADDR"
	wait_conn_line "$logfile" srv 2
	assert_equal "$(cat "$SRV_LOG")" ""
}

# ---------------------------------------------------------------------------
# workers = 2

# start_workers [KEY=VALUE...]: srv with workers = 2 (and EXTRA_GLOBALS).
start_workers() {
	CONF_GLOBALS="workers = 2; ${EXTRA_GLOBALS:-}" write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" "$@")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv 2
	wait_until 5 "2 workers" nchildren_is "$(pid_of srv)" 2
}

# workers_pair: an echo backend, srv with 2 workers and cli; sets sup (the
# supervisor), before (its worker pids) and w1, w2.
workers_pair() {
	start_counting_backend --echo
	start_workers
	start_cli
	sup=$(pid_of srv)
	before=$(children "$sup")
	read -r w1 w2 <<<"$before"
}

@test "workers = 2: two workers share the listener; kill -9 of one is logged and it is restarted" {
	local sup w1 w2 before
	workers_pair
	grep -q "sheath .* started .*with 2 workers" "$SRV_LOG" || fail "no supervisor start line"
	# the workers listen, the supervisor accepts nothing itself: 8 round
	# trips, each served by a worker
	local i
	for i in 1 2 3 4 5 6 7 8; do plain_hello "$CLI_ADDR"; done
	wait_conn_line "$SRV_LOG" srv 8
	run conn_lines "$SRV_LOG" srv
	refute_output --partial "sheath[$sup]:"

	kill -KILL "$w1"
	wait_for_log "$SRV_LOG" "sheath\[$sup\]: error: worker [01] \(pid $w1\) killed by signal 9; restarting it"
	wait_until 5 "a new worker" new_workers_are "$sup" "$before" 1
	wait_until 5 "2 workers" nchildren_is "$sup" 2
	alive "$w2" || fail "the other worker died too"
	for i in 1 2 3 4; do plain_hello "$CLI_ADDR"; done
	alive "$sup" || fail "the supervisor died"
}

@test "workers = 2: SIGHUP starts 2 new workers, the old ones finish their transfer byte-exact and exit" {
	local size=$((48 << 20))
	start_counting_backend --send "$size" --seed 31
	start_workers
	start_cli
	local sup old
	sup=$(pid_of srv)
	old=$(children "$sup")
	start_bg reader "$PY" "$TOOLS/slow-reader.py" --connect "$CLI_ADDR" --data go \
		--stall 2 --slow-bytes 4M --rate 8M --rcvbuf 64K --timeout 60
	wait_until 5 "the backend connection" test -e "$REC/conn-1.open"
	reload srv 1
	grep -q "sheath\[$sup\]: notice: configuration reloaded: 1 service" "$SRV_LOG" || fail "reload failed"
	# two new workers besides the old one that still carries the transfer
	wait_until 5 "2 new workers" new_workers_are "$sup" "$old" 2
	alive "$(pid_of reader)" || fail "the transfer was over before the reload finished"
	# of the old workers, the idle one exits, the busy one stays
	wait_until 5 "one old worker left" old_alive_is "$old" 1
	wait_for_log "$SRV_LOG" 'worker retired by a reload: 1 connection to finish'
	# new connections work meanwhile, served by the new workers (the
	# backend sends 48 MiB to everyone: read a little, then close)
	local i
	for i in 1 2 3; do
		run "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --send hi --expect 1000 --timeout 10
		assert_output --regexp '^expect recv=[0-9]+ '
	done
	wait_conn_line "$SRV_LOG" srv 3
	local p
	for p in $(conn_lines "$SRV_LOG" srv | grep -v "bytes_out=$size " | sed -E 's/^sheath\[([0-9]+)\].*/\1/'); do
		[[ " $old " != *" $p "* ]] || fail "a connection made after the reload was served by old worker $p"
	done
	wait_exit reader 60
	local out
	out=$(cat "$BATS_TEST_TMPDIR/reader.log")
	assert_equal "$(kv end "$out")" eof
	assert_equal "$(kv recv "$out")" "$size"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv recv_sha256 "$out")" "$(kv sent_sha256 "$(cat "$REC/conn-1")")"
	# the old workers are gone, two new ones remain
	for o in $old; do wait_until 5 "old worker $o to exit" dead "$o"; done
	wait_until 5 "2 workers" nchildren_is "$sup" 2
	new_workers_are "$sup" "$old" 2 || fail "workers: $(children "$sup"), old: $old"
}

# old_alive_is OLD N: N of the PIDs in OLD are alive.
old_alive_is() {
	local o n=0
	for o in $1; do alive "$o" && n=$((n + 1)); done
	((n == $2))
}

# new_workers_are SUP OLD N: SUP has N live children not in OLD.
new_workers_are() {
	local c n=0
	for c in $(children "$1"); do
		[[ " $2 " == *" $c "* ]] || n=$((n + 1))
	done
	((n == $3))
}

@test "workers = 2: SIGTERM stops the supervisor and every worker, exit 0, connections drain" {
	start_counting_backend --echo
	local pidfile=$BATS_TEST_TMPDIR/srv.pid.file
	EXTRA_GLOBALS="pid_file = \"$pidfile\";" start_workers
	start_cli
	local sup ws
	sup=$(pid_of srv)
	ws=$(children "$sup")
	# the pid file names the supervisor
	assert_equal "$(cat "$pidfile")" "$sup"
	start_bg trickle "$PY" "$TOOLS/probe.py" --connect "$CLI_ADDR" --trickle 6 --interval 0.25 --shut-wr --timeout 20
	wait_until 5 "the backend connection" test -e "$REC/conn-1.open"
	kill -TERM "$sup"
	wait_until 2 "port $SRV_PORT to close" eval '! port_listening '"$SRV_PORT"
	wait_exit trickle 10
	run cat "$BATS_TEST_TMPDIR/trickle.log"
	assert_output --regexp '^eof recv=6 '
	wait_child_exit srv 8
	assert_equal "$EXIT_STATUS" 0
	local w
	for w in $ws; do dead "$w" || fail "worker $w still running"; done
	grep -q "sheath\[$sup\]: notice: stopped" "$SRV_LOG" || fail "no 'stopped' line from the supervisor"
	[[ ! -e $pidfile ]] || fail "pid file left behind"
}

@test "workers = 2: SIGTERM to one worker alone is a warning and it is restarted; SIGTERM to the whole group is a quiet stop" {
	local sup before w1 w2
	workers_pair
	kill -TERM "$w1"
	wait_for_log "$SRV_LOG" "sheath\[$sup\]: warning: worker [01] \(pid $w1\) stopped; restarting it"
	wait_until 5 "a new worker" new_workers_are "$sup" "$before" 1
	plain_hello "$CLI_ADDR"
	# systemd's KillMode=control-group: every process of the unit at once
	local ws
	ws=$(children "$sup")
	kill -TERM "$sup" $ws
	wait_child_exit srv 8
	assert_equal "$EXIT_STATUS" 0
	local w
	for w in $ws; do dead "$w" || fail "worker $w still running"; done
	run grep -c "restarting it" "$SRV_LOG"
	assert_output 1
	run grep "sheath\[$sup\]: error" "$SRV_LOG"
	assert_failure
}

@test "workers = 2: unix socket listener and metrics socket survive a SIGHUP" {
	start_counting_backend --echo
	local sock=$SOCKDIR/srv.sock msock=$SOCKDIR/metrics.sock
	SRV_ADDR=unix:$sock
	CONF_GLOBALS="workers = 2; metrics = \"unix:$msock\";" write_conf "$SRV_CONF" \
		"$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv 2
	start_cli
	plain_hello "$CLI_ADDR"
	reload srv 1
	grep -q 'configuration reloaded: 1 service' "$SRV_LOG" || fail "reload failed"
	wait_for_log "$SRV_LOG" 'worker retired by a reload: 0 connections' 5
	sleep 0.3 # let the retired workers exit
	[[ -S $sock ]] || fail "the listening socket file $sock is gone after the reload"
	[[ -S $msock ]] || fail "the metrics socket file $msock is gone after the reload"
	plain_hello "$CLI_ADDR"
}
