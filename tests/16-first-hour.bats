#!/usr/bin/env bats
# 16-first-hour.bats -- what a person meets in the first hour: --make-pair,
# the hints for misspelt keys, workers = "auto", the defaults that keep
# sessions alive (timeout_idle, TCP keepalive), and the permissions of the
# unix sockets sheath creates.

load 'helpers/common'

# make_pair DIR ARGS...: sheath --make-pair DIR ARGS..., which must succeed.
make_pair() {
	run "$SHEATH" --make-pair "$@"
	assert_success
}

# install_host SRC ETC: copy a host directory of --make-pair into ETC as
# the printed instructions say (cp -r SRC/. ETC/).
install_host() {
	mkdir -p "$2"
	cp -r "$1/." "$2/"
}

@test "--make-pair: both ends from the generated directories move data byte-exact" {
	pair_setup
	local dir=$BATS_TEST_TMPDIR/pair etc=$BATS_TEST_TMPDIR/etc
	# No other program is needed: PATH holds nothing.
	run env PATH=/nonexistent "$SHEATH" --make-pair "$dir" --name db \
		--server-accept "$SRV_ADDR" --backend "$BE_ADDR" \
		--client-accept "$CLI_ADDR" --etc "$etc"
	assert_success
	# What it prints is what to do next.
	assert_output --partial "cp -r $dir/server/. $etc/"
	assert_output --partial "sheath -t -c $etc/conf.d/db-server.conf"
	assert_output --partial "systemctl enable --now sheath"
	install_host "$dir/server" "$etc"
	install_host "$dir/client1" "$etc"
	for end in server client1; do
		run "$SHEATH" -t -c "$etc/conf.d/db-$end.conf"
		assert_success
		assert_output "configuration ok"
	done
	# The configs name their files by absolute paths under --etc.
	grep -q "cert = \"$etc/tls/db-server.crt\";" "$etc/conf.d/db-server.conf"
	grep -q 'allow_cn = \[ "db-client1" \];' "$etc/conf.d/db-server.conf"
	grep -q 'verify_name = "localhost";' "$etc/conf.d/db-client1.conf"

	start_counting_backend --echo
	start_sheath srv -c "$etc/conf.d/db-server.conf"
	start_sheath cli -c "$etc/conf.d/db-client1.conf"
	wait_sheath_ready srv
	wait_sheath_ready cli
	run "$PY" "$TOOLS/sender.py" --connect "$CLI_ADDR" --size 1M --seed 16 --timeout 30
	assert_success
	assert_equal "$(kv sent "$output")" 1048576
	assert_equal "$(kv recv "$output")" 1048576
	assert_equal "$(kv recv_sha256 "$output")" "$(kv sent_sha256 "$output")"
	wait_for_file "$REC/conn-1"
	assert_equal "$(kv sha256 "$(cat "$REC/conn-1")")" "$(kv sent_sha256 "$output")"
}

@test "--make-pair: certificates pass openssl verify for their purpose only" {
	command -v openssl >/dev/null || skip "openssl not installed"
	local dir=$BATS_TEST_TMPDIR/pair
	make_pair "$dir" --backend 127.0.0.1:5432 --clients 2 --server-name db.example.net
	local ca=$dir/ca/ca.crt
	run openssl verify -purpose sslserver -CAfile "$ca" "$dir/server/tls/tunnel-server.crt"
	assert_success
	for k in 1 2; do
		run openssl verify -purpose sslclient -CAfile "$ca" "$dir/client$k/tls/tunnel-client$k.crt"
		assert_success
		# the CA each host gets is the CA that signed
		cmp "$ca" "$dir/client$k/tls/ca.crt"
	done
	cmp "$ca" "$dir/server/tls/ca.crt"
	# serverAuth and clientAuth are not interchangeable
	run openssl verify -purpose sslclient -CAfile "$ca" "$dir/server/tls/tunnel-server.crt"
	assert_failure
	run openssl verify -purpose sslserver -CAfile "$ca" "$dir/client1/tls/tunnel-client1.crt"
	assert_failure
	# ECDSA P-256, the --server-name SAN, the client CN
	run openssl x509 -noout -text -in "$dir/server/tls/tunnel-server.crt"
	assert_output --partial "NIST CURVE: P-256"
	assert_output --partial "DNS:db.example.net"
	run openssl x509 -noout -subject -in "$dir/client2/tls/tunnel-client2.crt"
	assert_output "subject=CN = tunnel-client2"
	run openssl pkey -noout -text -in "$dir/client2/tls/tunnel-client2.key"
	assert_success
	assert_output --partial "NIST CURVE: P-256"
}

