# Guest script: check that TIPC and SCTP are loaded and that a 3-node TIPC
# cluster comes up. Run with: scripts/tipc-vm/run.sh scripts/tipc-vm/guest/smoke.sh
set -eu
# shellcheck disable=SC1091
. "$VM_LIB/cluster.sh"
for m in tipc sctp veth bridge; do
	grep -q "^$m " /proc/modules || { echo "SMOKE FAIL: module $m not loaded"; exit 1; }
done
cluster_up 3
cluster_show 3
# Each node's own node name table entry (type 0) is seen by every node.
for i in 1 2 3; do
	n=$(on_node "$i" "$TIPC" nametable show | awk '$1 == 0' | wc -l)
	[ "$n" -ge 3 ] || { echo "SMOKE FAIL: node$i sees $n nodes in its name table"; exit 1; }
done
# Addresses reach across the bridge.
on_node 1 ping -c 1 -W 5 "$(node_addr 3)" >/dev/null || { echo "SMOKE FAIL: ping"; exit 1; }
echo "SMOKE PASS: tipc and sctp loaded, 3 TIPC nodes linked"
