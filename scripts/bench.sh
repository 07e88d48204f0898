#!/usr/bin/env bash
# Benchmark nmdb against memcached and Redis on this machine, side by side,
# and print one table whose RATIO column is nmdb over the best peer of the
# same run (docs/BENCH.md explains every row).
#
#   scripts/bench.sh            (or: make bench)
#
# Environment:
#   BENCH_SECS=5       measured seconds per run, whole (after BENCH_WARMUP=1 s)
#   BENCH_REPEAT=3     runs per measurement, interleaved; the table takes medians
#   BENCH_KEYS=100000  distinct keys (16-byte keys, 64-byte values)
#   BENCH_MEM_KEYS=1000000  objects loaded for the memory row
#   BENCH_OUT=DIR      keep results.jsonl, table.txt and the Go benchmark output
#   BENCH_TMPDIR=/var/tmp   where the servers keep their data (must be a real
#                      disk, not tmpfs, or the sync rows measure nothing)
#   BENCH_ROWS="1 2 3 4 5 6"  which rows to run ("1c": of row 1, only the C
#                      library's rows and their raw C references); row 7 (the
#                      C library over TIPC, scripts/tipc-vm/bench.sh) boots
#                      the emulated test VM and runs only when named
#
# Every server listens on 127.0.0.1 only and is stopped by pid on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
GO=${GO:-go}
MAKE=${MAKE:-make}
SECS=${BENCH_SECS:-5}
WARM=${BENCH_WARMUP:-1}
REPEAT=${BENCH_REPEAT:-3}
KEYS=${BENCH_KEYS:-100000}
MEMKEYS=${BENCH_MEM_KEYS:-1000000}
ROWS=" ${BENCH_ROWS:-1 2 3 4 5 6} "
TMPBASE=${BENCH_TMPDIR:-/var/tmp}

log() { printf '== %s\n' "$*" >&2; }

# --- servers to compare against, from Debian when missing ------------------
if ! command -v memcached >/dev/null || ! command -v redis-server >/dev/null ||
	! command -v redis-benchmark >/dev/null; then
	log "installing memcached and redis-server"
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: memcached and redis-server are missing; install them (apt-get install memcached redis-server) or run as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# A cleaned package cache can make the first attempt fail; try twice.
	apt-get install -y -qq --no-install-recommends memcached redis-server redis-tools </dev/null ||
		apt-get install -y -qq --no-install-recommends memcached redis-server redis-tools </dev/null
fi

