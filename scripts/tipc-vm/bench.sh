#!/usr/bin/env bash
# The C library against a plain blocking C client over TIPC, in the test VM
# (row 7 of docs/BENCH.md).
#
#   scripts/tipc-vm/bench.sh        (or: make bench-tipc)
#
# Builds the daemon (static), the C library (make lib), both clients of
# c/tipc_loop.c: tipc_rawloop (one AF_TIPC SOCK_RDM socket, sendto and a
# blocking recvfrom, as the classic library does) and tipc_libloop (the
# same loop through nmdb_cache_set/nmdb_cache_get of our library), and the
# empty Go library scripts/rawloop/gofloor, with which tipc_rawloop -g is
# the floor under the library: the plain client plus one call into Go per
# request. Boots the VM once (run.sh): one daemon on node2 of a 2-node
# cluster; the three clients take turns against it, one request in flight,
# cache-only sets and gets of 16-byte keys with 64-byte values, from node2
# itself ("local") and from node1 across the TIPC link ("remote"),
# BENCH_REPEAT rounds, the first client rotating from round to round.
# Prints every pair with its ratio to the plain client, and the table of
# nmdb-bench-report (medians, RATIO = library, or floor, / plain client;
# rows 7-*-floor have no goal).
#
# Environment:
#   BENCH_SECS=3          measured seconds per run (after BENCH_WARMUP=1 s)
#   BENCH_REPEAT=3        rounds
#   BENCH_TIPC_KEYS=10000 distinct keys, every one set before the runs
#   BENCH_TIPC_PLACES="local remote"  where the clients run
#   BENCH_TIPC_OPS="set get"
#   BENCH_OUT=DIR         keep results.jsonl, table.txt and the console
#   BENCH_RESULTS=FILE    append the results to FILE and print no table
#                         (how scripts/bench.sh runs it as row 7)
# and those of run.sh (NMDB_VM_*). The speed of an emulated machine is not
# the host's: only the ratios of one run mean something.
#
# The guest kernel runs with idle=poll and the TSC as its clock (added to
# NMDB_VM_APPEND), so that two costs of the emulation that real machines do
# not have stay out of the ratios. A halted emulated CPU sleeps on the host,
# and waking it takes the host scheduler milliseconds, which a client that
# blocks in recvfrom pays on every request and a runtime with spinning
# threads does not (the rates swung tenfold from run to run); with idle=poll
# an idle CPU spins. And the emulated machine's default clock, the HPET,
# makes every clock read a system call and an emulated device access; with
# the TSC, clock_gettime stays in the vDSO as on real hardware (the Go
# runtime reads the clock several times per call).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
go=${GO:-go}
make=${MAKE:-make}
cc=${CC:-cc}
secs=${BENCH_SECS:-3}
warm=${BENCH_WARMUP:-1}
repeat=${BENCH_REPEAT:-3}
keys=${BENCH_TIPC_KEYS:-10000}
places=${BENCH_TIPC_PLACES:-local remote}
ops=${BENCH_TIPC_OPS:-set get}

build=$(mktemp -d "${TMPDIR:-/tmp}/tipc-bench.XXXXXX")
trap 'rm -rf "$build"' EXIT
cd "$repo"

echo "bench-tipc: building nmdb, the C library and the two clients"
CGO_ENABLED=0 "$go" build -o "$build/nmdb" ./cmd/nmdb
"$go" build -o "$build/nmdb-bench-report" ./cmd/nmdb-bench-report
"$make" -s lib >"$build/lib.log" 2>&1 || {
	cat "$build/lib.log" >&2
	exit 1
}
libdir=$repo/bin/lib
"$cc" -O2 -Wall -Werror -o "$build/tipc_rawloop" "$here/c/tipc_loop.c"
"$cc" -O2 -Wall -Werror -DWITH_NMDB -I cgo -o "$build/tipc_libloop" "$here/c/tipc_loop.c" \
	-L"$libdir" -lnmdb
so=$(find "$libdir" -maxdepth 1 -name "libnmdb.so.*" -type f | head -n 1)
# The floor under the library's rows: tipc_rawloop -g with this library.
"$go" build -buildmode=c-shared -o "$build/libgofloor.so" ./scripts/rawloop/gofloor
cat >"$build/bench.conf" <<EOF
BENCH_SECS='$secs'
BENCH_WARMUP='$warm'
BENCH_REPEAT='$repeat'
BENCH_KEYS='$keys'
BENCH_PLACES='$places'
BENCH_OPS='$ops'
EOF

res=${BENCH_RESULTS:-$build/results.jsonl}
report=$build/nmdb-bench-report
if [ -z "${BENCH_RESULTS:-}" ]; then : >"$res"; fi
# The rows' descriptions and goals (before their results, which fixes
# their place in the table).
for op in $ops; do
	for place in $places; do
		case $place in
		local) where="client and daemon on one node" ;;
		*) where="client on node1, daemon on node2" ;;
		esac
		"$report" note -row "7-$op-$place" -metric ops -goal ">= 1.0" \
			-test "C library vs plain blocking C client, TIPC in the VM, cache-only $op, $where" \
			-out "$res"
		"$report" note -row "7-$op-$place-floor" -metric ops -goal "" \
			-test "floor: the plain client + 1 empty Go call per request, vs the plain client, $where" \
			-out "$res"
	done