@test "--make-pair: layout, modes, --days, --clients, allow_cn" {
	local dir=$BATS_TEST_TMPDIR/pair
	make_pair "$dir" --backend unix:/run/app.sock --clients 3 --days 30 \
		--server-accept 0.0.0.0:9443 --server-name 192.0.2.7
	local expect=(
		"700 ca" "644 ca/ca.crt" "600 ca/ca.key"
		"750 server/tls" "644 server/conf.d/tunnel-server.conf"
		"644 server/tls/ca.crt" "644 server/tls/tunnel-server.crt"
		"600 server/tls/tunnel-server.key"
	)
	for k in 1 2 3; do
		expect+=("750 client$k/tls" "644 client$k/conf.d/tunnel-client$k.conf"
			"644 client$k/tls/tunnel-client$k.crt" "600 client$k/tls/tunnel-client$k.key")
	done
	local e
	for e in "${expect[@]}"; do
		assert_equal "$(cd "$dir" && stat -c '%a %n' "${e#* }")" "$e"
	done
	[ ! -e "$dir/client4" ]
	grep -q 'allow_cn = \[ "tunnel-client1", "tunnel-client2", "tunnel-client3" \];' \
		"$dir/server/conf.d/tunnel-server.conf"
	grep -q 'connect = "unix:/run/app.sock";' "$dir/server/conf.d/tunnel-server.conf"
	# --server-connect defaults to --server-name and the accept port
	grep -q 'connect = "192.0.2.7:9443";' "$dir/client2/conf.d/tunnel-client2.conf"
	run certtool -i --infile "$dir/server/tls/tunnel-server.crt"
	assert_output --partial "IPAddress: 192.0.2.7"
	# --days 30: expires 30 days from now (within a minute)
	local end
	end=$(date -d "$(openssl x509 -noout -enddate -in "$dir/client3/tls/tunnel-client3.crt" | cut -d= -f2)" +%s)
	(( end - $(date +%s) > 30 * 86400 - 60 && end - $(date +%s) <= 30 * 86400 ))
	# the default --etc is absolute
	grep -Eq 'ca = "/[^"]*/sheath/tls/ca.crt";' "$dir/server/conf.d/tunnel-server.conf"
}

@test "--make-pair: --etc relative is made absolute; --server-connect is used as given" {
	cd "$BATS_TEST_TMPDIR"
	make_pair pair --backend 127.0.0.1:1 --etc rel/etc/ --server-connect gw.example.net:443
	grep -q "key = \"$BATS_TEST_TMPDIR/rel/etc/tls/tunnel-client1.key\";" pair/client1/conf.d/tunnel-client1.conf
	grep -q 'connect = "gw.example.net:443";' pair/client1/conf.d/tunnel-client1.conf
}

@test "--make-pair: a non-empty DIR or a missing --backend writes nothing (exit 1)" {
	local dir=$BATS_TEST_TMPDIR/full
	mkdir -p "$dir"
	echo keep >"$dir/file"
	run "$SHEATH" --make-pair "$dir" --backend 127.0.0.1:1
	assert_failure 1
	assert_output --partial "not empty"
	assert_equal "$(ls -A "$dir")" file

	run "$SHEATH" --make-pair "$BATS_TEST_TMPDIR/new"
	assert_failure 1
	assert_output --partial "--backend"
	[ ! -e "$BATS_TEST_TMPDIR/new" ]

	run "$SHEATH" --make-pair "$BATS_TEST_TMPDIR/new" --backend nonsense
	assert_failure 1
	[ ! -e "$BATS_TEST_TMPDIR/new" ]
	run "$SHEATH" --make-pair "$BATS_TEST_TMPDIR/new" --backend 127.0.0.1:1 --days 0
	assert_failure 1
	[ ! -e "$BATS_TEST_TMPDIR/new" ]
	run "$SHEATH" --make-pair "$BATS_TEST_TMPDIR/new" --backend 127.0.0.1:1 --name 'a b'
	assert_failure 1
	[ ! -e "$BATS_TEST_TMPDIR/new" ]
	# an empty directory is fine
	mkdir "$BATS_TEST_TMPDIR/empty"
	make_pair "$BATS_TEST_TMPDIR/empty" --backend 127.0.0.1:1
	[ -f "$BATS_TEST_TMPDIR/empty/server/tls/tunnel-server.key" ]
}

@test "--make-pair: an unknown option or a missing value is a command-line error (exit 2)" {
	run "$SHEATH" --make-pair "$BATS_TEST_TMPDIR/x" --backend 127.0.0.1:1 --mode server
	assert_failure 2
	run "$SHEATH" --make-pair "$BATS_TEST_TMPDIR/x" --backend
	assert_failure 2
	[ ! -e "$BATS_TEST_TMPDIR/x" ]
}

# ---------------------------------------------------------------------------
# misspelt keys

@test "an unknown key close to a known one names it, in a file" {
	local conf=$BATS_TEST_TMPDIR/typo.conf
	cat >"$conf" <<-EOF
		include_dir = "";
		log_levl = "info";
		services = ( {
		  name = "t"; mode = "bridge"; accept = "127.0.0.1:1"; connect = "127.0.0.1:2";
		  cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ca = "$CERTS/ca.crt";
		  verfy = "require";
		  Allow-CN = [ "x" ];
		  timout_idle = 5;
		  shutdown_timeout = 3;
		  frobnicate = 1;
		  upstream = { ca = "$CERTS/ca.crt"; verify_nmae = "localhost"; };
		} );
		sevrices = ();
	EOF
	run "$SHEATH" -t -c "$conf"
	assert_failure 1
	assert_line "sheath: $conf:2: log_levl: unknown key (did you mean log_level?)"
	assert_line "sheath: $conf:6: verfy: unknown key (did you mean verify?)"
	assert_line "sheath: $conf:7: Allow-CN: unknown key (did you mean allow_cn?)"
	assert_line "sheath: $conf:8: timout_idle: unknown key (did you mean timeout_idle?)"
	assert_line "sheath: $conf:9: shutdown_timeout: unknown key (a global key: set it outside \`services\`)"
	assert_line "sheath: $conf:10: frobnicate: unknown key"
	assert_line "sheath: $conf:11: verify_nmae: unknown key in upstream (did you mean verify_name?)"
	assert_line "sheath: $conf:13: sevrices: unknown key (did you mean services?)"
}

@test "an unknown option close to a key names it, on the command line" {
	run "$SHEATH" --mode server --verfy require
	assert_failure 2
	assert_line "sheath: unknown option --verfy (did you mean --verify?)"
	run "$SHEATH" --timout-idle=5
	assert_failure 2
	assert_line "sheath: unknown option --timout-idle (did you mean --timeout-idle?)"
	run "$SHEATH" --upstream-verfy-name x
	assert_failure 2
	assert_line "sheath: unknown option --upstream-verfy-name (did you mean --upstream-verify-name?)"
	run "$SHEATH" --frobnicate x
	assert_failure 2
	assert_line "sheath: unknown option --frobnicate"
}

# ---------------------------------------------------------------------------
# workers = "auto"

# auto_conf FILE: a server service with workers = "auto".
auto_conf() {
	CONF_GLOBALS='workers = "auto";' write_conf "$1" \
		"$(server_svc srv "127.0.0.1:$(free_port)" 127.0.0.1:1)"
}

# nchildren PID: how many live children PID has.
nchildren() {
	local c n=0
	for c in $(pgrep -P "$1"); do
		alive "$c" && n=$((n + 1))
	done
	echo "$n"
}

nchildren_is() { [[ $(nchildren "$1") == "$2" ]]; }

@test "workers = \"auto\": -T shows it as written, and the dump fed back gives the same dump" {
	local conf=$BATS_TEST_TMPDIR/auto.conf
	auto_conf "$conf"
	run "$SHEATH" -T -c "$conf"
	assert_success
	assert_line 'workers = "auto";'
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/dump1.conf"
	run "$SHEATH" -T -c "$BATS_TEST_TMPDIR/dump1.conf"
	assert_success
	assert_equal "$output" "$(cat "$BATS_TEST_TMPDIR/dump1.conf")"
	# a number stays a number
	sed -i 's/^workers = .*/workers = 3;/' "$conf"
	run "$SHEATH" -T -c "$conf"
	assert_line 'workers = 3;'
	sed -i 's/^workers = .*/workers = "many";/' "$conf"
	run "$SHEATH" -t -c "$conf"
	assert_failure 1
	assert_output --partial 'workers: must be an integer from 1 to 64 or "auto"'
}

@test "workers = \"auto\" runs one worker per CPU the process may use" {
	command -v taskset >/dev/null || skip "taskset not installed"
	"$PY" -c 'import os, sys; sys.exit(len(os.sched_getaffinity(0)) < 2)' ||
		skip "fewer than 2 CPUs usable"
	local one=$BATS_TEST_TMPDIR/one.conf two=$BATS_TEST_TMPDIR/two.conf
	auto_conf "$one"
	auto_conf "$two"
	# One CPU: one worker (under the sandbox's supervisor).
	start_bg one taskset -c 0 "$SHEATH" -f -c "$one"
	wait_for_log "$BATS_TEST_TMPDIR/one.log" "started"
	grep -q 'started (GnuTLS [^)]*) with 1 worker$' "$BATS_TEST_TMPDIR/one.log" ||
		fail "not one worker: $(cat "$BATS_TEST_TMPDIR/one.log")"
	assert_equal "$(nchildren "$(pid_of one)")" 1
	# Two CPUs: a supervisor and two workers.
	start_bg two taskset -c 0,1 "$SHEATH" -f -c "$two"
	wait_until 10 "2 workers" nchildren_is "$(pid_of two)" 2
	wait_for_log "$BATS_TEST_TMPDIR/two.log" "listening on"
	assert_equal "$(nchildren "$(pid_of one)")" 1
}

# ---------------------------------------------------------------------------
# defaults that keep sessions alive

# timer_of NAME FILTER: the timer field (timer:(...)) of sheath NAME's
# established TCP socket that matches the ss FILTER, or nothing.
timer_of() {
	ss -tnoHp state established "$2" | grep "pid=$(serving_pid "$1")," |
		grep -o 'timer:([^)]*)' || true
}

# hold NAME ADDR: one echoed connection through ADDR, held open.
hold() {
	start_bg "$1" "$PY" "$TOOLS/hold-conns.py" --connect "$2" --max 1 --probe-timeout 5 \
		--state-file "$BATS_TEST_TMPDIR/$1.state" --stop-file "$BATS_TEST_TMPDIR/$1.stop" \
		--timeout 60
	wait_for_file "$BATS_TEST_TMPDIR/$1.state" 20
	assert_equal "$(kv held "$(cat "$BATS_TEST_TMPDIR/$1.state")")" 1
}

@test "timeout_idle defaults to 43200 s and tcp_keepalive to 300 s" {
	local conf=$BATS_TEST_TMPDIR/d.conf
	write_conf "$conf" "$(server_svc d 127.0.0.1:1 127.0.0.1:2)"
	run "$SHEATH" -T -c "$conf"
	assert_success
	assert_line --regexp '^    timeout_idle = 43200(\.0)?;$'
	assert_line '    tcp_keepalive = 300;'
	run "$SHEATH" --mode server --accept 127.0.0.1:1 --connect 127.0.0.1:2 \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" \
		--tcp-keepalive 40000 -t
	assert_failure 1
	assert_output --partial "tcp_keepalive: must be an integer from 0 to 32767"
}

@test "TCP keepalive probes run on the accepted and the connect-side sockets; 0 turns them off" {
	command -v ss >/dev/null || skip "ss (iproute2) not installed"
	pair_setup
	start_counting_backend --echo
	start_srv		# default tcp_keepalive = 300
	start_cli tcp_keepalive=100
	local cli2_port
	cli2_port=$(free_port)
	write_conf "$BATS_TEST_TMPDIR/cli2.conf" \
		"$(client_svc cli2 "127.0.0.1:$cli2_port" "$SRV_ADDR" tcp_keepalive=0)"
	start_sheath cli2 -c "$BATS_TEST_TMPDIR/cli2.conf"
	wait_sheath_ready cli2
	hold held "$CLI_ADDR"
	hold held2 "127.0.0.1:$cli2_port"

	# cli: accepted from the application, connected to srv: 100 s
	run timer_of cli "sport = :$CLI_PORT"
	assert_output --regexp '^timer:\(keepalive,1min[0-9]+sec,0\)$'
	run timer_of cli "dport = :$SRV_PORT"
	assert_output --regexp '^timer:\(keepalive,1min[0-9]+sec,0\)$'
	# srv: both accepted TLS connections and both to the backend: 300 s
	run timer_of srv "sport = :$SRV_PORT"
	assert_equal "${#lines[@]}" 2
	for l in "${lines[@]}"; do
		[[ $l =~ ^timer:\(keepalive,4min[0-9]+sec,0\)$ ]] || fail "srv accepted: $l"
	done
	run timer_of srv "dport = :$BE_PORT"
	assert_equal "${#lines[@]}" 2
	for l in "${lines[@]}"; do
		[[ $l =~ ^timer:\(keepalive,4min[0-9]+sec,0\)$ ]] || fail "srv to backend: $l"
	done
	# cli2: tcp_keepalive = 0, no keepalive timer on either socket
	run timer_of cli2 "sport = :$cli2_port"
	refute_output --partial keepalive
	run timer_of cli2 "dport = :$SRV_PORT"
	refute_output --partial keepalive
	# ... but its connection is there
	run sh -c "ss -tnoHp state established 'dport = :$SRV_PORT' | grep -c 'pid=$(serving_pid cli2),'"
	assert_output 1
	touch "$BATS_TEST_TMPDIR/held.stop" "$BATS_TEST_TMPDIR/held2.stop"
}

# ---------------------------------------------------------------------------
# unix sockets: unix_mode, unix_group

gone() { ! alive "$1"; }

# unix_conf FILE ACCEPT METRICS [SERVICE LINES] [GLOBAL LINES]: a server
# service on unix:ACCEPT, metrics on unix:METRICS.
unix_conf() {
	cat >"$1" <<-EOF
		log_level = "info";
		include_dir = "";
		shutdown_timeout = 2;
		metrics = "unix:$3";
		${5:-}
		services = ( {
		  name = "u"; mode = "server"; accept = "unix:$2"; connect = "127.0.0.1:1";
		  cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ca = "$CERTS/ca.crt";
		  ${4:-}
		} );
	EOF
}

@test "unix_mode, unix_group: accept and metrics sockets have them from the moment they appear" {
	getent group nogroup >/dev/null || skip "no group nogroup"
	local a=$SOCKDIR/a.sock m=$SOCKDIR/m.sock conf=$BATS_TEST_TMPDIR/u.conf
	local stop=$BATS_TEST_TMPDIR/stop
	start_bg watch_a "$PY" "$TOOLS/watch-mode.py" --path "$a" --stop-file "$stop" \
		--ready-file "$BATS_TEST_TMPDIR/ready_a"
	start_bg watch_m "$PY" "$TOOLS/watch-mode.py" --path "$m" --stop-file "$stop" \
		--ready-file "$BATS_TEST_TMPDIR/ready_m"
	wait_for_file "$BATS_TEST_TMPDIR/ready_a"
	wait_for_file "$BATS_TEST_TMPDIR/ready_m"
	unix_conf "$conf" "$a" "$m" 'unix_mode = "0600"; unix_group = "nogroup";' \
		'unix_mode = "0640"; unix_group = "nogroup";'
	# umask 000: whatever bind(2) would make of it, the files must not
	# show it.
	local old
	old=$(umask)
	umask 000
	start_sheath srv -c "$conf"
	umask "$old"
	wait_sheath_ready srv
	wait_for_unix "$m"
	touch "$stop"
	wait_exit watch_a
	wait_exit watch_m
	assert_equal "$(cat "$BATS_TEST_TMPDIR/watch_a.log")" "600 nogroup"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/watch_m.log")" "640 nogroup"
	assert_equal "$(stat -c '%a %G' "$a")" "600 nogroup"
	assert_equal "$(stat -c '%a %G' "$m")" "640 nogroup"
	# no temporary name is left behind
	assert_equal "$(ls -A "$SOCKDIR" | sort | tr '\n' ' ')" "a.sock m.sock "
}

@test "unix sockets: 0660 and the process's group by default, removed on exit" {
	local a=$SOCKDIR/a.sock m=$SOCKDIR/m.sock conf=$BATS_TEST_TMPDIR/u.conf
	unix_conf "$conf" "$a" "$m"
	# a stale socket file is replaced
	"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$a"
	start_sheath srv -c "$conf"
	wait_sheath_ready srv
	wait_for_unix "$m"
	assert_equal "$(stat -c '%a %G' "$a")" "660 $(id -gn)"
	assert_equal "$(stat -c '%a %G' "$m")" "660 $(id -gn)"
	run "$SHEATH" -T -c "$conf"
	assert_line '    unix_mode = "0660";'
	assert_line 'unix_mode = "0660";'
	kill -TERM "$(pid_of srv)"
	wait_until 10 "srv to exit" gone "$(pid_of srv)"
	[ ! -e "$a" ] || fail "$a left behind"
	[ ! -e "$m" ] || fail "$m left behind"
}

@test "unix sockets: a reload removes those no longer used and applies a new unix_mode" {
	local conf=$BATS_TEST_TMPDIR/u.conf d=$SOCKDIR
	# two services: u moves from a.sock to b.sock, k stays on k.sock
	# with a new unix_mode; metrics move from m.sock to n.sock
	write_two() { # ACCEPT_U METRICS MODE_K
		cat >"$conf" <<-EOF
			log_level = "info";
			include_dir = "";
			shutdown_timeout = 2;
			metrics = "unix:$2";
			services = (
			  $(server_svc u "unix:$1" 127.0.0.1:1),
			  { name = "k"; mode = "server"; accept = "unix:$d/k.sock"; connect = "127.0.0.1:1";
			    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ca = "$CERTS/ca.crt";
			    unix_mode = "$3"; }
			);
		EOF
	}
	write_two "$d/a.sock" "$d/m.sock" 0660
	start_sheath srv -c "$conf"
	wait_sheath_ready srv 2
	wait_for_unix "$d/m.sock"
	assert_equal "$(stat -c %a "$d/k.sock")" 660
	write_two "$d/b.sock" "$d/n.sock" 0600
	kill -HUP "$(pid_of srv)"
	wait_for_log "$BATS_TEST_TMPDIR/srv.log" 'configuration reloaded'
	wait_for_unix "$d/b.sock"
	wait_for_unix "$d/n.sock"
	[ ! -e "$d/a.sock" ] || fail "a.sock left behind by the reload"
	[ ! -e "$d/m.sock" ] || fail "m.sock left behind by the reload"
	assert_equal "$(stat -c %a "$d/k.sock")" 600
	assert_equal "$(ls -A "$d" | sort | tr '\n' ' ')" "b.sock k.sock n.sock "
	# and the kept socket still serves: the metrics endpoint answers
	run curl -sf --max-time 5 --unix-socket "$d/n.sock" http://localhost/status
	assert_success
}

@test "unix_mode, unix_group: bad values and TCP addresses are configuration errors" {
	local conf=$BATS_TEST_TMPDIR/u.conf
	unix_conf "$conf" "$SOCKDIR/a.sock" "$SOCKDIR/m.sock" 'unix_mode = "0999";'
	run "$SHEATH" -t -c "$conf"
	assert_failure 1
	assert_output --partial 'unix_mode: "0999": must be an octal mode'
	unix_conf "$conf" "$SOCKDIR/a.sock" "$SOCKDIR/m.sock" 'unix_group = "no-such-group-sheath";'
	run "$SHEATH" -t -c "$conf"
	assert_failure 1
	assert_output --partial 'unix_group: "no-such-group-sheath": no such group'
	write_conf "$conf" "$(server_svc t 127.0.0.1:1 127.0.0.1:2 unix_mode=u600)"
	run "$SHEATH" -t -c "$conf"
	assert_failure 1
	assert_output --partial 'unix_mode: applies only when `accept` is a unix:/path socket'
	CONF_GLOBALS='unix_group = "root";' write_conf "$conf" "$(server_svc t 127.0.0.1:1 127.0.0.1:2)"
	run "$SHEATH" -t -c "$conf"
	assert_failure 1
	assert_output --partial 'unix_group: applies only when `metrics` is a unix:/path socket'
	# on the command line too
	run "$SHEATH" --mode server --accept "unix:$SOCKDIR/c.sock" --connect 127.0.0.1:1 \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" \
		--unix-mode 0600 -t
	assert_success
}

# ---------------------------------------------------------------------------
# packaging and the pid file

@test "pid_file is removed at exit under chroot too" {
	[[ $(id -u) == 0 ]] || skip "chroot needs root"
	local root=$BATS_TEST_TMPDIR/root run=$BATS_TEST_TMPDIR/run
	mkdir -p "$root" "$run"
	pair_setup
	# LeakSanitizer reads /proc/PID/task at exit, which the chroot lacks
	if ldd "$SHEATH" | grep -q libasan; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
	fi
	# the single process that chroots (with the sandbox, a supervisor
	# that stays outside writes and removes the pid file)
	CONF_GLOBALS="chroot = \"$root\"; pid_file = \"$run/sheath.pid\"; sandbox = false;" \
		write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
	wait_for_file "$run/sheath.pid"
	assert_equal "$(cat "$run/sheath.pid")" "$(pid_of srv)"
	# it runs chrooted
	assert_equal "$(readlink "/proc/$(pid_of srv)/root")" "$root"
	kill -TERM "$(pid_of srv)"
	wait_until 10 "srv to exit" gone "$(pid_of srv)"
	[ ! -e "$run/sheath.pid" ] || fail "pid file left behind under chroot"
	# and one that another process wrote since is left alone
	echo 1 >"$run/sheath.pid"
	start_sheath srv2 -c "$SRV_CONF"
	wait_sheath_ready srv2
	echo 1 >"$run/sheath.pid"
	kill -TERM "$(pid_of srv2)"
	wait_until 10 "srv2 to exit" gone "$(pid_of srv2)"
	assert_equal "$(cat "$run/sheath.pid")" 1
}
