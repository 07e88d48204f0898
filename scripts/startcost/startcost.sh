#!/usr/bin/env bash
# The start cost of a C program that uses the C library, taken apart
# (docs/BENCH.md, "Start cost of a C program"). Builds the daemon, the
# library (make lib) and the programs below into a temporary directory,
# starts one daemon on a free port of 127.0.0.1, and runs, taking turns
# one run each (runner.c), programs that each make one cache-only set
# over a new TCP connection and exit:
#
#   raw          rawloop -1: a plain C client (connect, send, recv)
#   floor        the same with an empty Go library started first
#                (floor/, loaded by preload.c): the Go runtime's own start
#   core         the same with the library's Go core started first (dlopen
#                and the first call, as nmdb_init makes them)
#   clib         clibbench -1: nmdb_init, nmdb_add_tcp_server, one
#                nmdb_cache_set, nmdb_free, exit; shared library (-lnmdb)
#   clib-static  the same linked with libnmdb.a
#
# and prints the median wall and processor time of a run and the ratio of
# each wall time to raw's. STARTCOST_ROUNDS (300) runs of each.
set -euo pipefail

cd "$(dirname "$0")/../.."
. scripts/bench-lib.sh
GO=${GO:-go}
MAKE=${MAKE:-make}
CC=${CC:-cc}
ROUNDS=${STARTCOST_ROUNDS:-300}

work=$(mktemp -d "${TMPDIR:-/tmp}/nmdb-startcost.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ]; then stop_pids "$pid"; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$GO" build -o "$work/" ./cmd/nmdb
"$MAKE" -s lib BINDIR="$work/bin" GO="$GO" >"$work/lib.log" 2>&1 || { cat "$work/lib.log"; exit 1; }
lib=$work/bin/lib
"$GO" build -buildmode=c-shared -o "$work/libfloor.so" ./scripts/startcost/floor
$CC -O2 -o "$work/runner" scripts/startcost/runner.c
$CC -O2 -fPIC -shared -o "$work/preload.so" scripts/startcost/preload.c -ldl
$CC -O2 -o "$work/rawloop" scripts/rawloop/rawloop.c
$CC -O2 -Icgo -o "$work/clib" scripts/clibbench/clibbench.c -L"$lib" -lnmdb -Wl,-rpath,"$lib" -lpthread
$CC -O2 -Icgo -o "$work/clib-static" scripts/clibbench/clibbench.c "$lib/libnmdb.a" -lpthread

port=$(free_port)
"$work/nmdb" -f -d "$work/db" -l off -s off -t "$port" -T 127.0.0.1 -u off -o "$work/nmdb.log" &
pid=$!
wait_tcp 10 "127.0.0.1:$port"
a=127.0.0.1:$port
one="-1 -a $a -o set"
pre="LD_PRELOAD=$work/preload.so"

echo "start cost: $ROUNDS runs of each, taking turns; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$work/runner" "$ROUNDS" \
	"raw=$work/rawloop $one" \
	"floor=$pre STARTCOST_LIB=$work/libfloor.so STARTCOST_FN=startcost_floor $work/rawloop $one" \
	"core=$pre STARTCOST_LIB=$lib/nmdb/libnmdb-core.so.1 STARTCOST_FN=nmdbgo_new $work/rawloop $one" \
	"clib=$work/clib $one" \
	"clib-static=$work/clib-static $one"
