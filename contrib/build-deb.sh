#!/bin/bash
# build-deb.sh: build the sheath .deb from a clean copy of this source tree.
#
#   contrib/build-deb.sh [-o DIR] [--test] [--lintian]
#
# The tree is copied to a temporary directory (in a git checkout: the files
# git tracks plus untracked files that are not ignored, as they are in the
# working tree; otherwise the whole tree minus build outputs), contrib/debian
# becomes ./debian there, and `dpkg-buildpackage -us -uc -b` builds it. The
# path of the resulting .deb is printed on the last line of stdout.
#
#   -o, --outdir DIR  copy the .changes and every file it lists (the .deb,
#                     the -dbgsym .ddeb, the .buildinfo) to DIR, so that
#                     lintian and dput work on DIR/*.changes; default: the
#                     temporary build directory, which is kept
#   --test            (as root, on Debian) first install the build
#                     dependencies with apt-get; after the build, install the
#                     package, check the binary, man pages, units, init
#                     script, conffiles and the sheath user, then purge it.
#                     The package is never left installed. Exits non-zero on
#                     any failure.
#   --lintian         run lintian on the .deb (installed with --test) and
#                     fail on errors.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

test_mode=0
run_lintian=0
outdir=
while [ $# -gt 0 ]; do
	case "$1" in
	--test) test_mode=1 ;;
	--lintian) run_lintian=1 ;;
	-o|--outdir) [ $# -ge 2 ] || { echo "$0: $1 needs an argument" >&2; exit 2; }
		outdir=$2; shift ;;
	--outdir=*) outdir=${1#--outdir=} ;;
	-h|--help) usage; exit 0 ;;
	*) echo "$0: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

top=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$top/contrib/debian/control" ] || { echo "$0: $top/contrib/debian/control missing" >&2; exit 1; }

log() { printf '==> %s\n' "$*" >&2; }

SUDO=
if [ "$test_mode" = 1 ] && [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "$0: --test needs root (or sudo)" >&2; exit 1; }
	SUDO=sudo
fi

# --- build dependencies (only with --test: CI runs on a fresh machine) -------
if [ "$test_mode" = 1 ]; then
	if dpkg-query -W -f='${Status}' sheath 2>/dev/null | grep -q 'ok installed'; then
		echo "$0: --test: package sheath is already installed here; it would be" \
			"purged by the test. Remove it first (dpkg --purge sheath)." >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "installing build dependencies"
	$SUDO apt-get update -q >&2
	extra=
	[ "$run_lintian" = 1 ] && extra=lintian
	# Keep in sync with Build-Depends in contrib/debian/control.
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends \
		build-essential dpkg-dev fakeroot debhelper devscripts git \
		autoconf automake pkg-config \
		libgnutls28-dev libconfig-dev libsystemd-dev $extra >&2
fi

# --- clean copy of the tree ---------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/sheath-deb.XXXXXX")
src="$work/sheath"
mkdir "$src"
# Temporary state for --test; cleaned up on any exit.
installed=0
testfiles=()
cleanup() {
	rc=$?
	for f in "${testfiles[@]+"${testfiles[@]}"}"; do $SUDO rm -rf -- "$f"; done
	if [ "$installed" = 1 ] && dpkg-query -W -f='${Status}' sheath 2>/dev/null | grep -q installed; then
		log "cleanup: purging sheath"
		$SUDO dpkg --purge sheath >&2 || rc=1
	fi
	rm -rf -- "$src"
	if [ -n "$outdir" ]; then rm -rf -- "$work"; else rmdir -- "$work" 2>/dev/null || true; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if command -v git >/dev/null && git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	log "copying git files of $top (tracked + untracked-not-ignored, working-tree contents)"
	# Files deleted in the working tree but still tracked are skipped.
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
		done | tar --null --no-recursion -T - -cf -) | tar -xf - -C "$src"
else
	log "copying $top (not a git checkout; build outputs excluded)"
	# Mirrors .gitignore.
	(cd "$top" && tar -cf - --exclude-vcs \
		--exclude=./debian --exclude='./sheath-*' --exclude='./sheath_*' \
		--exclude=./Makefile --exclude=./Makefile.in --exclude=./aclocal.m4 \
		--exclude=./autom4te.cache --exclude=./build-aux --exclude=./m4 \
		--exclude='./autoconfig.h' --exclude='./autoconfig.h.in' \
		--exclude='./autoconfig.h.in~' --exclude=./config.log \
		--exclude=./config.status --exclude=./configure --exclude='./configure~' \
		--exclude=./stamp-h1 --exclude=./bench/results \
		--exclude='*.o' --exclude='*.a' --exclude=.deps --exclude=.dirstamp \
		--exclude=./src/sheath --exclude=./tests/unit/test_addr \
		--exclude=./tests/unit/test_identity --exclude=./tests/unit/test_config \
		--exclude='*.log' --exclude='*.trs' --exclude='*~' .) | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -a "$top/contrib/debian" "$src/debian"