work=$(mktemp -d "$TMPBASE/nmdb-bench.XXXXXX")
pids=()
stop_all() {
	stop_pids "${pids[@]}"
	pids=()
}
cleanup() {
	stop_all
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building"
mkdir -p "$work/bin"
"$GO" build -o "$work/bin/" ./cmd/nmdb ./cmd/nmdb-bench ./cmd/nmdb-bench-report
NMDB=$work/bin/nmdb
BENCH=$work/bin/nmdb-bench
REPORT=$work/bin/nmdb-bench-report
# The reference of the one-request-at-a-time rows: a C loop speaking the
# wire protocol with plain send and recv.
RAWLOOP=$work/bin/rawloop
${CC:-cc} -O2 -o "$RAWLOOP" scripts/rawloop/rawloop.c
# The C library rows: the shared library as `make lib` builds it, and a
# program that uses it through nmdb.h and -lnmdb alone.
has() { [[ $ROWS == *" $1 "* ]]; }
clib_rows() { has 1 || has 1c; }
CLIBBENCH=$work/bin/clibbench
LIBDIR=$work/bin/lib
GOFLOOR=$work/bin/libgofloor.so
if clib_rows; then
	if ! "$MAKE" -s lib BINDIR="$work/bin" GO="$GO" >"$work/lib.log" 2>&1; then
		cat "$work/lib.log" >&2
		exit 1
	fi
	${CC:-cc} -O2 -Icgo -o "$CLIBBENCH" scripts/clibbench/clibbench.c -L"$LIBDIR" -lnmdb -lpthread
	# The floor under the C library's rows: an empty Go library that
	# rawloop -g calls once per request (scripts/rawloop/gofloor).
	"$GO" build -buildmode=c-shared -o "$GOFLOOR" ./scripts/rawloop/gofloor
fi
res=$work/results.jsonl
: >"$res"
failures=$work/failures
: >"$failures"

memcached_user=()
if [ "$(id -u)" -eq 0 ]; then memcached_user=(-u root); fi

# start_nmdb NAME PORT CACHE_K: nmdb with TCP and UDP on PORT, TIPC and SCTP off.
start_nmdb() {
	mkdir -p "$work/$1"
	"$NMDB" -f -d "$work/$1/db" -l off -s off -t "$2" -T 127.0.0.1 -u "$2" -U 127.0.0.1 \
		-c "$3" -m 2048 -o "$work/$1/log" &
	pids+=($!)
	last_pid=$!
}
# start_memcached PORT: TCP and UDP on PORT, 2 threads, 2 GiB.
start_memcached() {
	memcached "${memcached_user[@]}" -l 127.0.0.1 -p "$1" -U "$1" -t 2 -m 2048 -c 4096 &
	pids+=($!)
	last_pid=$!
}
# start_redis NAME PORT [durable]: no persistence, or the append-only file
# with an fsync before every reply.
start_redis() {
	local persist=(--save "" --appendonly no)
	if [ "${3:-}" = durable ]; then persist=(--save "" --appendonly yes --appendfsync always); fi
	mkdir -p "$work/$1"
	redis-server --port "$2" --bind 127.0.0.1 --daemonize no --dir "$work/$1" \
		--logfile "$work/$1/log" "${persist[@]}" &
	pids+=($!)
	last_pid=$!
}
# port sets got to a port free for TCP and UDP that this script has not
# handed out yet (a server started just before may not have bound its port
# yet). It runs in this shell, not in $(...), to remember what it gave.
used_ports=" "
port() {
	local p i
	for ((i = 0; i < 20; i++)); do
		p=$(free_port)
		if [[ $used_ports != *" $p "* ]]; then
			used_ports+="$p "
			got=$p
			return 0
		fi
	done
	return 1
}

# bench ROW ROLE NAME [flags...]: one run, appended to the results. A failed
# run is reported at the end and does not stop the others.
bench() {
	local row=$1 role=$2 name=$3
	shift 3
	if ! timeout $((${SECS%.*} + 300)) "$BENCH" -row "$row" -role "$role" -name "$name" \
		-duration "${SECS}s" -warmup "${WARM}s" -keys "$KEYS" -keysize 16 -valsize 64 \
		-preload=false -out "$res" "$@"; then
		echo "row $row: $name failed: $*" >>"$failures"
	fi
}
# rawloop ROW ROLE NAME OP ADDR [flags]: the raw C loop, one request in
# flight (-p N: N processes; -T N: N threads; -g LIB: a call into the Go
# library LIB before each request).
rawloop() {
	if ! timeout $((${SECS%.*} + 300)) "$RAWLOOP" -r "$1" -R "$2" -n "$3" -o "$4" -a "$5" \
		-t "$SECS" -w "$WARM" -k "$KEYS" -K 16 -v 64 -f "$res" "${@:6}" >/dev/null; then
		echo "row $1: $3 failed" >>"$failures"
	fi
}
# clibbench ROW ROLE NAME OP ADDR [flags]: the C library, one request in
# flight per thread (-T N: N threads, each with a handle; -s: sharing one).
clibbench() {
	if ! LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		timeout $((${SECS%.*} + 300)) "$CLIBBENCH" -r "$1" -R "$2" -n "$3" -o "$4" -a "$5" \
		-t "$SECS" -w "$WARM" -k "$KEYS" -K 16 -v 64 -f "$res" "${@:6}" >/dev/null; then
		echo "row $1: $3 failed" >>"$failures"
	fi
}
# startcost ROW ROLE NAME CLIENT PROGRAM ARG...: PROGRAM run again and
# again, one at a time, for BENCH_SECS; the result is runs per second.
startcost() {
	local row=$1 role=$2 name=$3 client=$4
	shift 4
	if ! LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		timeout $((${SECS%.*} + 300)) "$CLIBBENCH" -x -r "$row" -R "$role" -n "$name" -C "$client" \
		-o set -t "$SECS" -w "$WARM" -k "$KEYS" -K 16 -v 64 -f "$res" -- "$@" >/dev/null; then
		echo "row $row: $name failed" >>"$failures"
	fi
}
# preload TARGET ADDR [flags]: set every key once.
preload() {
	local target=$1 addr=$2
	shift 2
	timeout 300 "$BENCH" -target "$target" -addr "$addr" -keys "$KEYS" -keysize 16 -valsize 64 \
		-duration 0 -q "$@" || echo "preload of $target $addr failed" >>"$failures"
}
# redisbench ROW ROLE NAME TEST ADDR: redis-benchmark -P 16 -c 4 on one test.
redisbench() {
	local n=$((${SECS%.*} * 300000 + 100000)) csv=$work/redis-benchmark.csv
	if timeout $((${SECS%.*} * 10 + 120)) redis-benchmark -h 127.0.0.1 -p "${5##*:}" -P 16 -c 4 \
		-t "$4" -n "$n" -d 64 -r "$KEYS" --csv >"$csv" 2>"$work/redis-benchmark.err"; then
		"$REPORT" redis-csv -row "$1" -role "$2" -name "$3" -requests "$n" -conns 4 -depth 16 \
			-keys "$KEYS" -out "$res" "$csv" || echo "row $1: $3 unreadable" >>"$failures"
	else
		echo "row $1: $3 failed" >>"$failures"
	fi
}
# note ROW METRIC GOAL TEST: describe a row of the table (and fix its place).
note() {
	"$REPORT" note -row "$1" -metric "$2" -goal "$3" -test "$4" -out "$res"
}

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, $(free -h | awk '/^Mem:/ {print $2}') memory, $(uname -sr)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "versions: $("$GO" version | cut -d' ' -f3), $(memcached -V), $(redis-server --version | cut -d' ' -f1-3)"
	echo "settings: BENCH_SECS=$SECS BENCH_WARMUP=$WARM BENCH_REPEAT=$REPEAT BENCH_KEYS=$KEYS BENCH_MEM_KEYS=$MEMKEYS"
} | tee "$work/machine.txt"

