# Shell functions for guest scripts of the test VM (busybox sh): run Go
# package test binaries (built with `CGO_ENABLED=0 go test -c`) in a
# cluster from cluster.sh, and report each as a scenario line
#
#   PASS scenario pkg-NAME: ...    or    FAIL scenario pkg-NAME: ...
#
# The VM's kernel has TIPC and SCTP, so a socket test that skips here is a
# bug: a binary passes only if it exits 0, no test fails, every test it is
# told to expect reports PASS, and nothing skips except the tests listed in
# PKG_SKIP_OK (those that can only run on a kernel *without* TIPC or SCTP).
# shellcheck shell=dash

PKG_SKIP_OK=${PKG_SKIP_OK:-TestUnsupportedError}
PKG_OUT=${PKG_OUT:-/tmp/pkg}

# pkg_check NAME OUTPUT STATUS REQUIRED... prints NAME's result line from a
# test binary's -test.v OUTPUT and exit STATUS; returns 1 on failure, after
# printing OUTPUT.
pkg_check() {
	local name=$1 out=$2 rc=$3 why="" list t n
	shift 3
	[ "$rc" = 0 ] || why="$why; exit status $rc"
	list=$(sed -n 's/^ *--- FAIL: \([^ ]*\).*/\1/p' "$out" | tr '\n' ' ')
	[ -z "$list" ] || why="$why; failed: $list"
	list=$(sed -n 's/^ *--- SKIP: \([^ ]*\).*/\1/p' "$out" | grep -vxE "$PKG_SKIP_OK" | tr '\n' ' ')
	[ -z "$list" ] || why="$why; skipped although the kernel has TIPC and SCTP: $list"
	list=""
	for t in "$@"; do
		grep -qE "^ *--- PASS: $t " "$out" || list="$list $t"
	done
	[ -z "$list" ] || why="$why; did not report PASS:$list"
	if grep -qE 'no (TIPC|SCTP) in this kernel|not available in this kernel' "$out"; then
		why="$why; ran without kernel TIPC or SCTP"
	fi
	n=$(grep -cE '^--- PASS: ' "$out")
	if [ -z "$why" ]; then
		echo "pkg-$name: passed:$(sed -n 's/^--- PASS: \([^ ]*\).*/ \1/p' "$out" | tr -d '\n')"
		echo "PASS scenario pkg-$name: $n tests passed, required ones: $*"
		return 0
	fi
	echo "----- pkg-$name output -----"
	cat "$out"
	echo "----- end of pkg-$name output -----"
	echo "FAIL scenario pkg-$name: ${why#; }"
	return 1
}

# pkg_run NAME BINARY RUN SKIP REQUIRED... runs BINARY on node 1 with
# -test.run RUN and -test.skip SKIP (either may be empty) and checks it.
pkg_run() {
	local name=$1 bin=$2 run=$3 skip=$4 rc=0
	shift 4
	if [ ! -x "$bin" ]; then
		echo "FAIL scenario pkg-$name: test binary $bin missing"
		return 1
	fi
	mkdir -p "$PKG_OUT"
	on_node 1 "$bin" -test.v -test.count=1 -test.timeout=5m \
		-test.run "${run:-.}" -test.skip "${skip:-^$}" >"$PKG_OUT/$name.out" 2>&1 || rc=$?
	pkg_check "$name" "$PKG_OUT/$name.out" "$rc" "$@"
}

# pkg_cluster BINARY runs the tipc package's cross-node tests: echo servers
# (TestClusterEcho) on nodes 2 and 3 bound to one service instance, and
# TestClusterClient on node 1 expecting a reply from each.
pkg_cluster() {
	local bin=$1 inst=4711 tries=0 p2 p3 rc=0 rc2=0 rc3=0 out
	if [ ! -x "$bin" ]; then
		echo "FAIL scenario pkg-tipc-cluster: test binary $bin missing"
		return 1
	fi
	mkdir -p "$PKG_OUT"
	on_node 2 env NMDB_TIPC_ECHO=$inst "$bin" -test.v -test.count=1 -test.run '^TestClusterEcho$' \
		>"$PKG_OUT/echo2.out" 2>&1 &
	p2=$!
	on_node 3 env NMDB_TIPC_ECHO=$inst "$bin" -test.v -test.count=1 -test.run '^TestClusterEcho$' \
		>"$PKG_OUT/echo3.out" 2>&1 &
	p3=$!
	# Wait until node 1 sees both bindings in its name table.
	while [ "$(on_node 1 "$TIPC" nametable show 2>/dev/null | grep -cE "^26001 +$inst +$inst ")" -lt 2 ]; do
		tries=$((tries + 1))
		if [ "$tries" -gt 60 ]; then
			break
		fi
		sleep 1
	done
	on_node 1 env NMDB_TIPC_REMOTE=$inst NMDB_TIPC_SERVERS=2 "$bin" -test.v -test.count=1 \
		-test.run '^TestClusterClient$' >"$PKG_OUT/client.out" 2>&1 || rc=$?
	wait "$p2" || rc2=$?
	wait "$p3" || rc3=$?
	out=$PKG_OUT/tipc-cluster.out
	{
		echo "=== node 2 (echo)"
		cat "$PKG_OUT/echo2.out"
		echo "=== node 3 (echo)"
		cat "$PKG_OUT/echo3.out"
		echo "=== node 1 (client)"
		cat "$PKG_OUT/client.out"
	} >"$out"
	if [ "$rc2" != 0 ] || [ "$rc3" != 0 ]; then
		rc="$rc, echo servers $rc2 $rc3"
	fi
	if [ "$(grep -cE '^--- PASS: TestClusterEcho ' "$out")" != 2 ]; then
		rc="$rc, TestClusterEcho did not pass on both nodes"
	fi
	pkg_check tipc-cluster "$out" "$rc" TestClusterEcho TestClusterClient
}
