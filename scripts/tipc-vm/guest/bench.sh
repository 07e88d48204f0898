# shellcheck disable=SC1091
# Guest script of bench.sh: one nmdb daemon on node2 of a 2-node TIPC
# cluster, and the one-request-at-a-time clients built from c/tipc_loop.c
# (tipc_rawloop: plain blocking sendto/recvfrom; tipc_libloop: our C
# library; tipc_rawloop -g: the plain client with one empty Go call per
# request, the floor under the library) taking turns against it, from
# node2 itself ("local") and from node1 across the TIPC link ("remote").
# Each result is printed on the console as one "BENCH-RESULT {json}" line;
# a run that fails prints "BENCH-FAILED ..." and makes the script exit 1.
. "$VM_LIB/cluster.sh"
# BENCH_SECS, BENCH_WARMUP, BENCH_REPEAT, BENCH_KEYS, BENCH_PLACES, BENCH_OPS.
. /t/bench.conf
cluster_up 2 || exit 1
# The C library's private core goes in nmdb/ beside libnmdb.so.1.
mkdir -p /lib/x86_64-linux-gnu/nmdb
cp /t/libnmdb-core.so.1 /lib/x86_64-linux-gnu/nmdb/

PORT=70
"$IP" netns exec node2 /t/nmdb -f -d /tmp/bench.db -l "$PORT" -t off -u off -s off -c 64 -o /tmp/nmdb.log &
daemon=$!
# Ready once both nodes see the daemon's name.
tries=0
until on_node 1 "$TIPC" nametable show | grep -Eq "^26001 +$PORT +$PORT " &&
	on_node 2 "$TIPC" nametable show | grep -Eq "^26001 +$PORT +$PORT "; do
	tries=$((tries + 1))
	if [ "$tries" -ge 150 ] || ! kill -0 "$daemon" 2>/dev/null; then
		echo "BENCH-FAILED the daemon did not bind {26001, $PORT}"
		cat /tmp/nmdb.log
		exit 1
	fi
	sleep 0.2
done
echo "bench: nmdb on node2, TIPC port $PORT; $BENCH_REPEAT rounds of ${BENCH_SECS}s runs after ${BENCH_WARMUP}s of warm-up, $BENCH_KEYS keys"
echo "bench: $(grep -c ^processor /proc/cpuinfo) cpus, kernel $(uname -r), clock source $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource), command line: $(cat /proc/cmdline)"

rc=0
# Every key set once, so that gets hit.
if ! on_node 1 timeout 600 /t/tipc_rawloop -l "$PORT" -o set -t 0.01 -w 0 -k "$BENCH_KEYS" -P >/dev/null; then
	echo "BENCH-FAILED preload"
	exit 1
fi

# run NODE PROG ROW ROLE NAME OP [FLAG...]: one measured run.
run() {
	local node=$1 prog=$2 row=$3 role=$4 name=$5 op=$6 out
	shift 6
	if out=$(on_node "$node" timeout $((${BENCH_SECS%.*} + ${BENCH_WARMUP%.*} + 120)) "/t/$prog" \
		-l "$PORT" -o "$op" -t "$BENCH_SECS" -w "$BENCH_WARMUP" -k "$BENCH_KEYS" -K 16 -v 64 \
		-r "$row" -R "$role" -n "$name" "$@" 2>/tmp/run.err); then
		echo "BENCH-RESULT $out"
	else
		echo "BENCH-FAILED $row $prog: $(head -c 300 /tmp/run.err)"
		rc=1
	fi
}

# The plain client is the reference of the library's row and of its
# floor's (the plain client with one empty Go call per request).
run_raw() { run "$1" tipc_rawloop "$2,$2-floor" peer "plain blocking C client (sendto, recvfrom)" "$3"; }
run_lib() { run "$1" tipc_libloop "$2" nmdb "nmdb C library, 1 thread" "$3"; }
run_floor() { run "$1" tipc_rawloop "$2-floor" nmdb "plain client + 1 empty Go call per request" "$3" -g /t/libgofloor.so; }

round=1
while [ "$round" -le "$BENCH_REPEAT" ]; do
	echo "bench: round $round of $BENCH_REPEAT"
	for op in $BENCH_OPS; do
		for place in $BENCH_PLACES; do
			node=2
			[ "$place" = remote ] && node=1
			row="7-$op-$place"
			# Rotate which client goes first.
			case $((round % 3)) in
			1) order="raw lib floor" ;;
			2) order="lib floor raw" ;;
			*) order="floor raw lib" ;;
			esac
			for client in $order; do
				"run_$client" "$node" "$row" "$op"
			done
		done
	done
	round=$((round + 1))
done
if ! kill -0 "$daemon" 2>/dev/null; then
	echo "BENCH-FAILED the daemon exited"
	rc=1
fi
kill "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
exit "$rc"
