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
# Every C program runs under a time limit (CTEST_TIMEOUT seconds): one that
# hangs fails the test.
#
# Environment: MAKE (make), CC (cc), LEAK_ROUNDS (2000), CTEST_TIMEOUT (300).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MAKE=${MAKE:-make}
CC=${CC:-cc}
# Warnings only: no -I, -L or other knowledge of the tree.
WARN="-Wall -Wextra -Werror"
CTEST_TIMEOUT=${CTEST_TIMEOUT:-300}

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

# run NAME COMMAND...: runs a C test program under the time limit; its
# "ok" lines count as passed checks, a non-zero exit (124: it hung) as one
# failure.
run() {
	local name=$1 out rc n
	shift
	out=$(timeout -k 10 "$CTEST_TIMEOUT" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed "s/^/[$name] /"
	n=$(printf '%s\n' "$out" | grep -c '^ok ')
	passed=$((passed + n))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "$name did not finish within $CTEST_TIMEOUT s"
	elif [ "$rc" -ne 0 ]; then
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
		lib/nmdb/libnmdb-core.so.1 \
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
# exports (the C layer is compiled against nmdb.h, so the compiler checks
# that the definitions match the prototypes).
protos "$prefix/include/nmdb.h" | sed 's/(.*//; s/.*\(nmdb_[a-z_]*\)$/\1/' | sort >"$tmp/header.names"
nm -D --defined-only "$prefix/lib/libnmdb.so.1" | awk '{print $3}' | grep '^nmdb_' | sort >"$tmp/shared.names"
nm --defined-only "$prefix/lib/libnmdb.a" 2>/dev/null | awk '$2 == "T" {print $3}' | grep '^nmdb_' | sort >"$tmp/static.names"
check "nmdb.h declares 22 functions" \
	test "$(wc -l <"$tmp/header.names")" -eq 22
for kind in shared static; do
	if diff -u "$tmp/header.names" "$tmp/$kind.names"; then
		pass "the $kind library exports exactly the functions of nmdb.h"
	else
		fail "the $kind library exports exactly the functions of nmdb.h"
	fi
done
check "libnmdb.so.1 exports nothing but the functions of nmdb.h" \
	sh -c "! nm -D --defined-only '$prefix/lib/libnmdb.so.1' | awk '\$2 != \"A\" {print \$3}' | grep -qv '^nmdb_'"

export C_INCLUDE_PATH=$prefix/include
export CPLUS_INCLUDE_PATH=$prefix/include
export LIBRARY_PATH=$prefix/lib
export LD_LIBRARY_PATH=$prefix/lib

mkdir -p "$tmp/src"
cp "$here"/*.c "$here"/check.h "$tmp/src/"
cd "$tmp/src" || exit 1

for p in api threads leak fork alone; do
	check "cc $p.c -lnmdb" $CC $WARN "$p.c" -o "$p" -lnmdb
done
for p in api fork; do
	check "cc $p.c -l:libnmdb.a -lpthread (static library)" \
		$CC $WARN $p.c -o $p-static -l:libnmdb.a -lpthread
	check "$p-static does not load libnmdb.so" \
		sh -c "! readelf -d $p-static | grep -q libnmdb"
done
check "pkg-config --static --libs nmdb links the static library" \
	sh -c "unset C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH
		export PKG_CONFIG_PATH='$prefix/lib/pkgconfig'
		$CC $WARN api.c -o api-static-pc \$(pkg-config --cflags nmdb) \
			-L'$prefix/lib' -l:libnmdb.a \$(pkg-config --static --libs-only-l nmdb | sed 's/-lnmdb//')"
# The library does not start the Go runtime until the first nmdb_init():
# a program that never calls it has no thread but its own.
printf '#include <nmdb.h>\n#include <stdio.h>\n#include <string.h>\nint main(int c, char **v) {\n\t(void) v;\n\tchar b[64]; FILE *f = fopen("/proc/self/status", "r");\n\tif (c > 1) nmdb_free(nmdb_init());\n\twhile (fgets(b, sizeof(b), f)) if (!strncmp(b, "Threads:", 8)) fputs(b, stdout);\n\treturn 0;\n}\n' >lazy.c
check "cc lazy.c -lnmdb" $CC $WARN lazy.c -o lazy -lnmdb
check "cc lazy.c -l:libnmdb.a -lpthread" $CC $WARN lazy.c -o lazy-static -l:libnmdb.a -lpthread
for p in lazy lazy-static; do
	check "$p: no runtime threads before nmdb_init" sh -c "[ \"\$(./$p)\" = 'Threads:	1' ]"
	check "$p: runtime threads after nmdb_init" sh -c "./$p init | grep -qv 'Threads:	1\$'"
done
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
# A call costs what a plain C client's costs: one send and one blocking
# read on the calling thread, on a connection of its own in blocking mode
# (libnmdb.Options.ThreadWait): no poll before the read, and no thread of
# the runtime woken per call: futex and epoll_pwait calls, which a wait in
# Go's poller makes whenever the reply is not there yet, stay under one
# per call. What is left is the runtime's own and the threads yielding
# their P every 8 ms (YIELD_NS in cgo/shim/nmdb.c), so it grows with the run's
# length, which strace stretches: 2,892-7,746 seen. A wait in the poller
# would also show in the reads (an empty read before each wait). Counted
# with strace over 5 x 4000 calls: 20000 calls, a set and a get each.
if command -v strace >/dev/null && strace -f -c -o /dev/null true 2>/dev/null; then
	run alone strace -f -c -o "$tmp/alone.strace" ./alone "$port1" 4000
	count() { awk -v re="$1" '$NF ~ re {n += $4} END {print n + 0}' "$tmp/alone.strace"; }
	polls=$(count '^(ppoll|poll|select|pselect6)$')
	sends=$(count '^(sendto|sendmsg)$')
	reads=$(count '^(read|recvfrom|recvmsg)$')
	wakes=$(count '^(futex|epoll_pwait|epoll_wait)$')
	check "alone: calls wait in a blocking read, not in poll(2) ($polls polls for 20000 calls)" \
		test "$polls" -lt 100
	check "alone: one send per call ($sends for 20000 calls)" \
		test "$sends" -ge 20000 -a "$sends" -lt 20400
	check "alone: one read per call ($reads for 20000 calls)" \
		test "$reads" -ge 20000 -a "$reads" -lt 20400
	check "alone: calls alone wake no other thread ($wakes futex and epoll_pwait calls for 20000 calls, fewer than one per call wanted)" \
		test "$wakes" -lt 20000
else
	echo "# strace is not usable here: the count of system calls of a call alone is not checked (not counted as passed)"
fi
# fork and fork-static each kill a server of their own.
start_daemon victim1 -u off || { fail "start daemon victim1"; finish; }
vport1=$PORT vpid1=$(cat "$tmp/victim1.pid")
start_daemon victim2 -u off || { fail "start daemon victim2"; finish; }
vport2=$PORT vpid2=$(cat "$tmp/victim2.pid")
run fork ./fork "$port1" works "$vport1" "$vpid1"
run fork-static ./fork-static "$port1" fails "$vport2" "$vpid2"
# The victims are gone (killed, or left to the cleanup if a test failed
# before killing them).
keep=()
for p in "${pids[@]}"; do
	if [ "$p" = "$vpid1" ] || [ "$p" = "$vpid2" ]; then
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	else
		keep+=("$p")
	fi
done
pids=("${keep[@]}")
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

# make uninstall removes what make install put into a DESTDIR, and nothing
# else.
dest=$tmp/dest
mkdir -p "$dest/opt/nmdb-test/lib" "$dest/opt/nmdb-test/share/man/man1"
echo keep >"$dest/opt/nmdb-test/lib/other.so"
echo keep >"$dest/opt/nmdb-test/share/man/man1/other.1"
if "$MAKE" -s -C "$top" install DESTDIR="$dest" PREFIX=/opt/nmdb-test LDCONFIG=: \
		>"$tmp/install2.log" 2>&1; then
	check "make install DESTDIR=<tmp> PREFIX=/opt/nmdb-test installs the library" \
		test -s "$dest/opt/nmdb-test/lib/nmdb/libnmdb-core.so.1"
	check "nmdb.pc of a DESTDIR install names the final PREFIX" \
		grep -qx "prefix=/opt/nmdb-test" "$dest/opt/nmdb-test/lib/pkgconfig/nmdb.pc"
	check "make uninstall DESTDIR=<tmp> PREFIX=/opt/nmdb-test" \
		"$MAKE" -s -C "$top" uninstall DESTDIR="$dest" PREFIX=/opt/nmdb-test LDCONFIG=:
	left=$(cd "$dest" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
	check "make uninstall leaves only the files it did not install (left: $left)" \
		test "$left" = "./opt/nmdb-test/lib/other.so ./opt/nmdb-test/share/man/man1/other.1 "
	check "make uninstall removes the library's private directory" \
		test ! -e "$dest/opt/nmdb-test/lib/nmdb"
else
	cat "$tmp/install2.log"
	fail "make install DESTDIR=<tmp> PREFIX=/opt/nmdb-test"
fi
finish