# --- build --------------------------------------------------------------------
log "building in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b -Jauto) >&2
arch=$(dpkg --print-architecture)
version=$(cd "$src" && dpkg-parsechangelog -S Version)
deb="$work/sheath_${version}_${arch}.deb"
[ -f "$deb" ] || { echo "$0: build finished but $deb is missing" >&2; exit 1; }
changes="$work/sheath_${version}_${arch}.changes"
if [ -n "$outdir" ]; then
	mkdir -p "$outdir"
	# Every file of the upload: the Files: section of the .changes
	# (" md5 size section priority name" lines).
	listed=$(sed -n '/^Files:/,/^[^ ]/{/^ /p}' "$changes" | awk '{ print $5 }')
	[ -n "$listed" ] || { echo "$0: no files listed in $changes" >&2; exit 1; }
	for f in $listed; do
		cp -- "$work/$f" "$outdir/" ||
			{ echo "$0: $f, listed in $changes, is missing" >&2; exit 1; }
	done
	cp -- "$changes" "$outdir/"
	changes="$(cd "$outdir" && pwd)/$(basename "$changes")"
	deb="$(cd "$outdir" && pwd)/$(basename "$deb")"
fi
log "built $deb"

if [ "$run_lintian" = 1 ]; then
	log "lintian $changes"
	lintian --fail-on error --info "$changes" >&2
fi

if [ "$test_mode" = 0 ]; then
	echo "$deb"
	exit 0
fi

# --- install test -------------------------------------------------------------
fails=0
ok()   { printf 'ok   %s\n' "$*" >&2; }
fail() { printf 'FAIL %s\n' "$*" >&2; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi; }

log "installing $deb"
installed=1
$SUDO dpkg -i "$deb" >&2 || $SUDO apt-get install -f -y -q >&2
if dpkg-query -W -f='${Status}' sheath 2>/dev/null | grep -q 'install ok installed'; then
	ok "dpkg: sheath installed ($(dpkg-query -W -f='${Version}' sheath))"
else
	fail "dpkg: sheath not installed"
	exit 1
fi

upstream=${version%-*}
if out=$(/usr/sbin/sheath -V 2>&1) && printf '%s\n' "$out" | grep -q "^sheath $upstream\b"; then
	ok "sheath -V: $out"
else
	fail "sheath -V: $out"
fi

# The shipped sheath.conf is all comments and the shipped services are
# *.conf.example (not read), so it defines no service. sheath refuses that
# ("no service defined"); anything else is a failure.
rc=0
out=$(/usr/sbin/sheath -t -c /etc/sheath/sheath.conf 2>&1) || rc=$?
if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q 'configuration ok'; then
	ok "sheath -t on the shipped config: configuration ok"
elif [ "$rc" = 1 ] && printf '%s\n' "$out" | grep -q 'no service defined' &&
	[ "$(printf '%s\n' "$out" | grep -c .)" = 1 ]; then
	ok "sheath -t on the shipped config: exit 1, only 'no service defined' (expected: no service configured yet)"
else
	fail "sheath -t on the shipped config: exit $rc: $out"
fi

# The shipped config plus one service in /etc/sheath/conf.d, as an admin
# would add it: must pass -t, as root and as the sheath user the units use.
# A client-mode service pinned to a (random) server key needs no key or
# certificate files; -t binds nothing, so the ports do not matter.
testfiles+=(/etc/sheath/conf.d/zz-build-deb-test.conf)
pin=$(head -c 32 /dev/urandom | base64)
cat <<EOF | $SUDO tee /etc/sheath/conf.d/zz-build-deb-test.conf >/dev/null
services = (
  {
    name = "build-deb-test";
    mode = "client";
    accept = "127.0.0.1:15432";
    connect = "127.0.0.1:5433";
    pin_sha256 = [ "$pin" ];
  }
);
EOF
rc=0
out=$($SUDO /usr/sbin/sheath -t -c /etc/sheath/sheath.conf 2>&1) || rc=$?
if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q 'configuration ok'; then
	ok "sheath -t with one service in conf.d: configuration ok"
else
	fail "sheath -t with one service in conf.d: exit $rc: $out"
fi
if command -v runuser >/dev/null && [ "$(id -u)" = 0 ]; then
	rc=0
	out=$(runuser -u sheath -- /usr/sbin/sheath -t -c /etc/sheath/sheath.conf 2>&1) || rc=$?
	if [ "$rc" = 0 ]; then
		ok "sheath -t as user sheath: configuration ok"
	else
		fail "sheath -t as user sheath: exit $rc: $out"
	fi
fi
$SUDO rm -f /etc/sheath/conf.d/zz-build-deb-test.conf

