# shellcheck shell=bash
# Helpers shared by every tests/*.bats file:  load 'helpers/common'
#
# Provides default setup_file/setup/teardown (a .bats file that needs its own
# calls common_setup_file / common_setup / common_teardown from it), fixture
# certificates in $CERTS (generated once per .bats file), free ports, bounded
# waits, and background processes that are always killed by PID.

if [[ -f /usr/lib/bats/bats-support/load.bash ]]; then
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
else # elsewhere: found through BATS_LIB_PATH
	bats_load_library bats-support
	bats_load_library bats-assert
fi

# make check exports both; default them for `bats tests/X.bats` by hand.
: "${TESTS_SRCDIR:=$(cd "$(dirname "$BATS_TEST_FILENAME")" && pwd)}"
: "${SHEATH:=$(cd "$TESTS_SRCDIR/.." && pwd)/src/sheath}"
export TESTS_SRCDIR SHEATH
# shellcheck disable=SC2034 # TOOLS, PY and CERTS are used by the .bats files
TOOLS=$TESTS_SRCDIR/tools
# The python interpreter itself (a version-manager shim costs 100+ ms a call);
# common_setup_file resolves and exports it once per file.
PY=${PY:-python3}
CERTS=${BATS_FILE_TMPDIR:-/nonexistent}/certs

# Seconds a sheath process gets to exit after SIGTERM before SIGKILL.
SHEATH_STOP_WAIT=${SHEATH_STOP_WAIT:-5}

# ---------------------------------------------------------------------------
# setup / teardown

common_setup_file() {
	PY=$(python3 -c 'import sys; print(sys.executable)') || return 1
	export PY
	"$TESTS_SRCDIR/gen-certs.sh" "$CERTS" ||
		{ echo "gen-certs.sh failed" >&2; return 1; }
}

common_setup() {
	[[ -x "$SHEATH" ]] || fail "sheath binary not found at $SHEATH (build it first, or set SHEATH)"
	[[ -f "$CERTS/ca.crt" ]] || common_setup_file
	: >"$BATS_TEST_TMPDIR/.pids"
	read -ra PORT_POOL < <(free_ports 16)
	echo 0 >"$BATS_TEST_TMPDIR/.portidx"
	# Unix socket paths must stay short (108 bytes), whatever TMPDIR is.
	SOCKDIR=$(mktemp -d /tmp/sheath-test.XXXXXX)
}

