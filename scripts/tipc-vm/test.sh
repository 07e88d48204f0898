#!/usr/bin/env bash
# Run nmdb's TIPC and SCTP scenarios in the test VM (see README.md here).
#
#   scripts/tipc-vm/test.sh [SCENARIO,...]
#
# Builds the daemon and the scenario program (static), the C library and a
# C program linked against it, boots the VM once with run.sh, and prints one
# PASS, FAIL or SKIP line per scenario. Exits non-zero when a scenario failed
# or did not report. A skipped scenario 5 (no C library) is allowed unless
# NMDB_VM_REQUIRE_C=1; it never counts as a pass.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
only=${1:-}
go=${GO:-go}
make=${MAKE:-make}

build=$(mktemp -d "${TMPDIR:-/tmp}/tipc-vm-build.XXXXXX")
trap 'rm -rf "$build"' EXIT
cd "$repo"

echo "tipc-vm: building nmdb and the scenario program"
CGO_ENABLED=0 "$go" build -o "$build/nmdb" ./cmd/nmdb
CGO_ENABLED=0 "$go" build -o "$build/scenario" ./scripts/tipc-vm/scenario
files=("$build/nmdb" "$build/scenario")

# Sharding vectors: the shared copy beside the checkout, else the client's.
for tsv in "$repo/../shared/vectors/select.tsv" "$repo/libnmdb/testdata/select.tsv"; do
	if [ -f "$tsv" ]; then
		cp "$tsv" "$build/select.tsv"
		files+=("$build/select.tsv")
		echo "tipc-vm: sharding vectors from $tsv"
		break
	fi
done

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
	else
		so=$(find "$libdir" -maxdepth 1 -name "libnmdb.so.*" -type f | head -n 1)
		files+=("$build/tipc_client" "$so")
	fi
else
	echo "C library not found (no cgo/nmdb.h or no 'lib' make target)" >"$build/cskip.txt"
	files+=("$build/cskip.txt")
fi
if [ -n "$only" ]; then
	echo "$only" >"$build/only.txt"
	files+=("$build/only.txt")
fi

console=${NMDB_VM_LOG:-$build/console.log}
rc=0
NMDB_VM_QUIET=${NMDB_VM_QUIET:-1} NMDB_VM_LOG=$console \
	"$here/run.sh" "$here/guest/scenarios.sh" "${files[@]}" || rc=$?

# Results: the scenario program's lines, plus a C build failure.
results=$(tr -d '\r' <"$console" | grep -E '^(PASS|FAIL|SKIP) scenario [0-9]+:' | sort -u -k3,3n || true)
if [ -n "$cfail" ]; then
	results=$(printf '%s\n%s' "$(echo "$results" | grep -v ' scenario 5:' || true)" "FAIL scenario 5: $cfail" | sed '/^$/d')
fi
pass=$(echo "$results" | grep -c '^PASS' || true)
fail=$(echo "$results" | grep -c '^FAIL' || true)
skip=$(echo "$results" | grep -c '^SKIP' || true)
bad=0
wanted=${only:-1,2,3,4,5,6}
for n in ${wanted//,/ }; do
	if ! echo "$results" | grep -qE "^(PASS|FAIL|SKIP) scenario $n:"; then
		results=$(printf '%s\nFAIL scenario %s: did not report (VM status %s)' "$results" "$n" "$rc" | sed '/^$/d')
		fail=$((fail + 1))
	fi
done
if echo "$results" | grep -qE '^SKIP scenario ([1-4]|[6-9]):'; then
	bad=1
fi
if [ "${NMDB_VM_REQUIRE_C:-0}" = 1 ] && echo "$results" | grep -q '^SKIP scenario 5:'; then
	bad=1
fi

if [ "$rc" = 0 ]; then
	# The scenario program's own account of what it checked.
	tr -d '\r' <"$console" | sed -n '/^=== scenario /,/^scenarios: /p'
fi
echo "tipc-vm: results"
echo "$results"
# run.sh already printed the guest console if the guest script failed.
echo "tipc-vm: $pass passed, $fail failed, $skip skipped"
if [ "$fail" -gt 0 ] || [ "$bad" = 1 ] || [ "$rc" != 0 ]; then
	exit 1
fi
