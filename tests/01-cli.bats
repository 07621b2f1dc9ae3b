#!/usr/bin/env bats
# Command line, exit statuses, -t / -T, configuration errors, include_dir.

load 'helpers/common'

# Every invocation that might (wrongly) start serving is bounded.
sheath() { timeout 10 "$SHEATH" "$@"; }

good_conf() { # FILE -- a valid config with one server service
	write_conf "$1" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")"
}

# assert_error_line FILE LINE KEY: some output line names FILE, LINE (when
# not empty) and KEY, as in "sheath: FILE:LINE: KEY: message".
assert_error_line() {
	local file=$1 line=$2 key=$3 l
	local want="$file:"
	[[ -z $line ]] || want="$file:$line:"
	for l in "${lines[@]}"; do
		if [[ $l == *"$want"* && $l == *"$key"* ]]; then
			return 0
		fi
	done
	fail "no output line names '$want' and '$key'; output was:
$output"
}

@test "-h and --help print usage and exit 0" {
	run sheath -h
	assert_success
	assert_output --regexp '[Uu]sage'
	assert_output --partial '-c'
	run sheath --help
	assert_success
	assert_output --regexp '[Uu]sage'
}

@test "-V and --version name sheath and the GnuTLS version, exit 0" {
	run sheath -V
	assert_success
	assert_output --partial 'sheath'
	assert_output --regexp 'GnuTLS[^0-9]*[0-9]+\.[0-9]+'
	run sheath --version
	assert_success
	assert_output --regexp 'GnuTLS[^0-9]*[0-9]+\.[0-9]+'
}

@test "unknown options exit 2" {
	run sheath --no-such-option
	assert_failure 2
	run sheath -Z
	assert_failure 2
	run sheath --no-such-key value -t
	assert_failure 2
}

@test "missing option arguments exit 2" {
	run sheath -c
	assert_failure 2
	run sheath -t -l
	assert_failure 2
	run sheath --mode server --accept
	assert_failure 2
}

@test "-t on a good config prints 'configuration ok' and exits 0" {
	good_conf "$BATS_TEST_TMPDIR/ok.conf"
	run sheath -t -c "$BATS_TEST_TMPDIR/ok.conf"
	assert_success
	assert_output --partial 'configuration ok'
	run sheath --test --config "$BATS_TEST_TMPDIR/ok.conf"
	assert_success
	assert_output --partial 'configuration ok'
}

@test "-t binds nothing: it passes while the accept port is taken" {
	local port
	port=$(free_port)
	start_bg holder "$PY" "$TOOLS/echo-server.py" --listen "127.0.0.1:$port" --lifetime 30
	wait_for_port "$port"
	write_conf "$BATS_TEST_TMPDIR/busy.conf" "$(server_svc srv "127.0.0.1:$port" "127.0.0.1:$(free_port)")"
	run sheath -t -c "$BATS_TEST_TMPDIR/busy.conf"
	assert_success
	assert_output --partial 'configuration ok'
}

@test "missing config file: exit 1 naming the file" {
	run sheath -t -c "$BATS_TEST_TMPDIR/nope.conf"
	assert_failure 1
	assert_output --partial "$BATS_TEST_TMPDIR/nope.conf"
}

@test "unknown global key: exit 1 with file, line and key" {
	local f=$BATS_TEST_TMPDIR/bad.conf
	good_conf "$f"
	printf 'frobnicate = 1;\n' >>"$f"
	local line
	line=$(grep -n frobnicate "$f" | cut -d: -f1)
	run sheath -t -c "$f"
	assert_failure 1
	assert_error_line "$f" "$line" frobnicate
	refute_output --partial 'configuration ok'
}

@test "unknown service key: exit 1 with file, line and key" {
	local f=$BATS_TEST_TMPDIR/bad.conf
	cat >"$f" <<EOF
include_dir = "";
services = (
  {
    name = "srv";
    mode = "server";
    accept = "127.0.0.1:$(free_port)";
    connect = "127.0.0.1:$(free_port)";
    cert = "$CERTS/server.crt";
    key = "$CERTS/server.key";
    ca = "$CERTS/ca.crt";
    colour = "blue";
  }
);
EOF
	run sheath -t -c "$f"
	assert_failure 1
	assert_error_line "$f" 11 colour
}

