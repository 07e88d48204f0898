# shellcheck disable=SC1091
# Guest script of test.sh: make a 3-node TIPC cluster, run the scenario
# program and the package test binaries with the files test.sh put in /t.
. "$VM_LIB/cluster.sh"
. "$VM_LIB/pkgtests.sh"
cluster_up 3 || exit 1
rc=0
# The C library's private core goes in nmdb/ beside libnmdb.so.1.
if [ -f /t/libnmdb-core.so.1 ]; then
	mkdir -p /lib/x86_64-linux-gnu/nmdb
	cp /t/libnmdb-core.so.1 /lib/x86_64-linux-gnu/nmdb/
fi
if [ ! -f /t/noscenarios.txt ]; then
	set -- -nmdb /t/nmdb -net "$CLUSTER_NET"
	[ -x /t/tipc_client ] && set -- "$@" -ctest /t/tipc_client
	[ -f /t/cskip.txt ] && set -- "$@" -cskip "$(cat /t/cskip.txt)"
	[ -f /t/only.txt ] && set -- "$@" -only "$(cat /t/only.txt)"
	/t/scenario run "$@" || rc=$?
fi

# Package tests: the socket packages and the TIPC/SCTP tests of the client
# and the server, each of which must really run here (see pkgtests.sh).
if [ -f /t/pkgtests.txt ]; then
	echo "=== package tests"
	pkg_run tipc /t/pkg-tipc.test '' '^TestCluster' \
		TestRoundTrip TestMulticast TestLargeMessage TestTruncatedDropped \
		TestReadDeadline TestSendToUnboundService \
		TestReturnedMessageDropped TestConcurrentReaders TestNoAllocations TestListenRange \
		TestTopologyLocal TestTopologyBarrier TestTopologyProcessExit || rc=1
	pkg_cluster /t/pkg-tipc.test || rc=1
	pkg_run sctp /t/pkg-sctp.test '' '' \
		TestRoundTrip TestLargeMessages TestTruncatedDropped TestManyClients \
		TestDialRefused TestAssociationLost TestNoAllocations || rc=1
	pkg_run libnmdb /t/pkg-libnmdb.test '^(TestTIPC|TestSCTP)' '' TestTIPC TestSCTP || rc=1
	pkg_run nmdb /t/pkg-nmdb.test '^(TestTIPC|TestSCTP|TestServePacket)' '' \
		TestTIPCServerCountsDrops TestSCTPServerCountsDrops \
		TestTIPCServeNoAllocations TestSCTPServeNoAllocations || rc=1
	echo "packages: done"
fi
exit "$rc"
