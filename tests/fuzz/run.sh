#!/bin/sh
# run.sh [SECONDS] -- build every libFuzzer harness of tests/fuzz with clang
# and run each for SECONDS (default 60) on a copy of its seed corpus.
#
# Environment:
#   SRCDIR      source tree (default: the tree this script is in)
#   BUILDDIR    configured build tree holding autoconfig.h and Makefile
#               (default: SRCDIR)
#   FUZZ_OUT    where binaries, corpora, logs and artifacts go
#               (default: $BUILDDIR/tests/fuzz/build)
#   CC          a clang with libFuzzer (default: clang)
#   HARNESSES   which harnesses to run (default: every fuzz_*.c), by name
#               without the fuzz_ prefix, e.g. HARNESSES="config addr"
#   FUZZ_ARGS   extra libFuzzer arguments for every run
#   FUZZ_BUILD_ONLY=1  build, do not run
#
# Prints the number of executions each harness reached and exits 1 if any
# harness crashed, leaked, timed out or ran out of memory (the reproducer
# is left in $FUZZ_OUT/artifacts/NAME/), 2 on a build or set-up problem.
set -u

here=$(cd "$(dirname "$0")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$here/../.." && pwd)}
BUILDDIR=${BUILDDIR:-$SRCDIR}
SRCDIR=$(cd "$SRCDIR" && pwd) || exit 2
BUILDDIR=$(cd "$BUILDDIR" && pwd) || exit 2
FUZZ_OUT=${FUZZ_OUT:-$BUILDDIR/tests/fuzz/build}
CC=${CC:-clang}
seconds=${1:-60}
fuzzdir=$SRCDIR/tests/fuzz

case $seconds in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

if [ ! -f "$BUILDDIR/autoconfig.h" ]; then
	echo "run.sh: $BUILDDIR/autoconfig.h is missing: run ./configure" \
	    "(in BUILDDIR) first" >&2
	exit 2
fi
if ! "$CC" --version 2>/dev/null | grep -qi clang; then
	echo "run.sh: CC=$CC is not clang; libFuzzer needs clang" >&2
	exit 2
fi

# A variable of the configured Makefile (its resolved value), if any.
mkvar() {
	[ -f "$BUILDDIR/Makefile" ] || return 0
	sed -n "s/^$1 = *//p" "$BUILDDIR/Makefile" | head -n 1
}

# The library's C sources, as Makefile.am lists them in
# src_libsheath_a_SOURCES; every src/*.c but main.c when that fails.
lib_sources() {
	awk '
	/^src_libsheath_a_SOURCES[ \t]*=/ { on = 1; sub(/^[^=]*=/, "") }
	on {
		cont = sub(/\\[ \t]*$/, "")
		n = split($0, w, /[ \t]+/)
		for (i = 1; i <= n; i++)
			if (w[i] ~ /\.c$/)
				print w[i]
		if (!cont)
			exit
	}' "$SRCDIR/Makefile.am" 2>/dev/null
}

