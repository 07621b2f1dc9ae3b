#!/usr/bin/env bats
# 06-docs.bats -- the man pages, the example configurations and the
# packaging files agree with the binary.
#
# Environment (set by `make check`): SHEATH, the built binary, and
# TOP_SRCDIR, the source tree.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup_file() {
	# Unset when run by hand: the tree this file is in (/work/main).
	TOP_SRCDIR="${TOP_SRCDIR:-$(cd "$(dirname "$BATS_TEST_FILENAME")/.." && pwd)}"
	export TOP_SRCDIR
	export SHEATH="${SHEATH:-$TOP_SRCDIR/src/sheath}"
	# Certificates for the examples, generated once for this file.
	export FIXTURES="$BATS_FILE_TMPDIR/certs"
	if [ -x "$SHEATH" ] && [ -f "$TOP_SRCDIR/tests/gen-certs.sh" ]; then
		sh "$TOP_SRCDIR/tests/gen-certs.sh" "$FIXTURES"
	fi
}

setup() {
	[ -x "$SHEATH" ] || fail "SHEATH=$SHEATH is not an executable; build first"
	CONF5="$TOP_SRCDIR/man/sheath.conf.5"
	MAN8="$TOP_SRCDIR/man/sheath.8"
}

# example_for_fixtures SRC DST: copy a configuration, pointing the
# /etc/sheath/tls/ paths of the examples at the generated fixtures:
# ca.crt -> ca.crt, *server.crt/key -> server.crt/key,
# *client.crt/key -> client.crt/key, *.crl -> crl.pem.
example_for_fixtures() {
	sed -E \
		-e "s#/etc/sheath/tls/ca\\.crt#$FIXTURES/ca.crt#g" \
		-e "s#/etc/sheath/tls/[A-Za-z0-9._-]*server\\.(crt|key)#$FIXTURES/server.\\1#g" \
		-e "s#/etc/sheath/tls/[A-Za-z0-9._-]*client\\.(crt|key)#$FIXTURES/client.\\1#g" \
		-e "s#/etc/sheath/tls/[A-Za-z0-9._-]*\\.crl#$FIXTURES/crl.pem#g" \
		"$1" >"$2"
	# Every path still under /etc/sheath/tls/ outside comments would make
	# -t fail for a reason that has nothing to do with the example.
	if grep -v '^[[:space:]]*#' "$2" | grep -q '/etc/sheath/tls/'; then
		fail "$1: cert path not covered by the fixture mapping: $(grep -n /etc/sheath/tls/ "$2" | grep -v ':[[:space:]]*#')"
	fi
}

# client_side SRC DST: the commented-out `#services = ( ... #);` block of an
# example, uncommented. -t resolves every address, and the example.net
# names of the examples do not resolve: they become localhost.
client_side() {
	sed -n '/^#services = (/,/^#);/p' "$1" |
		sed -E -e 's/^#//' \
			-e 's/"[A-Za-z0-9.-]+\.example\.(net|com|org):/"localhost:/g' >"$2"
}

# service_names FILE: the `name = "..."` values outside comments.
service_names() {
	grep -v '^[[:space:]]*#' "$1" |
		sed -n 's/^[[:space:]]*name[[:space:]]*[=:][[:space:]]*"\([^"]*\)".*/\1/p'
}

# check_include_file FILE: FILE, used as the only include_dir file of an
# otherwise empty main configuration, passes -t and its services are loaded.
check_include_file() {
	local dir
	dir="$BATS_TEST_TMPDIR/$(basename "$1").d"
	mkdir -p "$dir/conf.d"
	example_for_fixtures "$1" "$dir/conf.d/service.conf"
	printf 'include_dir = "%s";\n' "$dir/conf.d" >"$dir/main.conf"

	run "$SHEATH" -t -c "$dir/main.conf"
	assert_success
	assert_output --partial "configuration ok"

	run "$SHEATH" -T -c "$dir/main.conf"
	assert_success
	local names name
	names=$(service_names "$dir/conf.d/service.conf")
	[ -n "$names" ] || fail "$1: no service name found"
	for name in $names; do
		assert_output --partial "\"$name\""
	done
}

@test "mandoc -Tlint: sheath.8 and sheath.conf.5 are clean" {
	command -v mandoc >/dev/null || skip "mandoc not installed"
	run mandoc -Tlint -W warning "$MAN8" "$CONF5"
	assert_success
	assert_output ""
}

@test "groff -ww: sheath.8 and sheath.conf.5 render without warnings" {
	command -v groff >/dev/null || skip "groff not installed"
	run groff -ww -z -man "$MAN8" "$CONF5"
	assert_success
	assert_output ""
}