done

load_before=$(cut -d' ' -f1 /proc/loadavg)
echo "bench-tipc: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC'), host load $load_before ($(nproc) cores)"
console=$build/console.log
rc=0
NMDB_VM_APPEND="idle=poll clocksource=tsc tsc=reliable ${NMDB_VM_APPEND:-}" NMDB_VM_QUIET=${NMDB_VM_QUIET:-1} NMDB_VM_LOG=$console \
	"$here/run.sh" "$here/guest/bench.sh" \
	"$build/nmdb" "$build/tipc_rawloop" "$build/tipc_libloop" "$so" \
	"$libdir/nmdb/libnmdb-core.so.1" "$build/libgofloor.so" "$build/bench.conf" || rc=$?

load_after=$(cut -d' ' -f1 /proc/loadavg)
tr -d '\r' <"$console" | grep -E '^bench: ' || true
results=$build/run.jsonl
tr -d '\r' <"$console" | sed -n 's/^BENCH-RESULT //p' >"$results"
cat "$results" >>"$res"
failed=$(tr -d '\r' <"$console" | grep '^BENCH-FAILED' || true)

# Every pair of one round, in the order run: raw, lib and their ratio.
echo
echo "Each round (requests/s, p50 in us; ratio = library, or floor, / plain client):"
awk '
function field(name,   m) {
	if (match($0, "\"" name "\":(\"[^\"]*\"|[0-9.]+)")) {
		m = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
		gsub("\"", "", m)
		return m
	}
	return ""
}
{
	# A result may stand for several rows (the plain client is the
	# reference of the library row and of the floor row).
	nr_ = split(field("row"), rs, ","); c = field("client")
	side = (c == "raw-c") ? "raw" : "other"
	for (j = 1; j <= nr_; j++) {
		row = rs[j]
		n = ++count[row side]
		ops[row, side, n] = field("ops_per_sec"); p50[row, side, n] = field("p50_us")
		if (!(row in seen)) { seen[row] = 1; rows[++nrows] = row }
		if (n > maxn[row]) maxn[row] = n
	}
}
END {
	for (i = 1; i <= nrows; i++) {
		row = rows[i]
		what = (row ~ /-floor$/) ? "floor  " : "library"
		for (n = 1; n <= maxn[row]; n++) {
			r = ops[row, "raw", n]; l = ops[row, "other", n]
			printf "%-20s round %d: plain %8.0f/s p50 %6.0f   %s %8.0f/s p50 %6.0f   ratio %s\n", \
				row, n, r, p50[row, "raw", n], what, l, p50[row, "other", n], \
				(r > 0 && l != "") ? sprintf("%.2f", l / r) : "-"
			if (r > 0 && l != "") ratios[row, ++nr[row]] = l / r
		}
	}
	for (i = 1; i <= nrows; i++) {
		row = rows[i]; k = nr[row]
		if (k == 0) continue
		for (a = 1; a <= k; a++)	# insertion sort of a few ratios
			for (b = a; b > 1 && ratios[row, b - 1] > ratios[row, b]; b--) {
				t = ratios[row, b]; ratios[row, b] = ratios[row, b - 1]; ratios[row, b - 1] = t
			}
		printf "%-20s median of the rounds\x27 ratios %.2f (%.2f to %.2f)\n", row, \
			ratios[row, int((k + 1) / 2)], ratios[row, 1], ratios[row, k]
	}
}' "$results"
# The emulated CPUs take host cores (idle=poll keeps them busy): other work
# on the host stalls them, and the runs of a busy host swing widely.
echo "bench-tipc: host load before the VM $load_before, after it $load_after (the VM itself adds about ${NMDB_VM_SMP:-2}); $(nproc) host cores"

if [ -z "${BENCH_RESULTS:-}" ]; then
	echo
	echo "Medians of $repeat rounds of ${secs}s (RATIO = C library / plain blocking C client):"
	"$report" report "$res" | tee "$build/table.txt"
fi
if [ -n "${BENCH_OUT:-}" ]; then
	mkdir -p "$BENCH_OUT"
	cp "$results" "$BENCH_OUT/tipc-results.jsonl"
	tr -d '\r' <"$console" >"$BENCH_OUT/tipc-console.log"
	if [ -f "$build/table.txt" ]; then cp "$build/table.txt" "$BENCH_OUT/tipc-table.txt"; fi
fi
if [ -n "$failed" ] || [ "$rc" != 0 ]; then
	echo
	echo "bench-tipc: FAILED (VM status $rc)"
	[ -z "$failed" ] || echo "$failed"
	exit 1
fi