srcs=$(lib_sources)
if [ -z "$srcs" ]; then
	srcs=$(cd "$SRCDIR" && ls src/*.c | grep -v '^src/main\.c$')
fi

deps_cflags=
deps_libs=
for v in GNUTLS LIBCONFIG SYSTEMD SECCOMP; do
	deps_cflags="$deps_cflags $(mkvar ${v}_CFLAGS)"
	deps_libs="$deps_libs $(mkvar ${v}_LIBS)"
done
if [ -z "$(echo $deps_libs)" ]; then
	deps_cflags=$(pkg-config --cflags gnutls libconfig) || exit 2
	deps_libs=$(pkg-config --libs gnutls libconfig) || exit 2
	if grep -q '^#define HAVE_SYSTEMD 1' "$BUILDDIR/autoconfig.h"; then
		deps_cflags="$deps_cflags $(pkg-config --cflags libsystemd)"
		deps_libs="$deps_libs $(pkg-config --libs libsystemd)"
	fi
	if grep -q '^#define HAVE_SECCOMP 1' "$BUILDDIR/autoconfig.h"; then
		deps_cflags="$deps_cflags $(pkg-config --cflags libseccomp)"
		deps_libs="$deps_libs $(pkg-config --libs libseccomp)"
	fi
fi

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c11 -g -O1 -fno-omit-frame-pointer $san
	-I$BUILDDIR -I$SRCDIR/src $deps_cflags"
# The harnesses are held to the project's warnings (the library's are the
# normal build's business).
warn="-Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes
	-Wmissing-prototypes -Wformat=2"

mkdir -p "$FUZZ_OUT/obj" || exit 2
# Other flags than last time: rebuild everything.
if [ "$(cat "$FUZZ_OUT/obj/.flags" 2>/dev/null)" != "$CC $cflags" ]; then
	rm -f "$FUZZ_OUT"/obj/*.o
	printf '%s' "$CC $cflags" >"$FUZZ_OUT/obj/.flags"
fi

# The library, instrumented for coverage but without libFuzzer's main().
objs=
for s in $srcs; do
	o=$FUZZ_OUT/obj/$(basename "$s" .c).o
	if [ ! -f "$o" ] || [ "$SRCDIR/$s" -nt "$o" ] ||
	    [ "$BUILDDIR/autoconfig.h" -nt "$o" ] ||
	    [ -n "$(find "$SRCDIR/src" -name '*.h' -newer "$o" 2>/dev/null)" ]; then
		echo "  CC      $s"
		# shellcheck disable=SC2086
		$CC $cflags -fsanitize=fuzzer-no-link -c "$SRCDIR/$s" -o "$o" ||
		    exit 2
	fi
	objs="$objs $o"
done

if [ -n "${HARNESSES:-}" ]; then
	names=$HARNESSES
else
	names=$(cd "$fuzzdir" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi

for n in $names; do
	[ -f "$fuzzdir/fuzz_$n.c" ] || { echo "run.sh: no fuzz_$n.c" >&2; exit 2; }
	echo "  CCLD    tests/fuzz/fuzz_$n"
	# shellcheck disable=SC2086
	$CC $cflags $warn -fsanitize=fuzzer "$fuzzdir/fuzz_$n.c" $objs $deps_libs \
	    -o "$FUZZ_OUT/fuzz_$n" || exit 2
done

[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

status=0
summary=
for n in $names; do
	work=$FUZZ_OUT/work/$n
	arts=$FUZZ_OUT/artifacts/$n
	log=$FUZZ_OUT/fuzz_$n.log
	rm -rf "$work" "$arts"
	mkdir -p "$work/corpus" "$arts" || exit 2
	if [ -d "$fuzzdir/corpus/$n" ]; then
		cp "$fuzzdir/corpus/$n"/* "$work/corpus/" 2>/dev/null
	fi
	dict=
	[ -f "$fuzzdir/fuzz_$n.dict" ] && dict=-dict=$fuzzdir/fuzz_$n.dict
	opts=
	[ -f "$fuzzdir/fuzz_$n.options" ] &&
	    opts=$(grep -v '^[[:space:]]*\(#\|$\)' "$fuzzdir/fuzz_$n.options")
	echo "  FUZZ    fuzz_$n for ${seconds}s"
	# shellcheck disable=SC2086
	(cd "$work" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$fuzzdir/lsan.supp:print_suppressions=0} \
	    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    "$FUZZ_OUT/fuzz_$n" -max_total_time="$seconds" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$arts/" $dict $opts ${FUZZ_ARGS:-} corpus \
	    >"$log" 2>&1)
	rc=$?
	# A leak reported only at exit (per-input leak checks were off): replay
	# the corpus, checking every input, to find the one that leaks.
	if [ $rc -ne 0 ] && [ -z "$(ls "$arts")" ] &&
	    grep -q 'LeakSanitizer' "$log"; then
		echo "  LEAK    replaying the corpus of fuzz_$n to find the input"
		(cd "$work" && \
		    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$fuzzdir/lsan.supp:print_suppressions=0} \
		    "$FUZZ_OUT/fuzz_$n" -runs=0 -detect_leaks=1 -timeout=10 \
		    -rss_limit_mb=2048 -artifact_prefix="$arts/" corpus \
		    >>"$log" 2>&1)
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	found=$(ls "$arts" 2>/dev/null | head -n 5 | tr '\n' ' ')
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		what=$(grep -m1 -o 'ERROR: [A-Za-z]*Sanitizer: [a-z-]*\|ERROR: libFuzzer: [a-z-]*\|runtime error: .*\|fuzz_[a-z]*: .*' "$log")
		result="FAILED (exit $rc${what:+: $what}) ${found:+artifacts: $found}log: $log"
		status=1
	else
		result=ok
	fi
	line=$(printf '%-16s %10s execs  %s' "fuzz_$n" "${execs:-?}" "$result")
	echo "$line"
	summary="$summary$line
"
done

echo
echo "Summary (${seconds}s each):"
printf '%s' "$summary"
exit $status
