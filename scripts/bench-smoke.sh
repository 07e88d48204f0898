#!/usr/bin/env bash
# Prove the benchmark program works: build it and the daemon, start one
# nmdb on 127.0.0.1, and run a tiny round of every kind of run the
# benchmark suite uses (raw TCP and UDP clients, the libnmdb client, several
# client processes, the cache-only, normal and sync modes, the raw C loop
# in processes and threads and with the Go floor library, and the C
# library's benchmark program), then the report.
# No speed is checked: a run fails only on errors, lost replies or misses.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
GO=${GO:-go}
N=${SMOKE_REQUESTS:-1000}

work=$(mktemp -d "${TMPDIR:-/tmp}/nmdb-bench-smoke.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ]; then stop_pids "$pid"; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$GO" build -o "$work/" ./cmd/nmdb ./cmd/nmdb-bench ./cmd/nmdb-bench-report
BENCH=$work/nmdb-bench
REPORT=$work/nmdb-bench-report
port=$(free_port)
"$work/nmdb" -f -d "$work/db" -l off -s off -t "$port" -T 127.0.0.1 -u "$port" -U 127.0.0.1 \
	-c 64 -o "$work/nmdb.log" &
pid=$!
if ! wait_tcp 30 "127.0.0.1:$port"; then
	cat "$work/nmdb.log" >&2 || true
	exit 1
fi

res=$work/results.jsonl
run() {
	echo "bench-smoke: $*"
	timeout 120 "$BENCH" -addr "127.0.0.1:$port" -keys 1000 -requests "$N" -duration 30s -warmup 0 \
		-timeout 5s -strict -out "$res" "$@"
}
"$REPORT" note -row smoke -test "smoke" -goal ">= 0" -out "$res"
run -row smoke -role nmdb -name "raw tcp cache get" -mode cache -gets 1 -pid "$pid" -count-objects
run -row smoke -role peer -name "raw tcp cache set" -mode cache -gets 0 -preload=false -depth 16 -io poll
run -name "raw udp cache mix" -mode cache -transport udp -gets 0.5 -preload=false
run -name "raw tcp normal mix, 2 processes" -mode normal -gets 0.5 -procs 2
run -name "raw tcp sync sets, 4 conns" -mode sync -gets 0 -conns 4 -io poll -preload=false
run -name "libnmdb cache get, 8 goroutines" -client lib -goroutines 8 -mode cache -gets 1 -preload=false
run -name "libnmdb udp normal mix" -client lib -transport udp -goroutines 2 -mode normal -gets 0.5 -preload=false
# The raw C loop, the reference of the one-request-at-a-time rows: no
# errors, and every get of a preloaded key a hit.
${CC:-cc} -O2 -Wall -Werror -o "$work/rawloop" scripts/rawloop/rawloop.c
for op in get set; do
	echo "bench-smoke: raw C loop $op"
	out=$(timeout 60 "$work/rawloop" -a "127.0.0.1:$port" -o $op -t 0.3 -w 0 -k 1000 -r "" -R "" \
		-n "raw C loop $op" -f "$res")
	if ! grep -q '"misses":0,"errors":0,' <<<"$out"; then
		echo "bench-smoke: raw C loop $op: $out" >&2
		exit 1
	fi
done
# rawloop's processes and threads (also with a call into the Go floor
# library before each request), and the C library's benchmark program
# (threads with a handle each or sharing one, and the start-cost runs of
# it and of rawloop), linked against the shared library as `make lib`
# builds it.
"${MAKE:-make}" -s lib BINDIR="$work" GO="$GO" >"$work/lib.log" 2>&1 || {
	cat "$work/lib.log" >&2
	exit 1
}
${CC:-cc} -O2 -Wall -Werror -Icgo -o "$work/clibbench" scripts/clibbench/clibbench.c \
	-L"$work/lib" -lnmdb -lpthread
"$GO" build -buildmode=c-shared -o "$work/libgofloor.so" ./scripts/rawloop/gofloor
export LD_LIBRARY_PATH=$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cprog NAME PROGRAM ARG...: a run of a C benchmark program with requests,
# no errors, and no misses (every key was preloaded).
cprog() {
	local name=$1 out
	shift
	echo "bench-smoke: $name"
	out=$(timeout 60 "$@" -a "127.0.0.1:$port" -t 0.3 -w 0 -k 1000 -r smoke-c -n "$name" -f "$res")
	if ! grep -q '"misses":0,"errors":0,' <<<"$out" || grep -q '"ops":0,' <<<"$out"; then
		echo "bench-smoke: $name: $out" >&2
		exit 1
	fi
}
cprog "raw C loop get, 2 processes" "$work/rawloop" -R peer -o get -p 2
cprog "raw C loop set, 2 threads" "$work/rawloop" -R peer -o set -T 2
cprog "raw C loop get, 2 threads, a Go call each" "$work/rawloop" -R peer -o get -T 2 \
	-g "$work/libgofloor.so"
echo "bench-smoke: raw C loop -1 with a Go runtime started"
timeout 60 "$work/rawloop" -1 -g "$work/libgofloor.so" -a "127.0.0.1:$port" -o set -k 1000
for op in get set; do
	cprog "C library $op" "$work/clibbench" -R nmdb -o $op
	cprog "C library $op, 2 threads" "$work/clibbench" -R nmdb -o $op -T 2
	cprog "C library $op, 2 threads, 1 handle" "$work/clibbench" -R nmdb -o $op -T 2 -s
done
for prog in "clibbench nmdb clib" "rawloop peer raw-c"; do
	set -- $prog
	echo "bench-smoke: start cost of $1"
	out=$(timeout 60 "$work/clibbench" -x -r smoke-start -R "$2" -C "$3" -n "$1 -1" -o set \
		-t 0.3 -w 0 -f "$res" -- "$work/$1" -1 -a "127.0.0.1:$port" -o set -k 1000)
	if ! grep -q '"errors":0,' <<<"$out" || grep -q '"ops":0,' <<<"$out"; then
		echo "bench-smoke: start cost of $1: $out" >&2
		exit 1
	fi
done
"$REPORT" report -details "$res"
kill -0 "$pid" # the daemon survived every run
echo "bench-smoke: ok"