common_teardown() {
	local line kind name pid status problems=()
	[[ -f "$BATS_TEST_TMPDIR/.pids" ]] || return 0
	# Helpers first (clients and backends), so sheath has nothing to drain.
	for kind in bg sheath; do
		local pids=() names=()
		while read -r line; do
			# shellcheck disable=SC2086 # split "KIND NAME PID"
			set -- $line
			[[ $1 == "$kind" ]] || continue
			names+=("$2")
			pids+=("$3")
			kill -TERM "$3" 2>/dev/null || true
		done <"$BATS_TEST_TMPDIR/.pids"
		local i grace=3
		[[ $kind == bg ]] || grace=$SHEATH_STOP_WAIT
		local deadline=$((SECONDS + grace))
		for i in "${!pids[@]}"; do
			pid=${pids[$i]}
			name=${names[$i]}
			while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
				sleep 0.05
			done
			local killed=
			if kill -0 "$pid" 2>/dev/null; then
				kill -KILL "$pid" 2>/dev/null || true
				killed=yes
			fi
			status=0
			wait "$pid" 2>/dev/null || status=$?
			[[ $kind == sheath ]] || continue
			if [[ -n $killed ]]; then
				problems+=("sheath '$name' (pid $pid) did not exit within ${SHEATH_STOP_WAIT}s of SIGTERM")
			elif ((status != 0 && status != 127)); then
				# 127: not our child (started from a subshell), status unknown
				problems+=("sheath '$name' (pid $pid) exited with status $status (expected 0 after SIGTERM)")
			fi
		done
	done
	if [[ -z "${BATS_TEST_COMPLETED:-}" || ${#problems[@]} -gt 0 ]]; then
		show_logs
	fi
	rm -f "$BATS_TEST_TMPDIR/.pids"
	[[ -z "${SOCKDIR:-}" ]] || rm -rf "$SOCKDIR"
	if ((${#problems[@]})); then
		printf '%s\n' "${problems[@]}" >&2
		return 1
	fi
}

setup_file() { common_setup_file; }
setup() { common_setup; }
teardown() { common_teardown; }

show_logs() {
	local f
	for f in "$BATS_TEST_TMPDIR"/*.log; do
		[[ -f $f ]] || continue
		echo "----- ${f##*/} (last 40 lines)" >&2
		tail -n 40 "$f" >&2
	done
}

# ---------------------------------------------------------------------------
# processes

_record_pid() { # KIND NAME PID
	echo "$1 $2 $3" >>"$BATS_TEST_TMPDIR/.pids"
	echo "$3" >"$BATS_TEST_TMPDIR/$2.pid"
}

# start_sheath NAME ARGS...: run `$SHEATH -f ARGS...` in the background,
# stdout+stderr to $BATS_TEST_TMPDIR/NAME.log; PID in NAME.pid and $LAST_PID.
start_sheath() {
	local name=$1
	shift
	"$SHEATH" -f "$@" >"$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- </dev/null &
	LAST_PID=$!
	_record_pid sheath "$name" "$LAST_PID"
}

# start_bg NAME CMD...: run any other daemon or client in the background,
# stdout+stderr to $BATS_TEST_TMPDIR/NAME.log; PID in NAME.pid and $LAST_PID.
start_bg() {
	local name=$1
	shift
	"$@" >"$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- </dev/null &
	LAST_PID=$!
	_record_pid bg "$name" "$LAST_PID"
}

pid_of() { cat "$BATS_TEST_TMPDIR/$1.pid"; }

# serving_pid NAME: the process that handles sheath NAME's connections: its
# worker when it runs as a supervisor with one worker (the sandbox, on by
# default, makes one even for workers = 1), else NAME itself.
serving_pid() {
	local pid w
	pid=$(pid_of "$1")
	w=($(pgrep -P "$pid"))
	if ((${#w[@]} == 1)); then
		echo "${w[0]}"
	else
		echo "$pid"
	fi
}

# alive PID: the process exists and is not a zombie (a daemon's parent is
# PID 1 here, which need not reap it at once; a start_bg process that has
# exited stays a zombie until the test reaps it).
alive() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# wait_exit NAME [TIMEOUT]: wait for a start_bg process to finish by itself.
wait_exit() {
	local pid timeout=${2:-30}
	pid=$(pid_of "$1")
	local deadline=$((SECONDS + timeout))
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < deadline)) || fail "$1 (pid $pid) still running after ${timeout}s"
		sleep 0.05
	done
}

# ---------------------------------------------------------------------------
# ports and waits

# free_port: a free TCP port on 127.0.0.1 for a listener. common_setup
# asks for a pool of them in one python start; the index lives in a file so
# that $(free_port) in a subshell still moves on.
free_port() {
	local i=0
	[[ -f "$BATS_TEST_TMPDIR/.portidx" ]] && i=$(<"$BATS_TEST_TMPDIR/.portidx")
	if ((i < ${#PORT_POOL[@]})); then
		echo $((i + 1)) >"$BATS_TEST_TMPDIR/.portidx"
		echo "${PORT_POOL[$i]}"
	else
		free_ports 1
	fi
}

# free_ports N: N distinct free ports on one line (one python start), from
# below the kernel's ephemeral range, which outgoing connections never take
# (tools/free-ports.py).
free_ports() {
	"$PY" "$TOOLS/free-ports.py" "$1"
}

has_ipv6_loopback() {
	"$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}

# port_listening PORT: true if some local socket listens on PORT (read from
# /proc/net/tcp{,6}, so it never connects and never disturbs the listener).
port_listening() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wait_until TIMEOUT WHAT CMD...: poll CMD every 50 ms; fail after TIMEOUT s.
wait_until() {
	local timeout=$1 what=$2
	shift 2
	local deadline
	deadline=$(($(date +%s%N) + ${timeout%.*} * 1000000000))
	until "$@"; do
		if (($(date +%s%N) > deadline)); then
			fail "timed out after ${timeout}s waiting for $what"
			return 1
		fi
		sleep 0.05
	done
}

# wait_for_port PORT [HOST] [TIMEOUT]: wait until PORT is listening. HOST is
# for readability only: a listener on any local address counts.
wait_for_port() {
	wait_until "${3:-10}" "port ${2:-127.0.0.1}:$1 to listen" port_listening "$1"
}

# wait_for_unix PATH [TIMEOUT]: wait until PATH is a socket.
wait_for_unix() {
	wait_until "${2:-10}" "unix socket $1" test -S "$1"
}

# wait_for_file PATH [TIMEOUT]
wait_for_file() {
	wait_until "${2:-10}" "file $1" test -e "$1"
}

# wait_for_log FILE REGEX [TIMEOUT]: wait until a line of FILE matches the
# extended REGEX; on timeout fail and show the file.
wait_for_log() {
	local file=$1 re=$2 timeout=${3:-10}
	local deadline=$((SECONDS + timeout))
	until grep -Eq -- "$re" "$file" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			echo "----- $file:" >&2
			tail -n 30 "$file" >&2 2>/dev/null || echo "(missing)" >&2
			fail "timed out after ${timeout}s waiting for /$re/ in $file"
			return 1
		fi
		sleep 0.05
	done
}

# wait_sheath_ready NAME [COUNT] [TIMEOUT]: wait until sheath NAME logged
# COUNT (default 1) "service X: listening on" lines; fail at once if it died.
wait_sheath_ready() {
	local name=$1 count=${2:-1} timeout=${3:-10}
	local log=$BATS_TEST_TMPDIR/$name.log pid
	pid=$(pid_of "$name")
	local deadline=$((SECONDS + timeout))
	while (($(grep -Ec 'service [^ ]+: listening on' "$log" 2>/dev/null) < count)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$log" >&2
			fail "sheath '$name' exited before it was listening"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			cat "$log" >&2
			fail "sheath '$name' not listening after ${timeout}s"
			return 1
		fi
		sleep 0.05
	done
}

# sheath_rss_kb PID: resident set size in KiB.
sheath_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ---------------------------------------------------------------------------
# configuration

# svc KEY=VALUE...: one libconfig service group. A later KEY overrides an
# earlier one, an empty VALUE drops the key. Numbers, true/false, [..], (..)
# and {..} are written as they are, anything else as a quoted string.
svc() {
	local -A kv=()
	local -a order=()
	local arg k v out="{"
	for arg in "$@"; do
		k=${arg%%=*}
		v=${arg#*=}
		[[ -v "kv[$k]" ]] || order+=("$k")
		kv[$k]=$v
	done
	for k in "${order[@]}"; do
		v=${kv[$k]}
		[[ -n $v ]] || continue
		if [[ $v =~ ^(-?[0-9]+(\.[0-9]+)?|true|false|\[.*\]|\(.*\)|\{.*\})$ ]]; then
			out+=" $k = $v;"
		else
			out+=" $k = \"$v\";"
		fi
	done
	echo "$out }"
}

# server_svc NAME ACCEPT CONNECT [KEY=VALUE...]: TLS accept side with CA1.
server_svc() {
	local name=$1 accept=$2 connect=$3
	shift 3
	svc name="$name" mode=server accept="$accept" connect="$connect" \
		cert="$CERTS/server.crt" key="$CERTS/server.key" ca="$CERTS/ca.crt" "$@"
}

# client_svc NAME ACCEPT CONNECT [KEY=VALUE...]: TLS connect side with CA1,
# presenting client.crt (CN=client1) and expecting the server as "localhost".
client_svc() {
	local name=$1 accept=$2 connect=$3
	shift 3
	svc name="$name" mode=client accept="$accept" connect="$connect" \
		cert="$CERTS/client.crt" key="$CERTS/client.key" ca="$CERTS/ca.crt" \
		verify_name=localhost "$@"
}

# write_conf FILE SERVICE...: a main config with log_level info, no
# include_dir, a short shutdown_timeout, the lines in $CONF_GLOBALS, and the
# given service groups.
write_conf() {
	local file=$1 first=yes s
	shift
	{
		echo 'log_level = "info";'
		echo 'include_dir = "";'
		echo 'shutdown_timeout = 2;'
		[[ -z "${CONF_GLOBALS:-}" ]] || echo "$CONF_GLOBALS"
		echo 'services = ('
		for s in "$@"; do
			[[ -n $first ]] || echo ','
			first=
			echo "  $s"
		done
		echo ');'
	} >"$file"
}

# ---------------------------------------------------------------------------
# output parsing

# kv KEY TEXT: the value of KEY=VALUE in TEXT (a "quoted value" keeps quotes).
kv() {
	local re="(^|[[:space:]])$1=(\"[^\"]*\"|[^[:space:]]*)"
	[[ $2 =~ $re ]] || return 1
	echo "${BASH_REMATCH[2]}"
}

# conn_lines LOG [SERVICE]: the per-connection end lines of a sheath log.
conn_lines() {
	grep -E "service=${2:-[^ ]+} peer=[^ ]+ .*end=" "$1" || true
}

# count_conn_lines LOG [SERVICE]
count_conn_lines() {
	conn_lines "$@" | grep -c . || true
}

# wait_conn_line LOG SERVICE [COUNT] [TIMEOUT]: wait for COUNT end lines.
wait_conn_line() {
	local log=$1 service=$2 count=${3:-1} timeout=${4:-10}
	local deadline=$((SECONDS + timeout))
	while (($(count_conn_lines "$log" "$service") < count)); do
		if ((SECONDS >= deadline)); then
			echo "----- $log:" >&2
			tail -n 30 "$log" >&2
			fail "timed out after ${timeout}s waiting for $count connection line(s) of service $service"
			return 1
		fi
		sleep 0.05
	done
}

# backend_count FILE: connections a counting backend accepted so far.
backend_count() {
	cat "$1"
}

# sha256_of FILE
sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}

# ---------------------------------------------------------------------------
# The usual topology of a test:
#
#   client --plain--> cli (mode client) --TLS--> srv (mode server) --plain--> backend
#
# pair_setup: free loopback ports and addresses for the three (CLI_PORT and
# CLI_ADDR, SRV_PORT and SRV_ADDR, BE_PORT and BE_ADDR), a counting
# backend's files (COUNT, REC) and the two halves' config and log files
# (SRV_CONF, CLI_CONF, SRV_LOG, CLI_LOG). Call it after common_setup.
pair_setup() {
	CLI_PORT=$(free_port)
	SRV_PORT=$(free_port)
	BE_PORT=$(free_port)
	CLI_ADDR=127.0.0.1:$CLI_PORT
	SRV_ADDR=127.0.0.1:$SRV_PORT
	BE_ADDR=127.0.0.1:$BE_PORT
	COUNT=$BATS_TEST_TMPDIR/count
	REC=$BATS_TEST_TMPDIR/rec
	SRV_CONF=$BATS_TEST_TMPDIR/srv.conf
	CLI_CONF=$BATS_TEST_TMPDIR/cli.conf
	SRV_LOG=$BATS_TEST_TMPDIR/srv.log
	CLI_LOG=$BATS_TEST_TMPDIR/cli.log
}

# start_counting_backend [ARGS...]: tools/counting-backend.py on $BE_ADDR (a
# TCP address or unix:PATH), counting connections in $COUNT and recording
# each in $REC; ARGS go to it (--echo, --send N, ...).
start_counting_backend() {
	start_bg backend "$PY" "$TOOLS/counting-backend.py" --listen "$BE_ADDR" \
		--count-file "$COUNT" --record-dir "$REC" --lifetime 200 "$@"
	if [[ $BE_ADDR == unix:* ]]; then
		wait_for_unix "${BE_ADDR#unix:}"
	else
		wait_for_port "${BE_ADDR##*:}"
	fi
}

# start_srv [KEY=VALUE...]: the server half, srv on $SRV_ADDR -> $BE_ADDR
# with the server certificate and CA1 (server_svc) and the globals in
# CONF_GLOBALS (write_conf); returns once it listens.
start_srv() {
	write_conf "$SRV_CONF" "$(server_svc srv "$SRV_ADDR" "$BE_ADDR" "$@")"
	start_sheath srv -c "$SRV_CONF"
	wait_sheath_ready srv
}

# start_cli [KEY=VALUE...]: the client half, cli on $CLI_ADDR -> $SRV_ADDR
# presenting client1 (client_svc); returns once it listens.
start_cli() {
	start_cli_to "$SRV_ADDR" "$@"
}

# start_cli_to CONNECT [KEY=VALUE...]: the client half, cli on $CLI_ADDR ->
# CONNECT (an address, or a libconfig list of them), presenting client1.
start_cli_to() {
	write_conf "$CLI_CONF" "$(client_svc cli "$CLI_ADDR" "$@")"
	start_sheath cli -c "$CLI_CONF"
	wait_sheath_ready cli
}
