# Shell functions for guest scripts of the test VM (busybox sh): make a
# cluster of TIPC nodes out of network namespaces.
#
#   . "$VM_LIB/cluster.sh"
#   cluster_up 3            # nodes node1..node3, links up, or return 1
#   on_node 2 CMD ARGS...   # run CMD inside node2's namespace
#
# Topology: a bridge br0 in the first namespace; node i has one interface
# eth0 (a veth whose peer vethi is a port of br0), the IPv4 address
# $CLUSTER_NET.i/24, TIPC identity "nodei" and a TIPC bearer on eth0.
# Busybox's own ip applet lacks netns, so iproute2 is called by full path.
# shellcheck shell=dash

IP=/usr/local/sbin/ip
TIPC=/usr/local/sbin/tipc
# Link-local addresses: the VM has no network card, nothing leaves it.
CLUSTER_NET=${CLUSTER_NET:-169.254.10}

# node_addr I prints node I's IPv4 address.
node_addr() {
	echo "$CLUSTER_NET.$1"
}

# on_node I CMD ARGS... runs CMD in node I's network namespace.
on_node() {
	local n=$1
	shift
	"$IP" netns exec "node$n" "$@"
}

# cluster_links I prints how many TIPC links of node I are up (the
# broadcast link not counted).
cluster_links() {
	on_node "$1" "$TIPC" link list 2>/dev/null | grep -v '^broadcast-link' | grep -c ': up$'
}

# cluster_up N makes nodes node1..nodeN and waits (up to 60 s) until every
# node has a TIPC link up to every other node.
cluster_up() {
	local cn=$1 i want ok tries
	"$IP" link add br0 type bridge || return 1
	"$IP" link set br0 up || return 1
	i=1
	while [ "$i" -le "$cn" ]; do
		"$IP" netns add "node$i" || return 1
		"$IP" link add "veth$i" type veth peer name eth0 netns "node$i" || return 1
		"$IP" link set "veth$i" master br0 up || return 1
		on_node "$i" "$IP" link set lo up || return 1
		on_node "$i" "$IP" link set eth0 up || return 1
		on_node "$i" "$IP" addr add "$(node_addr "$i")/24" dev eth0 || return 1
		on_node "$i" "$TIPC" node set identity "node$i" || return 1
		on_node "$i" "$TIPC" bearer enable media eth device eth0 || return 1
		i=$((i + 1))
	done
	want=$((cn - 1))
	tries=0
	while :; do
		ok=1
		i=1
		while [ "$i" -le "$cn" ]; do
			if [ "$(cluster_links "$i")" -lt "$want" ]; then
				ok=0
				break
			fi
			i=$((i + 1))
		done
		[ "$ok" = 1 ] && break
		tries=$((tries + 1))
		if [ "$tries" -ge 300 ]; then
			echo "cluster: TIPC links did not come up in 60 s"
			cluster_show "$cn"
			return 1
		fi
		sleep 0.2
	done
	echo "cluster: $cn TIPC nodes up, every node linked to the $want others"
}

# cluster_show N prints each node's TIPC links and name table.
cluster_show() {
	local i=1
	while [ "$i" -le "$1" ]; do
		echo "--- node$i links"
		on_node "$i" "$TIPC" link list
		echo "--- node$i name table"
		on_node "$i" "$TIPC" nametable show
		i=$((i + 1))
	done
}