# Files.
check "binary /usr/sbin/sheath" test -x /usr/sbin/sheath
check "man page sheath(8)" test -f /usr/share/man/man8/sheath.8.gz
check "man page sheath.conf(5)" test -f /usr/share/man/man5/sheath.conf.5.gz
if command -v man >/dev/null; then
	check "man -w sheath.conf" man -w 5 sheath.conf
fi
unitdir=
for d in /lib/systemd/system /usr/lib/systemd/system; do
	[ -f "$d/sheath.service" ] && { unitdir=$d; break; }
done
if [ -n "$unitdir" ]; then
	ok "unit $unitdir/sheath.service"
	check "unit $unitdir/sheath@.service" test -f "$unitdir/sheath@.service"
	check "unit ExecStart uses /usr/sbin/sheath" grep -q '^ExecStart=/usr/sbin/sheath ' "$unitdir/sheath.service"
else
	fail "unit sheath.service not installed"
fi
check "/etc/sheath/tls is 0750 root:sheath" \
	test "$(stat -c '%a %U:%G' /etc/sheath/tls)" = "750 root:sheath"
check "init script /etc/init.d/sheath" test -x /etc/init.d/sheath
check "init script parses" sh -n /etc/init.d/sheath
check "logrotate /etc/logrotate.d/sheath" test -f /etc/logrotate.d/sheath
check "README in /usr/share/doc/sheath" test -f /usr/share/doc/sheath/README.md.gz -o -f /usr/share/doc/sheath/README.md
check "copyright file" test -f /usr/share/doc/sheath/copyright

# Conffiles.
conffiles=$(dpkg-query -W -f='${Conffiles}\n' sheath | awk 'NF {print $1}')
examples=0
for f in /etc/sheath/sheath.conf /etc/sheath/conf.d/*.conf.example \
	/etc/init.d/sheath /etc/logrotate.d/sheath; do
	case $f in *.conf.example) examples=$((examples + 1)) ;; esac
	if [ -f "$f" ] && printf '%s\n' "$conffiles" | grep -qxF "$f"; then
		ok "conffile $f"
	else
		fail "conffile $f (exists: $([ -f "$f" ] && echo yes || echo no))"
	fi
done
if [ "$examples" -ge 1 ]; then
	ok "$examples example services in /etc/sheath/conf.d"
else
	fail "no example services in /etc/sheath/conf.d"
fi

# User, group, log directory.
if pw=$(getent passwd sheath); then
	ok "user sheath: $pw"
	home=$(printf '%s\n' "$pw" | cut -d: -f6)
	if [ "$home" = /nonexistent ] && [ ! -e /nonexistent ]; then
		ok "user sheath has no home"
	else
		fail "user sheath home: $home"
	fi
	uid=$(printf '%s\n' "$pw" | cut -d: -f3)
	if [ "$uid" -lt 1000 ]; then
		ok "user sheath is a system user (uid $uid)"
	else
		fail "user sheath uid $uid is not a system uid"
	fi
else
	fail "user sheath missing"
fi
check "group sheath" getent group sheath
if [ -d /var/log/sheath ] && [ "$(stat -c %U /var/log/sheath)" = sheath ]; then
	ok "/var/log/sheath owned by sheath ($(stat -c '%U:%G %a' /var/log/sheath))"
else
	fail "/var/log/sheath missing or not owned by sheath"
fi

# Not enabled, not started.
if ls /etc/systemd/system/*.wants/sheath.service >/dev/null 2>&1; then
	fail "sheath.service is enabled"
else
	ok "sheath.service not enabled"
fi
if ls /etc/rc[2-5].d/S*sheath >/dev/null 2>&1; then
	fail "init script enabled: $(ls /etc/rc[2-5].d/S*sheath)"
else
	ok "init script not enabled (no S links in rc2-5.d)"
fi
if [ -d /run/systemd/system ]; then
	if systemctl is-active --quiet sheath.service; then
		fail "sheath.service is running"
	else
		ok "sheath.service not started ($(systemctl is-active sheath.service 2>/dev/null || true))"
	fi
fi
if [ -e /run/sheath/sheath.pid ]; then
	fail "/run/sheath/sheath.pid exists: something started sheath"
fi

# Purge.
log "purging sheath"
if $SUDO dpkg --purge sheath >&2; then
	installed=0
	ok "dpkg --purge sheath"
else
	fail "dpkg --purge sheath"
fi
if dpkg-query -W -f='${Status}' sheath 2>/dev/null | grep -q 'ok installed'; then
	fail "sheath still installed after purge"
fi
for p in /usr/sbin/sheath /etc/sheath /etc/init.d/sheath /etc/logrotate.d/sheath /var/log/sheath; do
	if [ -e "$p" ]; then fail "$p left after purge"; else ok "$p removed by purge"; fi
done
if ls /etc/rc?.d/[SK]*sheath >/dev/null 2>&1; then
	fail "rc.d links left after purge"
fi

if [ "$fails" != 0 ]; then
	log "$fails check(s) failed"
	exit 1
fi
log "all checks passed"
echo "$deb"
