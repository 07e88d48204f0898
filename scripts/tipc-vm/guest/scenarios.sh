# Guest script of test.sh: make a 3-node TIPC cluster and run the scenario
# program with the files test.sh put in /t.
. "$VM_LIB/cluster.sh"
cluster_up 3 || exit 1
set -- -nmdb /t/nmdb -net "$CLUSTER_NET"
[ -f /t/select.tsv ] && set -- "$@" -tsv /t/select.tsv
[ -x /t/tipc_client ] && set -- "$@" -ctest /t/tipc_client
[ -f /t/cskip.txt ] && set -- "$@" -cskip "$(cat /t/cskip.txt)"
[ -f /t/only.txt ] && set -- "$@" -only "$(cat /t/only.txt)"
/t/scenario run "$@"