for op in get set; do
	has 1 && note "1-$op-tcp" ops ">= 1.0" "1 client, 1 in flight, cache-only $op, TCP"
	has 1 && note "1-$op-udp" ops ">= 1.0" "1 client, 1 in flight, cache-only $op, UDP"
	has 1 && note "1-$op-lib" ops ">= 0.9" "1 goroutine of libnmdb, 1 in flight, cache-only $op, TCP, vs a raw C loop"
	clib_rows && note "1-$op-clib" ops ">= 0.9" "C library, 1 thread, 1 in flight, cache-only $op, TCP, vs a raw C loop"
	clib_rows && note "1-$op-clib4" ops ">= 0.9" "C library, 4 threads with a handle each, vs 4 raw C loop processes"
	clib_rows && note "1-$op-clib4s" ops ">= 0.9" "C library, 4 threads sharing one handle, vs 4 raw C loop processes"
	clib_rows && note "1-$op-thr4" ops "" "raw C loop, 4 threads in one process (no Go), vs 4 raw C loop processes"
	clib_rows && note "1-$op-floor4" ops "" "floor: 4 C threads, raw loop + 1 empty Go call per request, vs 4 raw C loop processes"
done
clib_rows && note 1-start runs ">= 0.5" "start cost: a C program that makes one set and exits, runs/s, C library vs send/recv"
clib_rows && note 1-start-floor runs "" "floor: a plain C client that also starts an empty Go runtime, vs the same without"
for op in get set; do
	has 2 && note "2-$op" ops ">= 1.3" "4 client processes, 1 in flight each, cache-only $op"
done
for op in get set; do
	has 3 && note "3-$op" ops ">= 1.0" "pipelined $op: libnmdb, 1 process, 64 goroutines, 1 conn"
	has 3 && note "3-$op-raw" ops "" "pipelined $op: raw client, 4 conns x 16 in flight"
done
if has 4; then
	note 4-group ops ">= 5.0" "sync sets: 16 clients vs 1 client (group commit)"
	note 4-redis ops ">= 1.0" "sync sets, 16 clients, vs Redis appendfsync always"
	note 4-one ops "" "sync sets, 1 client, vs Redis appendfsync always"
fi
has 5 && note 5-mem rss "<= 1.0" "RSS with $MEMKEYS objects (cache-only sets)"

# --- rows 1-4 on one set of servers ----------------------------------------
if clib_rows || has 2 || has 3 || has 4; then
	port && NP=$got && start_nmdb nmdb "$NP" 1024 && NPID=$last_pid
	port && MP=$got && start_memcached "$MP" && MPID=$last_pid
	port && RP=$got && start_redis redis "$RP" && RPID=$last_pid
	port && SP=$got && start_redis redis-sync "$SP" durable && SPID=$last_pid
	wait_tcp 20 "127.0.0.1:$NP" "127.0.0.1:$MP" "127.0.0.1:$RP" "127.0.0.1:$SP"
	N=127.0.0.1:$NP M=127.0.0.1:$MP R=127.0.0.1:$RP S=127.0.0.1:$SP
	log "preloading $KEYS keys into nmdb (cache-only), memcached and redis"
	preload nmdb "$N" -mode cache
	preload memcached "$M"
	preload redis "$R"
	kill -0 "$NPID" # the nmdb daemon must still be up
