#!/usr/bin/env bash
# Run nmdb's TIPC and SCTP scenarios in the test VM (see README.md here).
#
#   scripts/tipc-vm/test.sh [SCENARIO,...]
#
# Builds the daemon and the scenario program (static), the C library and a
# C program linked against it, and the test binaries of the packages with
# TIPC or SCTP tests; boots the VM once with run.sh, and prints one PASS,
# FAIL or SKIP line per scenario (1 to 6, and pkg-NAME for each package
# test binary). Exits non-zero when a scenario failed or did not report. A
# skipped scenario 5 (no C library) is allowed unless NMDB_VM_REQUIRE_C=1;
# it never counts as a pass. SCENARIO "pkg" selects the package tests.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
only=${1:-}
# Numbered scenarios to run, and whether to run the package tests.
numbers=$(echo "${only:-1,2,3,4,5,6,7,8,9}" | tr ',' '\n' | grep -E '^[0-9]+$' | paste -sd, - || true)
pkgs=0
if [ -z "$only" ] || echo ",$only," | grep -q ',pkg,'; then
	pkgs=1
fi
# The package test binaries: scenario pkg-NAME runs pkg-NAME.test (the tipc
# binary also runs scenario pkg-tipc-cluster).
pkgnames=(tipc sctp libnmdb nmdb)
declare -A pkgdirs=([tipc]=./tipc [sctp]=./internal/sctp [libnmdb]=./libnmdb [nmdb]=./nmdb)
go=${GO:-go}
make=${MAKE:-make}

build=$(mktemp -d "${TMPDIR:-/tmp}/tipc-vm-build.XXXXXX")
trap 'rm -rf "$build"' EXIT
cd "$repo"

echo "tipc-vm: building nmdb and the scenario program"
CGO_ENABLED=0 "$go" build -o "$build/nmdb" ./cmd/nmdb
CGO_ENABLED=0 "$go" build -o "$build/scenario" ./scripts/tipc-vm/scenario
files=("$build/nmdb" "$build/scenario")

# Scenario 5: the C library (make lib) and a C program built against it
# with the classic `cc prog.c -lnmdb`.
cfail=""
if [ -f cgo/nmdb.h ] && grep -q '^lib:' Makefile; then
	echo "tipc-vm: building the C library and the C test program"
	libdir=$repo/bin/lib
	if ! "$make" -s lib >"$build/lib.log" 2>&1; then
		cfail="make lib failed: $(tail -n 3 "$build/lib.log" | tr '\n' ' ')"
	elif ! cc -Wall -Werror -I cgo -o "$build/tipc_client" "$here/c/tipc_client.c" \
		-L"$libdir" -lnmdb >"$build/cc.log" 2>&1; then
		cfail="C program does not build: $(head -n 3 "$build/cc.log" | tr '\n' ' ')"
	elif ! cc -O2 -Wall -Werror -o "$build/tipc_rawloop" "$here/c/tipc_loop.c" >"$build/cc.log" 2>&1 ||
		! cc -O2 -Wall -Werror -DWITH_NMDB -I cgo -o "$build/tipc_libloop" "$here/c/tipc_loop.c" \
			-L"$libdir" -lnmdb >>"$build/cc.log" 2>&1; then
		# Not run here: make bench-tipc runs them (bench.sh).
		cfail="the benchmark's C program (c/tipc_loop.c) does not build: $(head -n 3 "$build/cc.log" | tr '\n' ' ')"
	else
		so=$(find "$libdir" -maxdepth 1 -name "libnmdb.so.*" -type f | head -n 1)
		# The library loads its private core from nmdb/ beside it; the
		# guest script puts the copy from /t there.
		files+=("$build/tipc_client" "$so" "$libdir/nmdb/libnmdb-core.so.1")
	fi
else
	echo "C library not found (no cgo/nmdb.h or no 'lib' make target)" >"$build/cskip.txt"
	files+=("$build/cskip.txt")
fi
if [ -n "$only" ]; then
	if [ -n "$numbers" ]; then
		echo "$numbers" >"$build/only.txt"
		files+=("$build/only.txt")
	else
		echo none >"$build/noscenarios.txt"
		files+=("$build/noscenarios.txt")
	fi