# bad_service_value KEY 'KEY = VALUE;' -- the service's line 11 is replaced
bad_service_value() {
	local key=$1 setting=$2 f=$BATS_TEST_TMPDIR/bad-$1.conf
	cat >"$f" <<EOF
include_dir = "";
services = (
  {
    name = "srv";
    mode = "server";
    accept = "127.0.0.1:$(free_port)";
    connect = "127.0.0.1:$(free_port)";
    cert = "$CERTS/server.crt";
    key = "$CERTS/server.key";
    ca = "$CERTS/ca.crt";
EOF
	# Later settings of the same name would be a libconfig duplicate, so
	# drop the default line the bad one replaces.
	sed -i "/^    $key = /d" "$f"
	while (($(wc -l <"$f") < 10)); do echo "    # filler" >>"$f"; done
	printf '    %s\n  }\n);\n' "$setting" >>"$f"
	run sheath -t -c "$f"
	assert_failure 1
	assert_error_line "$f" 11 "$key"
	refute_output --partial 'configuration ok'
}

@test "wrong type: timeout_idle = \"x\" is an error with file, line, key" {
	bad_service_value timeout_idle 'timeout_idle = "x";'
}

@test "bad value: mode = \"sideways\"" {
	bad_service_value mode 'mode = "sideways";'
}

@test "bad value: verify = \"maybe\"" {
	bad_service_value verify 'verify = "maybe";'
}

@test "bad value: accept address with port 99999" {
	bad_service_value accept 'accept = "127.0.0.1:99999";'
}

@test "bad value: accept address that is not an address" {
	bad_service_value accept 'accept = "no colon here";'
}

@test "wrong type: max_connections as a string in the global section" {
	local f=$BATS_TEST_TMPDIR/bad.conf
	good_conf "$f"
	printf 'max_connections = "lots";\n' >>"$f"
	run sheath -t -c "$f"
	assert_failure 1
	assert_error_line "$f" "$(grep -n 'lots' "$f" | cut -d: -f1)" max_connections
}

@test "-t reports every problem, not just the first" {
	local f=$BATS_TEST_TMPDIR/bad.conf
	good_conf "$f"
	printf 'frobnicate = 1;\nwibble = 2;\n' >>"$f"
	run sheath -t -c "$f"
	assert_failure 1
	assert_output --partial frobnicate
	assert_output --partial wibble
}

@test "-t reports problems of every kind at once: unknown key in one service, missing cert in another" {
	local f=$BATS_TEST_TMPDIR/two.conf
	write_conf "$f" \
		"$(server_svc a "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" colour=blue)" \
		"$(server_svc b "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" cert="$BATS_TEST_TMPDIR/missing.crt")"
	run sheath -t -c "$f"
	assert_failure 1
	assert_output --partial colour
	assert_output --partial "$BATS_TEST_TMPDIR/missing.crt"
}

@test "libconfig syntax error: exit 1 with file and line" {
	local f=$BATS_TEST_TMPDIR/syntax.conf
	printf 'include_dir = "";\nlog_level = "info";\nmax_connections = = 5;\n' >"$f"
	run sheath -t -c "$f"
	assert_failure 1
	assert_output --partial "$f:3"
}

@test "server mode with verify = require and no ca / pin_sha256 is an error" {
	local f=$BATS_TEST_TMPDIR/noca.conf
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" ca= verify=require)"
	run sheath -t -c "$f"
	assert_failure 1
	# "FILE[:LINE]: KEY: ..." where KEY is one of the keys involved
	local l found=
	for l in "${lines[@]}"; do
		[[ $l == *"$f:"* ]] || continue
		l=${l#*"$f:"}
		[[ $l =~ ^([0-9]+:)?\ *(verify|ca|pin_sha256): ]] && found=yes
	done
	[[ -n $found ]] || fail "no 'FILE: verify|ca|pin_sha256:' line in: $output"
	# The same service with verify unspecified (default require) too.
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" ca=)"
	run sheath -t -c "$f"
	assert_failure 1
}

@test "missing cert file: exit 1 naming the key and the missing path" {
	local f=$BATS_TEST_TMPDIR/nocert.conf
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" \
		cert="$BATS_TEST_TMPDIR/missing.crt")"
	run sheath -t -c "$f"
	assert_failure 1
	assert_output --partial "$f"
	assert_output --partial cert
	assert_output --partial "$BATS_TEST_TMPDIR/missing.crt"
}

@test "unreadable cert file (a directory): exit 1 naming the path" {
	local f=$BATS_TEST_TMPDIR/dircert.conf
	mkdir -p "$BATS_TEST_TMPDIR/certdir"
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" \
		cert="$BATS_TEST_TMPDIR/certdir")"
	run sheath -t -c "$f"
	assert_failure 1
	assert_output --partial "$BATS_TEST_TMPDIR/certdir"
}

@test "cert file that holds no certificate: exit 1" {
	local f=$BATS_TEST_TMPDIR/junkcert.conf
	echo "this is not PEM" >"$BATS_TEST_TMPDIR/junk.crt"
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" \
		cert="$BATS_TEST_TMPDIR/junk.crt")"
	run sheath -t -c "$f"
	assert_failure 1
	assert_output --partial "$BATS_TEST_TMPDIR/junk.crt"
}

@test "key that does not match the certificate: exit 1" {
	local f=$BATS_TEST_TMPDIR/mismatch.conf
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" \
		key="$CERTS/client.key")"
	run sheath -t -c "$f"
	assert_failure 1
	refute_output --partial 'configuration ok'
}

@test "duplicate service name across the main file and include_dir" {
	local dir=$BATS_TEST_TMPDIR/dup
	mkdir -p "$dir/inc"
	cat >"$dir/main.conf" <<EOF
include_dir = "$dir/inc";
services = (
$(server_svc twin "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")
);
EOF
	cat >"$dir/inc/a.conf" <<EOF
services = (
$(server_svc twin "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")
);
EOF
	run sheath -t -c "$dir/main.conf"
	assert_failure 1
	assert_output --partial twin
	assert_output --partial "$dir/inc/a.conf"
}

@test "an include_dir file may hold only services" {
	local dir=$BATS_TEST_TMPDIR/incglobal
	mkdir -p "$dir/inc"
	good_conf "$dir/main.conf"
	sed -i "s|^include_dir = .*|include_dir = \"$dir/inc\";|" "$dir/main.conf"
	printf 'log_level = "debug";\n' >"$dir/inc/a.conf"
	run sheath -t -c "$dir/main.conf"
	assert_failure 1
	assert_error_line "$dir/inc/a.conf" 1 log_level
}

@test "a bad value to a known --KEY on the command line exits 1" {
	local common=(--accept "127.0.0.1:$(free_port)" --connect "127.0.0.1:$(free_port)"
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt")
	run sheath --mode sideways "${common[@]}"
	assert_failure 1
	assert_output --partial mode
	run sheath --mode server "${common[@]}" --timeout-idle soon
	assert_failure 1
	assert_output --partial timeout_idle
	run sheath --mode server "${common[@]}" --verify maybe
	assert_failure 1
	# and a good one passes -t
	run sheath --mode server "${common[@]}" -t
	assert_success
	assert_output --partial 'configuration ok'
}

@test "a bad -l level is refused" {
	good_conf "$BATS_TEST_TMPDIR/ok.conf"
	run sheath -t -l loud -c "$BATS_TEST_TMPDIR/ok.conf"
	[[ $status -eq 1 || $status -eq 2 ]] || fail "exit status $status, expected 1 or 2"
}

@test "command-line service: dashes or underscores, repeated list flags, shown by -T" {
	local a b
	a=$(free_port)
	b=$(free_port)
	run sheath -T --mode server --accept "127.0.0.1:$a" --connect "127.0.0.1:$b" \
		--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt" \
		--timeout-idle 7 --allow_cn alpha --allow-cn beta
	assert_success
	assert_output --partial 'name = "cli"'
	assert_output --regexp 'timeout_idle = 7(\.0*)?;'
	assert_output --regexp 'allow_cn = [[(] *"alpha", *"beta" *[])]'
	assert_output --partial "127.0.0.1:$a"
}

@test "-T dump fed back as the only config gives an identical dump" {
	local dir=$BATS_TEST_TMPDIR/dump
	mkdir -p "$dir/inc"
	cat >"$dir/main.conf" <<EOF
include_dir = "$dir/inc";
log_level = "info";
max_connections = 77;
services = (
$(server_svc main_srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" allow_cn='[ "client1", "client2" ]' timeout_idle=42),
$(client_svc main_cli "127.0.0.1:$(free_port)" '( "127.0.0.1:1", "127.0.0.1:2" )')
);
EOF
	cat >"$dir/inc/10-extra.conf" <<EOF
services = (
$(server_svc inc_srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" allow_ou=app)
);
EOF
	run sheath -T -c "$dir/main.conf"
	assert_success
	local dump1=$output
	[[ $dump1 == *main_srv* && $dump1 == *main_cli* ]] || fail "main services missing from dump"
	[[ $dump1 == *inc_srv* ]] || fail "include_dir service not inlined in dump:
$dump1"
	[[ $dump1 =~ include_dir\ =\ \"\"\; ]] || fail "dump does not set include_dir = \"\""
	[[ $dump1 =~ max_connections\ =\ 77\; ]] || fail "dump lost max_connections"
	# defaults are filled in
	[[ $dump1 == *timeout_handshake* && $dump1 == *log_level* ]] || fail "dump lacks defaults"
	printf '%s\n' "$dump1" >"$dir/dump.conf"
	run sheath -T -c "$dir/dump.conf"
	assert_success
	[[ "$output" == "$dump1" ]] || fail "second dump differs:
$(diff <(printf '%s\n' "$dump1") <(printf '%s\n' "$output"))"
	run sheath -t -c "$dir/dump.conf"
	assert_success
	assert_output --partial 'configuration ok'
}

@test "include_dir: services from *.conf files only, all of them started" {
	local dir=$BATS_TEST_TMPDIR/incl p1 p2 p3
	mkdir -p "$dir/inc"
	p1=$(free_port)
	p2=$(free_port)
	p3=$(free_port)
	cat >"$dir/main.conf" <<EOF
include_dir = "$dir/inc";
services = (
$(server_svc main_srv "127.0.0.1:$p1" "127.0.0.1:$(free_port)")
);
EOF
	printf 'services = (\n%s\n);\n' "$(server_svc inc_a "127.0.0.1:$p2" "127.0.0.1:$(free_port)")" >"$dir/inc/a.conf"
	printf 'services = (\n%s\n);\n' "$(server_svc inc_b "127.0.0.1:$p3" "127.0.0.1:$(free_port)")" >"$dir/inc/b.conf"
	printf 'services = (\n%s\n);\n' "$(server_svc not_me "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")" >"$dir/inc/c.conf.example"
	printf 'services = (\n%s\n);\n' "$(server_svc not_me2 "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")" >"$dir/inc/d.conf~"
	echo 'this is { not libconfig' >"$dir/inc/README"

	run sheath -T -c "$dir/main.conf"
	assert_success
	assert_output --partial inc_a
	assert_output --partial inc_b
	refute_output --partial not_me

	start_sheath incl -c "$dir/main.conf"
	wait_sheath_ready incl 3
	wait_for_port "$p1"
	wait_for_port "$p2"
	wait_for_port "$p3"
	run grep -E 'service (main_srv|inc_a|inc_b): listening on' "$BATS_TEST_TMPDIR/incl.log"
	assert_equal "${#lines[@]}" 3
	refute grep -q not_me "$BATS_TEST_TMPDIR/incl.log"
}

@test "include_dir defaults to conf.d beside the main file; a missing one is fine" {
	local dir=$BATS_TEST_TMPDIR/deflt
	mkdir -p "$dir"
	printf 'services = (\n%s\n);\n' "$(server_svc main_srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")" >"$dir/main.conf"
	run sheath -t -c "$dir/main.conf"
	assert_success
	mkdir "$dir/conf.d"
	printf 'services = (\n%s\n);\n' "$(server_svc beside "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")" >"$dir/conf.d/x.conf"
	run sheath -T -c "$dir/main.conf"
	assert_success
	assert_output --partial beside
}

@test "a private key readable by others draws a start-up warning" {
	cp "$CERTS/server.key" "$BATS_TEST_TMPDIR/open.key"
	chmod 644 "$BATS_TEST_TMPDIR/open.key"
	local f=$BATS_TEST_TMPDIR/openkey.conf
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" key="$BATS_TEST_TMPDIR/open.key")"
	start_sheath openkey -c "$f"
	wait_sheath_ready openkey
	run grep -F "$BATS_TEST_TMPDIR/open.key" "$BATS_TEST_TMPDIR/openkey.log"
	assert_success
	assert_output --regexp '[Ww]arn|readable|permission|mode'
}

@test "a private key readable only by its owner draws no warning" {
	local f=$BATS_TEST_TMPDIR/closedkey.conf
	write_conf "$f" "$(server_svc srv "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)")"
	start_sheath closedkey -c "$f"
	wait_sheath_ready closedkey
	run grep -F "$CERTS/server.key" "$BATS_TEST_TMPDIR/closedkey.log"
	assert_failure
}