fi

for ((rep = 1; rep <= REPEAT; rep++)); do
	if has 1; then
		log "row 1: one client, one request in flight (round $rep of $REPEAT)"
		for op in get set; do
			g=1
			if [ $op = set ]; then g=0; fi
			bench "1-$op-tcp" nmdb "nmdb tcp" -target nmdb -addr "$N" -mode cache -gets $g -pid "$NPID"
			bench "1-$op-tcp" peer "memcached tcp" -target memcached -addr "$M" -gets $g -pid "$MPID"
			bench "1-$op-tcp" peer "redis tcp" -target redis -addr "$R" -gets $g -pid "$RPID"
			bench "1-$op-udp" nmdb "nmdb udp" -target nmdb -addr "$N" -transport udp -mode cache -gets $g -pid "$NPID"
			bench "1-$op-udp" peer "memcached udp" -target memcached -addr "$M" -transport udp -gets $g -pid "$MPID"
			bench "1-$op-lib" nmdb "nmdb libnmdb 1 goroutine" -target nmdb -addr "$N" -mode cache -gets $g -client lib -goroutines 1 -pid "$NPID"
			# The reference of the C library's one-thread row too.
			rawloop "1-$op-lib,1-$op-clib" peer "raw C loop (send, recv)" $op "$N"
		done
	fi
	if clib_rows; then
		log "row 1: the C library (round $rep of $REPEAT)"
		for op in get set; do
			clibbench "1-$op-clib" nmdb "nmdb C library 1 thread" $op "$N"
			has 1 || rawloop "1-$op-clib" peer "raw C loop (send, recv)" $op "$N"
			clibbench "1-$op-clib4" nmdb "nmdb C library 4 threads, 4 handles" $op "$N" -T 4
			clibbench "1-$op-clib4s" nmdb "nmdb C library 4 threads, 1 handle" $op "$N" -T 4 -s
			rawloop "1-$op-thr4" nmdb "raw C loop, 4 threads" $op "$N" -T 4
			rawloop "1-$op-floor4" nmdb "raw C loop + empty Go call, 4 threads" $op "$N" -T 4 -g "$GOFLOOR"
			rawloop "1-$op-clib4,1-$op-clib4s,1-$op-thr4,1-$op-floor4" peer "raw C loop, 4 processes" $op "$N" -p 4
		done
		startcost 1-start nmdb "C library: init, add, 1 set, free" clib "$CLIBBENCH" -1 -a "$N" -o set -k "$KEYS"
		startcost 1-start-floor nmdb "raw C + empty Go runtime: connect, 1 set, close" raw-c+go "$RAWLOOP" -1 -g "$GOFLOOR" -a "$N" -o set -k "$KEYS"
		startcost 1-start,1-start-floor peer "raw C: connect, 1 set, close" raw-c "$RAWLOOP" -1 -a "$N" -o set -k "$KEYS"
	fi
	if has 2; then
		log "row 2: four client processes, one request in flight each (round $rep of $REPEAT)"
		for op in get set; do
			g=1
			if [ $op = set ]; then g=0; fi
			bench "2-$op" nmdb "nmdb tcp" -target nmdb -addr "$N" -mode cache -gets $g -procs 4 -pid "$NPID"
			bench "2-$op" peer "memcached tcp" -target memcached -addr "$M" -gets $g -procs 4 -pid "$MPID"
			bench "2-$op" peer "redis tcp" -target redis -addr "$R" -gets $g -procs 4 -pid "$RPID"
		done
	fi
	if has 3; then
		log "row 3: pipelined (round $rep of $REPEAT)"
		for op in get set; do
			g=1
			if [ $op = set ]; then g=0; fi
			bench "3-$op" nmdb "nmdb libnmdb 64 goroutines" -target nmdb -addr "$N" -mode cache -gets $g -client lib -goroutines 64 -pid "$NPID"
			bench "3-$op-raw" nmdb "nmdb raw 4 conns x 16" -target nmdb -addr "$N" -mode cache -gets $g -conns 4 -depth 16 -io poll -pid "$NPID"
			redisbench "3-$op,3-$op-raw" peer "redis-benchmark -P16 -c4 $op" $op "$R"
			bench "3-$op,3-$op-raw" peer "memcached 4 conns x 16" -target memcached -addr "$M" -gets $g -conns 4 -depth 16 -io poll -pid "$MPID"
		done
	fi
	if has 4; then
		log "row 4: durable sync sets (round $rep of $REPEAT)"
		bench "4-group,4-redis" nmdb "nmdb sync 16 clients" -target nmdb -addr "$N" \
			-mode sync -gets 0 -conns 16 -io poll -pid "$NPID"
		bench "4-group=peer,4-one" nmdb "nmdb sync 1 client" -target nmdb -addr "$N" -mode sync -gets 0 -pid "$NPID"
		bench "4-redis" peer "redis always 16 clients" -target redis -addr "$S" -gets 0 -conns 16 -io poll -pid "$SPID"
		bench "4-one" peer "redis always 1 client" -target redis -addr "$S" -gets 0 -pid "$SPID"
	fi