@test "sheath.conf.5 documents every key of --list-keys" {
	run "$SHEATH" --list-keys
	assert_success
	local listed missing="" n=0
	listed=$(printf '%s\n' "$output" | awk 'NF && $1 !~ /^#/ { print $1 }' | sort -u)
	for key in $listed; do
		n=$((n + 1))
		# An upstream key may be listed as `upstream.KEY`: its entry is KEY.
		local base=${key##*.}
		grep -Eq "^\\.It Cm ($key|$base)( |\$)" "$CONF5" ||
			missing="$missing $key"
	done
	[ "$n" -ge 30 ] || fail "--list-keys printed only $n keys: $output"
	[ -z "$missing" ] || fail "keys missing from sheath.conf.5:$missing"
}

@test "sheath.8 documents every option of --help" {
	run "$SHEATH" --help
	assert_success
	local missing=""
	for opt in $(printf '%s\n' "$output" | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		case $opt in --key | --KEY) continue ;; esac
		# `.Fl -config` in the text, `--mode` in a literal example.
		grep -qF -- "-${opt#--}" "$MAN8" || missing="$missing $opt"
	done
	[ -z "$missing" ] || fail "options missing from sheath.8:$missing"
}

@test "the default priority string is the one documented" {
	local conf="$BATS_TEST_TMPDIR/prio.conf"
	cat >"$conf" <<-EOF
		include_dir = "";
		services = ( {
		  name = "p"; mode = "server";
		  accept = "127.0.0.1:1"; connect = "127.0.0.1:2";
		  cert = "$FIXTURES/server.crt"; key = "$FIXTURES/server.key";
		  ca = "$FIXTURES/ca.crt";
		} );
	EOF
	run "$SHEATH" -T -c "$conf"
	assert_success
	local def='NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM:+AES-128-CBC:+AES-256-CBC:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:+GROUP-X448:+GROUP-FFDHE2048:+GROUP-FFDHE3072:+GROUP-FFDHE4096:+GROUP-FFDHE6144:+GROUP-FFDHE8192'
	assert_output --partial "priority = \"$def\";"
	# the man page shows the same string, broken over lines at the colons
	local shown
	shown=$(sed -n '/^\.Sh TLS SETTINGS/,/^\.Ed/p' "$CONF5" | sed -n '/^NORMAL/,/^\.Ed/p' | grep -v '^\.Ed' | tr -d '\n')
	assert_equal "$shown" "$def"
	# and it enables what NORMAL does (TLS 1.2 and 1.3), only in another
	# order: AES-128-GCM first among the ciphers, X25519 among the groups
	run gnutls-cli --priority "$def" -l
	assert_success
	assert_line 'Groups: GROUP-X25519, GROUP-SECP256R1, GROUP-SECP384R1, GROUP-SECP521R1, GROUP-X448, GROUP-FFDHE2048, GROUP-FFDHE3072, GROUP-FFDHE4096, GROUP-FFDHE6144, GROUP-FFDHE8192'
	assert_line 'Ciphers: AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305, AES-128-CCM, AES-256-CCM, AES-128-CBC, AES-256-CBC'
	assert_equal "$(grep -m1 -o '^TLS_[A-Z0-9_]*' <<<"$output")" TLS_AES_128_GCM_SHA256
	local ours normal
	ours=$(grep -v -e '^Cipher suites for' <<<"$output" | priority_set)
	normal=$(gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2' -l | grep -v -e '^Cipher suites for' | priority_set)
	assert_equal "$ours" "$normal"
}

# priority_set: a `gnutls-cli -l` listing as a set, order left out: its
# lines sorted, and the items of each "Name: a, b, c" line sorted.
priority_set() {
	awk -F': ' '/^[A-Za-z-]+: / { n = split($2, v, ", "); for (i = 1; i <= n; i++) print $1 ": " v[i]; next } { print }' | sort
}

@test "conf.d/*.conf.example: each passes -t as an include_dir file" {
	local n=0
	for f in "$TOP_SRCDIR"/conf.d/*.conf.example; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		check_include_file "$f"
	done
	[ "$n" -ge 4 ] || fail "expected at least 4 examples, found $n"
}

@test "conf.d/*.conf.example: all together in one include_dir pass -t" {
	local dir="$BATS_TEST_TMPDIR/all"
	mkdir -p "$dir/conf.d"
	for f in "$TOP_SRCDIR"/conf.d/*.conf.example; do
		example_for_fixtures "$f" "$dir/conf.d/$(basename "$f" .example)"
	done
	printf 'include_dir = "%s";\n' "$dir/conf.d" >"$dir/main.conf"
	run "$SHEATH" -t -c "$dir/main.conf"
	assert_success
	assert_output --partial "configuration ok"
}

@test "conf.d/*.conf.example: each commented client side passes -t" {
	local n=0
	for f in "$TOP_SRCDIR"/conf.d/*.conf.example; do
		local side
		side="$BATS_TEST_TMPDIR/$(basename "$f" .conf.example)-client.conf"
		client_side "$f" "$side"
		[ -s "$side" ] || fail "$f: no commented '#services = (' ... '#);' block"
		grep -q 'mode = "client"' "$side" || fail "$f: the commented service is not a client"
		n=$((n + 1))
		check_include_file "$side"
	done
	[ "$n" -ge 4 ]
}

@test "conf.d/*.conf.example: only services, and not read as *.conf" {
	for f in "$TOP_SRCDIR"/conf.d/*.conf.example; do
		# Top-level settings start in column 0 outside comments.
		run sh -c "grep -vE '^[[:space:]]*(#|\$)' '$f' | grep -E '^[A-Za-z_]' | grep -vE '^services[[:space:]]*[=:]'"
		assert_failure
	done
	# The example names do not match the include pattern.
	local dir="$BATS_TEST_TMPDIR/ignored"
	mkdir -p "$dir/conf.d"
	cp "$TOP_SRCDIR/conf.d/sheath.conf" "$dir/sheath.conf"
	for f in "$TOP_SRCDIR"/conf.d/*.conf.example; do
		printf 'this is not libconfig\n' >"$dir/conf.d/$(basename "$f")"
	done
	example_for_fixtures "$TOP_SRCDIR/conf.d/redis.conf.example" "$dir/conf.d/redis.conf"
	run "$SHEATH" -t -c "$dir/sheath.conf"
	assert_success
}

@test "conf.d/sheath.conf passes -t as the main file, with conf.d beside it" {
	local dir="$BATS_TEST_TMPDIR/main"
	mkdir -p "$dir/conf.d"
	cp "$TOP_SRCDIR/conf.d/sheath.conf" "$dir/sheath.conf"
	# sheath refuses to run without a service: add one in the default
	# include_dir (conf.d beside the main file).
	example_for_fixtures "$TOP_SRCDIR/conf.d/redis.conf.example" "$dir/conf.d/redis.conf"
	run "$SHEATH" -t -c "$dir/sheath.conf"
	assert_success
	assert_output --partial "configuration ok"
	run "$SHEATH" -T -c "$dir/sheath.conf"
	assert_success
	assert_output --partial '"redis"'
}

@test "conf.d/sheath.conf: its commented example service passes -t" {
	local dir="$BATS_TEST_TMPDIR/main-svc"
	mkdir -p "$dir"
	client_side "$TOP_SRCDIR/conf.d/sheath.conf" "$dir/raw.conf"
	[ -s "$dir/raw.conf" ] || fail "no commented '#services = (' block"
	example_for_fixtures "$dir/raw.conf" "$dir/sheath.conf"
	printf 'include_dir = "";\n' >>"$dir/sheath.conf"
	run "$SHEATH" -t -c "$dir/sheath.conf"
	assert_success
	assert_output --partial "configuration ok"
}

@test "systemd-analyze verify: sheath.service and sheath@.service" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
	local dir="$BATS_TEST_TMPDIR/units"
	mkdir -p "$dir"
	# Some build environments (chroots, containers) cannot run verify at
	# all: tell that apart from a problem in our units.
	printf '[Service]\nExecStart=%s\n' "$SHEATH" >"$dir/probe.service"
	systemd-analyze verify --man=no "$dir/probe.service" >/dev/null 2>&1 ||
		skip "systemd-analyze verify does not work here"
	# verify insists that ExecStart= exists: point it at the built binary.
	for u in sheath.service sheath@.service; do
		sed "s#/usr/sbin/sheath#$SHEATH#g" "$TOP_SRCDIR/contrib/systemd/$u" >"$dir/$u"
	done
	run systemd-analyze verify --man=no "$dir/sheath.service"
	assert_success
	refute_output --partial "$dir/sheath.service:"
	run systemd-analyze verify --man=no "$dir/sheath@test.service"
	assert_success
	refute_output --partial "$dir/sheath@.service:"
}

@test "contrib: init script and logrotate snippet are sane" {
	local init="$TOP_SRCDIR/contrib/sysv/sheath"
	[ -x "$init" ] || fail "$init is not executable"
	run sh -n "$init"
	assert_success
	grep -q '^### BEGIN INIT INFO' "$init"
	grep -q '^### END INIT INFO' "$init"
	grep -q '/run/sheath/sheath.pid' "$init"
	for action in start stop reload force-reload restart status; do
		grep -Eq "(^|[|[:space:]])$action([|)]|$)" "$init" ||
			fail "init script lacks $action"
	done
	grep -q '/var/log/sheath/\*.log' "$TOP_SRCDIR/contrib/logrotate/sheath"
	grep -q 'USR1' "$TOP_SRCDIR/contrib/logrotate/sheath"
}
