#!/usr/bin/env bash
# Power-cut test: every sync-acknowledged write survives qemu being killed.
#
#   scripts/tipc-vm/powercut.sh
#
# Boots the test VM (run.sh) with a virtio disk holding an ext4 file system,
# runs the nmdb daemon on a store on it and a program streaming sync sets
# from several clients, each acknowledged set printed on the console. Once
# NMDB_PC_ACKS sets are acknowledged, qemu is killed with SIGKILL: the
# guest's memory, its page cache and the daemon are gone at once, as in a
# power cut. A second boot on the same disk image mounts it (ext4 replays
# its journal), starts the daemon on the same store and gets every key
# whose sync set was acknowledged: all must be there. Prints one PASS or
# FAIL line and exits non-zero on FAIL.
#
# Environment: NMDB_PC_ACKS (default 400), NMDB_PC_WRITERS (default 4),
# and run.sh's (NMDB_VM_CACHE, NMDB_VM_TIMEOUT, ...). The disk's modules
# (virtio, ext4) come from the same Debian kernel package as run.sh's,
# fetched once with apt-get download into the cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${NMDB_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/nmdb-tipc-vm}
acks=${NMDB_PC_ACKS:-400}
writers=${NMDB_PC_WRITERS:-4}
go=${GO:-go}
# The disk's modules in load order, relative to lib/modules/<ver>/kernel.
modules=(
	drivers/virtio/virtio_ring.ko
	drivers/virtio/virtio.ko
	drivers/virtio/virtio_pci_modern_dev.ko
	drivers/virtio/virtio_pci_legacy_dev.ko
	drivers/virtio/virtio_pci.ko
	drivers/block/virtio_blk.ko
	lib/crc16.ko
	fs/mbcache.ko
	fs/jbd2/jbd2.ko
	fs/ext4/ext4.ko
)

die() {
	echo "powercut: $*" >&2
	exit 2
}

build=$(mktemp -d "${TMPDIR:-/tmp}/powercut.XXXXXX")
rpid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "$rpid" ]; then kill "$rpid" 2>/dev/null || true; fi
	rm -rf "$build"
}
trap cleanup EXIT
cd "$repo"

echo "powercut: building nmdb and the writer"
CGO_ENABLED=0 "$go" build -o "$build/nmdb" ./cmd/nmdb
CGO_ENABLED=0 "$go" build -o "$build/powercut" ./scripts/tipc-vm/powercut

# The kernel run.sh boots; a first run.sh fills its cache.
if [ ! -f "$cache/kernel/version" ]; then
	echo true >"$build/noop.sh"
	NMDB_VM_QUIET=1 "$here/run.sh" "$build/noop.sh" >/dev/null 2>&1 || die "the VM does not boot (run $here/run.sh)"
fi
kver=$(cat "$cache/kernel/version")
mods=$cache/powercut-modules-$kver
if [ ! -f "$mods/ready" ]; then
	echo "powercut: fetching linux-image-$kver for its virtio and ext4 modules"
	rm -rf "$mods"
	mkdir -p "$mods/deb"
	(cd "$mods/deb" && apt-get -o APT::Sandbox::User=root download "linux-image-$kver" >&2) ||
		die "apt-get download linux-image-$kver failed"
	dpkg -x "$mods"/deb/linux-image-*.deb "$mods/x"
	for m in "${modules[@]}"; do
		src="$mods/x/lib/modules/$kver/kernel/$m"
		dst="$mods/pc-$(basename "$m")"
		if [ -f "$src" ]; then
			cp "$src" "$dst"
		elif [ -f "$src.xz" ]; then
			xz -dc "$src.xz" >"$dst"
		elif [ -f "$src.zst" ]; then
			zstd -qdc "$src.zst" >"$dst"
		else
			die "kernel $kver lacks module $m"
		fi
	done
	rm -rf "$mods/x" "$mods/deb"
	touch "$mods/ready"
fi
files=("$build/nmdb" "$build/powercut")
order=""
for m in "${modules[@]}"; do
	files+=("$mods/pc-$(basename "$m")")
	order="$order pc-$(basename "$m")"
done