done
stop_all

# --- row 5: memory with MEMKEYS objects, fresh servers ---------------------
if has 5; then
	log "row 5: resident memory with $MEMKEYS cached objects"
	cachek=$(((MEMKEYS * 12 / 10 + 1023) / 1024))
	port && NP=$got && start_nmdb nmdb-mem "$NP" "$cachek" && NPID=$last_pid
	port && MP=$got && start_memcached "$MP" && MPID=$last_pid
	port && RP=$got && start_redis redis-mem "$RP" && RPID=$last_pid
	wait_tcp 20 "127.0.0.1:$NP" "127.0.0.1:$MP" "127.0.0.1:$RP"
	mem() {
		timeout 600 "$BENCH" -row 5-mem -metric rss -keys "$MEMKEYS" -keysize 16 -valsize 64 -duration 0 \
			-count-objects -out "$res" "$@" || echo "row 5: $* failed" >>"$failures"
	}
	mem -role nmdb -name "nmdb -c $cachek" -target nmdb -addr "127.0.0.1:$NP" -mode cache -pid "$NPID"
	mem -role peer -name "memcached -m 2048" -target memcached -addr "127.0.0.1:$MP" -pid "$MPID"
	mem -role peer -name "redis" -target redis -addr "127.0.0.1:$RP" -pid "$RPID"
	stop_all
fi

# --- row 6: allocations on the server's hot path ---------------------------
gobench=$work/gobench.txt
: >"$gobench"
if has 6; then
	log "row 6: server hot path allocations (go test -bench 'GetHit|CacheSet' -benchmem ./nmdb)"
	if ! timeout 600 "$GO" test -run='^$' -bench='GetHit|CacheSet' -benchmem -count=1 ./nmdb >"$gobench" 2>&1; then
		echo "row 6: go test -bench failed" >>"$failures"
	fi
fi

# --- row 7: the C library over TIPC, in the test VM --------------------------
if has 7; then
	log "row 7: the C library against a plain blocking C client over TIPC, in the VM"
	if ! BENCH_RESULTS=$res BENCH_SECS=$SECS BENCH_WARMUP=$WARM BENCH_REPEAT=$REPEAT GO=$GO \
		timeout 1800 bash scripts/tipc-vm/bench.sh; then
		echo "row 7: scripts/tipc-vm/bench.sh failed" >>"$failures"
	fi
fi

# --- the table -------------------------------------------------------------
echo
echo "RATIO = nmdb / best peer in this run (ops/s: higher is better; memory: lower is better)."
echo "Medians of $REPEAT interleaved runs of ${SECS}s; latencies in microseconds."
"$REPORT" report "$res" | tee "$work/table.txt"
if ! "$REPORT" report -check "$res" >>"$failures" 2>&1; then :; fi
if [ -s "$gobench" ]; then
	echo
	echo "Server hot path (allocs/op should be 0):"
	if grep -q '^Benchmark' "$gobench"; then
		grep -E '^(Benchmark|goos|goarch|cpu|ok|FAIL)' "$gobench"
	else
		echo "no benchmark in ./nmdb matches GetHit|CacheSet:"
		cat "$gobench"
		echo "row 6: no GetHit/CacheSet benchmark in ./nmdb" >>"$failures"
	fi
fi
echo
echo "Every run:"
"$REPORT" report -table=false -details "$res"
if [ -n "${BENCH_OUT:-}" ]; then
	mkdir -p "$BENCH_OUT"
	cp "$res" "$work/table.txt" "$work/machine.txt" "$gobench" "$BENCH_OUT/"
	log "results kept in $BENCH_OUT"
fi
if [ -s "$failures" ]; then
	echo
	echo "FAILED RUNS:"
	cat "$failures"
	exit 1
fi
