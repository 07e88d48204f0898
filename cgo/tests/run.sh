#!/usr/bin/env bash
# C library tests: install the whole project into a temporary PREFIX, then
# build the C programs of this directory the way users do, with nothing but
# `cc prog.c -lnmdb` (the compiler finds the installed header and library
# through C_INCLUDE_PATH, LIBRARY_PATH and LD_LIBRARY_PATH), and run them
# against real daemons from that tree on free loopback ports. Daemons are
# stopped by pid when the script exits, whatever happens.
#
# Prints "ok ..." per check and "N passed, N failed" at the end; exits
# non-zero if anything failed.
#
# Environment: MAKE (make), CC (cc), LEAK_ROUNDS (2000).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MAKE=${MAKE:-make}
CC=${CC:-cc}
# Warnings only: no -I, -L or other knowledge of the tree.
WARN="-Wall -Wextra -Werror"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nmdb-ctest.XXXXXX")
prefix=$tmp/prefix
pids=()
passed=0
failed=0

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

# check DESCRIPTION COMMAND...: one check, passing when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# run NAME COMMAND...: runs a C test program; its "ok" lines count as
# passed checks, a non-zero exit as one failure.
run() {
	local name=$1 out rc n
	shift
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed "s/^/[$name] /"
	n=$(printf '%s\n' "$out" | grep -c '^ok ')
	passed=$((passed + n))
	if [ "$rc" -ne 0 ]; then
		fail "$name exited with status $rc"
	fi
}

# start_daemon NAME [FLAGS...]: starts a daemon of the installed tree on a
# free TCP port of 127.0.0.1 (TIPC and SCTP off; UDP off unless FLAGS turn
# it on) and sets PORT. "@PORT@" in FLAGS stands for the port.
start_daemon() {
	local name=$1 try i pid port
	shift
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 12000))
		rm -f "$tmp/$name.pid"
		"$prefix/bin/nmdb" -f -d "$tmp/$name.db" -T 127.0.0.1 -t "$port" \
			-l off -s off -i "$tmp/$name.pid" -o "$tmp/$name.log" \
			"${@//@PORT@/$port}" &
		pid=$!
		# The pid file appears once the daemon listens.
		for i in $(seq 1 200); do
			if [ -s "$tmp/$name.pid" ]; then
				pids+=("$pid")
				PORT=$port
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	echo "could not start daemon $name; its log:"
	cat "$tmp/$name.log" 2>/dev/null
	return 1
}

# protos FILE: the nmdb_ prototypes FILE declares, normalized (no const,
# extern or white space), one per line, sorted.
protos() {
	printf '#include "%s"\n' "$1" | $CC -E -P -x c - |
		tr '\n' ' ' | tr ';' '\n' | grep -E 'nmdb_[a-z_]+ *\(' |
		grep -v typedef |
		sed -e 's/\<extern\>//g' -e 's/\<const\>//g' -e 's/[[:space:]]//g' |
		sort
}

echo "# installing into a temporary prefix"
if ! "$MAKE" -s -C "$top" install DESTDIR= PREFIX="$prefix" LDCONFIG=: \
		>"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	fail "make install PREFIX=$prefix"
	finish
fi
pass "make install PREFIX=<tmp>"

for f in bin/nmdb bin/nmdb-stats bin/nmdb-cli lib/libnmdb.so.1 lib/libnmdb.a \
		include/nmdb.h lib/pkgconfig/nmdb.pc share/man/man1/nmdb.1 \
		share/man/man1/nmdb-stats.1 share/man/man1/nmdb-cli.1 \
		share/man/man3/libnmdb.3; do
	check "installed $f" test -s "$prefix/$f"
done
check "libnmdb.so links to libnmdb.so.1" \
	test "$(readlink "$prefix/lib/libnmdb.so")" = libnmdb.so.1
check "libnmdb.so.1 has soname libnmdb.so.1" \
	sh -c "readelf -d '$prefix/lib/libnmdb.so.1' | grep -q 'SONAME.*\[libnmdb.so.1\]'"
check "nmdb.pc has the prefix substituted" \
	grep -q "^prefix=$prefix\$" "$prefix/lib/pkgconfig/nmdb.pc"