disk=$build/disk.img
truncate -s 512M "$disk"
mkfs.ext4 -q -F "$disk" >/dev/null || die "mkfs.ext4 failed"

# What both boots do first: the disk's modules, the file system, the daemon.
cat >"$build/common.sh" <<GUEST
for m in $order; do
	insmod "/t/\$m" || { echo "powercut: insmod \$m failed"; exit 1; }
done
mkdir -p /mnt
i=0
until [ -b /dev/vda ]; do
	i=\$((i + 1))
	[ \$i -lt 100 ] || { echo "powercut: no /dev/vda"; exit 1; }
	sleep 0.1
done
mount -t ext4 /dev/vda /mnt || { echo "powercut: mount failed"; exit 1; }
/t/nmdb -f -d /mnt/db -t 26010 -T 127.0.0.1 -l off -s off -o /mnt/nmdb.log &
i=0
until grep -q 'msg="nmdb ready"' /mnt/nmdb.log 2>/dev/null; do
	i=\$((i + 1))
	[ \$i -lt 600 ] || { echo "powercut: the daemon did not start"; cat /mnt/nmdb.log; exit 1; }
	sleep 0.1
done
GUEST
{
	cat "$build/common.sh"
	echo 'echo "powercut: writing"'
	echo "/t/powercut write 127.0.0.1 26010 $writers"
	echo 'echo "powercut: the writer stopped"; exit 1'
} >"$build/write.sh"

echo "powercut: first boot: sync sets until $acks are acknowledged, then qemu is killed"
console1=$build/console1.log
: >"$console1"
NMDB_VM_QUIET=1 NMDB_VM_LOG=$console1 NMDB_VM_DISK=$disk \
	"$here/run.sh" "$build/write.sh" "${files[@]}" >"$build/run1.log" 2>&1 &
rpid=$!
count() { tr -d '\r' <"$console1" | grep -cE '^ACK w[0-9]+-[0-9]+ v[0-9]+$' || true; }
while [ "$(count)" -lt "$acks" ]; do
	if ! kill -0 "$rpid" 2>/dev/null; then
		cat "$build/run1.log" >&2
		die "the first boot ended before $acks writes were acknowledged"
	fi
	sleep 0.2
done
# run.sh runs qemu under timeout: find qemu by its parent's id.
tpid=$(ps -o pid= --ppid "$rpid" | tr -d ' ' | while read -r p; do
	[ "$(ps -o comm= -p "$p")" = timeout ] && echo "$p"
done | head -n 1)
[ -n "$tpid" ] || die "cannot find qemu's timeout process"
qpid=$(ps -o pid= --ppid "$tpid" | tr -d ' ' | head -n 1)
[ -n "$qpid" ] && [ "$(ps -o comm= -p "$qpid")" = qemu-system-x86 ] || die "cannot find qemu (child of $tpid)"
kill -KILL "$qpid"
wait "$rpid" || true
rpid=""
tr -d '\r' <"$console1" | grep -E '^ACK w[0-9]+-[0-9]+ v[0-9]+$' >"$build/acked.txt" || true
echo "powercut: qemu killed after $(wc -l <"$build/acked.txt") acknowledged sync sets"

{
	cat "$build/common.sh"
	echo '/t/powercut check 127.0.0.1 26010 /t/acked.txt'
} >"$build/check.sh"
echo "powercut: second boot on the same disk: checking every acknowledged write"
console2=$build/console2.log
rc=0
NMDB_VM_QUIET=1 NMDB_VM_LOG=$console2 NMDB_VM_DISK=$disk \
	"$here/run.sh" "$build/check.sh" "${files[@]}" "$build/acked.txt" >"$build/run2.log" 2>&1 || rc=$?
result=$(tr -d '\r' <"$console2" | grep -E '^(PASS|FAIL) powercut' | tail -n 1 || true)
if [ "$rc" != 0 ] || [ -z "$result" ]; then
	tr -d '\r' <"$console2" | grep -E '^(lost|wrong) |^powercut: ' >&2 || true
	[ -n "$result" ] || cat "$build/run2.log" >&2
	echo "${result:-FAIL powercut: the second boot did not report (status $rc)}"
	exit 1
fi
echo "$result"