fi

# Package tests: static test binaries, run in the guest (see
# guest/pkgtests.sh). One that does not build fails its scenario.
declare -A pkgfail=()
if [ "$pkgs" = 1 ]; then
	echo "tipc-vm: building the package test binaries"
	echo yes >"$build/pkgtests.txt"
	files+=("$build/pkgtests.txt")
	for p in "${pkgnames[@]}"; do
		if CGO_ENABLED=0 "$go" test -c -o "$build/pkg-$p.test" "${pkgdirs[$p]}" >"$build/pkg-$p.log" 2>&1; then
			files+=("$build/pkg-$p.test")
		else
			pkgfail[$p]="test binary does not build: $(head -n 3 "$build/pkg-$p.log" | tr '\n' ' ')"
		fi
	done
	if [ -n "${pkgfail[tipc]:-}" ]; then
		pkgfail[tipc-cluster]=${pkgfail[tipc]}
	fi
fi

console=${NMDB_VM_LOG:-$build/console.log}
rc=0
NMDB_VM_QUIET=${NMDB_VM_QUIET:-1} NMDB_VM_LOG=$console \
	"$here/run.sh" "$here/guest/scenarios.sh" "${files[@]}" || rc=$?

# Results: the scenario program's lines, plus a C build failure.
results=$(tr -d '\r' <"$console" | grep -E '^(PASS|FAIL|SKIP) scenario ([0-9]+|pkg-[a-z-]+):' | sort -u -k3,3V || true)
if [ -n "$cfail" ]; then
	results=$(printf '%s\n%s' "$(echo "$results" | grep -v ' scenario 5:' || true)" "FAIL scenario 5: $cfail" | sed '/^$/d')
fi
for p in "${!pkgfail[@]}"; do
	results=$(printf '%s\n%s' "$(echo "$results" | grep -v " scenario pkg-$p:" || true)" "FAIL scenario pkg-$p: ${pkgfail[$p]}" | sed '/^$/d')
done
pass=$(echo "$results" | grep -c '^PASS' || true)
fail=$(echo "$results" | grep -c '^FAIL' || true)
skip=$(echo "$results" | grep -c '^SKIP' || true)
bad=0
wanted=${numbers//,/ }
if [ "$pkgs" = 1 ]; then
	wanted="$wanted pkg-tipc pkg-tipc-cluster pkg-sctp pkg-libnmdb pkg-nmdb"
fi
for n in $wanted; do
	if ! echo "$results" | grep -qE "^(PASS|FAIL|SKIP) scenario $n:"; then
		results=$(printf '%s\nFAIL scenario %s: did not report (VM status %s)' "$results" "$n" "$rc" | sed '/^$/d')
		fail=$((fail + 1))
	fi
done
if echo "$results" | grep -qE '^SKIP scenario ([1-4]|[6-9]|pkg-.*):'; then
	bad=1
fi
if [ "${NMDB_VM_REQUIRE_C:-0}" = 1 ] && echo "$results" | grep -q '^SKIP scenario 5:'; then
	bad=1
fi

if [ "$rc" = 0 ]; then
	# The scenario program's own account of what it checked.
	tr -d '\r' <"$console" | sed -n '/^=== scenario /,/^scenarios: /p'
	tr -d '\r' <"$console" | sed -n '/^=== package tests/,/^packages: /p' | grep -v ' scenario pkg-' || true
fi
echo "tipc-vm: results"
echo "$results"
# run.sh already printed the guest console if the guest script failed.
echo "tipc-vm: $pass passed, $fail failed, $skip skipped"
if [ "$fail" -gt 0 ] || [ "$bad" = 1 ] || [ "$rc" != 0 ]; then
	exit 1
fi
# make test's summary names a part with skipped scenarios as skipped.
if [ "$skip" -gt 0 ] && [ -n "${SKIP_FILE:-}" ]; then
	echo "test-tipc ($skip scenarios skipped)" >>"$SKIP_FILE"
fi