# ABI: the hand-written header declares exactly the functions the library
# exports, with the same types (const aside, which C's ABI ignores).
protos "$prefix/include/nmdb.h" >"$tmp/header.protos"
protos "$top/bin/lib/cgo-export.h" >"$tmp/export.protos"
check "nmdb.h declares 21 functions" \
	test "$(wc -l <"$tmp/header.protos")" -eq 21
if diff -u "$tmp/export.protos" "$tmp/header.protos"; then
	pass "nmdb.h prototypes match the exported functions"
else
	fail "nmdb.h prototypes match the exported functions"
fi

export C_INCLUDE_PATH=$prefix/include
export CPLUS_INCLUDE_PATH=$prefix/include
export LIBRARY_PATH=$prefix/lib
export LD_LIBRARY_PATH=$prefix/lib

mkdir -p "$tmp/src"
cp "$here"/*.c "$here"/check.h "$tmp/src/"
cd "$tmp/src" || exit 1

for p in api threads leak; do
	check "cc $p.c -lnmdb" $CC $WARN "$p.c" -o "$p" -lnmdb
done
check "cc api.c -l:libnmdb.a -lpthread (static library)" \
	$CC $WARN api.c -o api-static -l:libnmdb.a -lpthread
check "api-static does not load libnmdb.so" \
	sh -c "! readelf -d api-static | grep -q libnmdb"
# pkg-config alone, without the compiler's search paths (pkg-config leaves
# out flags for directories those already name).
check "pkg-config --cflags --libs nmdb builds a program" \
	sh -c "unset C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH
		export PKG_CONFIG_PATH='$prefix/lib/pkgconfig'
		$CC $WARN threads.c -o threads-pc \$(pkg-config --cflags --libs nmdb)"
if command -v c++ >/dev/null; then
	printf '#include <nmdb.h>\nint main() { nmdb_t *db = nmdb_init(); return db == 0 || nmdb_free(db) != 1; }\n' >cxx.cc
	check "C++ program includes nmdb.h and links -lnmdb" c++ cxx.cc -o cxx -lnmdb
	check "C++ program runs" ./cxx
fi
[ "$failed" -eq 0 ] || finish

# Daemon one serves UDP on the same port number as TCP.
start_daemon one -U 127.0.0.1 -u @PORT@ || { fail "start daemon one"; finish; }
port1=$PORT
start_daemon two -u off || { fail "start daemon two"; finish; }
port2=$PORT
start_daemon ro -r -u off || { fail "start read-only daemon"; finish; }
roport=$PORT
# A port where nothing listens: not one of the above, TCP refused.
deadport=$((32100 + RANDOM % 500))
while [ "$deadport" = "$port1" ] || [ "$deadport" = "$port2" ] ||
		[ "$deadport" = "$roport" ] ||
		(exec 3<>"/dev/tcp/127.0.0.1/$deadport") 2>/dev/null; do
	deadport=$((deadport + 1))
done
echo "# daemons on ports $port1 (TCP and UDP), $port2, $roport (read-only); $deadport unused"

run api ./api "$port1" "$port2" "$roport" "$deadport"
run api-static ./api-static "$port1" "$port2" "$roport" "$deadport"
run threads ./threads "$port1"
run leak ./leak "$port1" "${LEAK_ROUNDS:-2000}"
check "nmdb-stats of the installed tree" sh -c \
	"'$prefix/bin/nmdb-stats' tcp 127.0.0.1 $port1 >stats.out &&
	 head -n 1 stats.out | grep -qx 'stats for server 0:' &&
	 ! tail -n +2 stats.out | grep -qvE '^(	[0-9a-z.]+	[a-z ]+)?\$' &&
	 [ \$(wc -l <stats.out) -ge 24 ]"
check "nmdb-cli of the installed tree" sh -c \
	"'$prefix/bin/nmdb-cli' -s tcp:127.0.0.1:$port1 set -sync cli-key cli-value &&
	 [ \"\$('$prefix/bin/nmdb-cli' -s tcp:127.0.0.1:$port1 get cli-key)\" = cli-value ]"

for p in "${pids[@]}"; do
	kill "$p"
	if wait "$p"; then
		pass "daemon $p stopped cleanly on SIGTERM"
	else
		fail "daemon $p exit status on SIGTERM"
	fi
done
pids=()
finish
