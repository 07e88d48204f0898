#!/usr/bin/env bash
# Boot a small Linux VM with TIPC and SCTP, run one guest script in it, and
# exit with that script's status.
#
#   scripts/tipc-vm/run.sh GUEST_SCRIPT [FILE...]
#
# GUEST_SCRIPT runs under busybox sh as root inside the VM, from /t, after
# the kernel modules (TIPC, SCTP, veth, bridge) are loaded. Each FILE is
# copied to /t/<basename>; dynamically linked ELF files get their shared
# libraries (found with ldd on this machine; a FILE named *.so* is also put
# on the library path). Guest scripts may source "$VM_LIB/cluster.sh" to
# build a multi-node TIPC cluster out of network namespaces, and
# "$VM_LIB/pkgtests.sh" to run Go package test binaries there.
#
# Everything comes from Debian's packages: the kernel behind
# linux-image-amd64 and busybox-static are downloaded once with
# `apt-get download` into the cache directory; qemu-system-x86, iproute2
# and cpio are installed with apt-get when missing.
#
# Environment:
#   NMDB_VM_CACHE    cache directory (default ~/.cache/nmdb-tipc-vm)
#   NMDB_VM_TIMEOUT  wall-clock limit for the VM in seconds (default 1800)
#   NMDB_VM_MEM      guest memory in MiB (default 1024)
#   NMDB_VM_SMP      guest CPUs (default 2)
#   NMDB_VM_QUIET    1: do not stream the guest console while it runs
#   NMDB_VM_LOG      keep the guest console in this file
#   NMDB_VM_APPEND   extra kernel command line arguments
#   NMDB_VM_CPU      qemu -cpu model (default max)
#   NMDB_VM_DISK     a raw disk image to attach as the guest's /dev/vda
#                    (virtio); its modules are the guest script's business
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${NMDB_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/nmdb-tipc-vm}
vm_timeout=${NMDB_VM_TIMEOUT:-1800}
vm_mem=${NMDB_VM_MEM:-1024}
vm_smp=${NMDB_VM_SMP:-2}
marker=NMDB-VM-EXIT-STATUS

# Kernel modules to load, in this order, relative to lib/modules/<ver>/kernel.
modules=(
	net/ipv4/udp_tunnel.ko
	net/ipv6/ip6_udp_tunnel.ko
	net/tipc/tipc.ko
	drivers/net/veth.ko
	net/llc/llc.ko
	net/802/stp.ko
	net/bridge/bridge.ko
	crypto/crc32c_generic.ko
	lib/libcrc32c.ko
	net/sctp/sctp.ko
)

die() {
	echo "tipc-vm: $*" >&2
	exit 2
}

log() {
	echo "tipc-vm: $*" >&2
}

[ $# -ge 1 ] || die "usage: $0 GUEST_SCRIPT [FILE...]"
guest_script=$1
shift
[ -f "$guest_script" ] || die "no such guest script: $guest_script"
for f in "$@"; do
	[ -f "$f" ] || die "no such file: $f"
done

apt_updated=0
apt_update_once() {
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 ||
			die "apt-get update failed"
		apt_updated=1
	fi
}

apt_install() {
	[ "$(id -u)" = 0 ] || die "need root to install Debian packages: $*"
	apt_update_once
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
		install -y -qq --no-install-recommends "$@" </dev/null >&2 ||
		die "apt-get install $* failed"
}

# Host tools.
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
[ -x /usr/sbin/tipc ] && [ -x /usr/sbin/ip ] || need_pkgs+=(iproute2)
command -v ldd >/dev/null || need_pkgs+=(libc-bin)
command -v flock >/dev/null || need_pkgs+=(util-linux)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	apt_install "${need_pkgs[@]}"
fi

# Kernel and busybox, fetched once into the cache.
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
if [ ! -f "$cache/ready" ]; then
	apt_update_once
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$kpkg" ] || die "cannot find the kernel package behind linux-image-amd64"
	log "fetching $kpkg and busybox-static into $cache"
	rm -rf "$cache/debs" "$cache/x" "$cache/kernel" "$cache/busybox"
	mkdir -p "$cache/debs" "$cache/x"
	(cd "$cache/debs" && apt-get -o APT::Sandbox::User=root download "$kpkg" busybox-static >&2) ||
		die "apt-get download $kpkg busybox-static failed"
	dpkg -x "$cache"/debs/linux-image-*.deb "$cache/x/kernel"
	dpkg -x "$cache"/debs/busybox-static_*.deb "$cache/x/busybox"
	kver=$(ls "$cache/x/kernel/lib/modules")
	mkdir -p "$cache/kernel/modules"
	cp "$cache/x/kernel/boot/vmlinuz-$kver" "$cache/kernel/vmlinuz"
	for m in "${modules[@]}"; do
		src="$cache/x/kernel/lib/modules/$kver/kernel/$m"
		dst="$cache/kernel/modules/$(basename "$m")"
		if [ -f "$src" ]; then
			cp "$src" "$dst"
		elif [ -f "$src.xz" ]; then # newer Debian kernels compress modules
			xz -dc "$src.xz" >"$dst"
		elif [ -f "$src.zst" ]; then
			command -v zstd >/dev/null || apt_install zstd
			zstd -qdc "$src.zst" >"$dst"
		else
			die "kernel $kver lacks module $m"
		fi
	done
	echo "$kver" >"$cache/kernel/version"
	mkdir -p "$cache/busybox"
	cp "$cache/x/busybox/bin/busybox" "$cache/busybox/busybox"
	rm -rf "$cache/x" "$cache/debs"
	touch "$cache/ready"
fi
flock -u 9

# Build the initramfs in a fresh directory.
work=$(mktemp -d "${TMPDIR:-/tmp}/tipc-vm.XXXXXX")
qpid=""
disk=()
if [ -n "${NMDB_VM_DISK:-}" ]; then
	[ -f "$NMDB_VM_DISK" ] || die "no such disk image: $NMDB_VM_DISK"
	disk=(-drive "file=$NMDB_VM_DISK,if=virtio,format=raw")
fi
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/sbin,usr/local/lib/tipc-vm,lib64,lib/x86_64-linux-gnu,proc,sys,dev,run,tmp,t,modules,etc,var}
ln -s ../run "$root/var/run"
cp "$cache/busybox/busybox" "$root/bin/busybox"
cp "$cache"/kernel/modules/*.ko "$root/modules/"
for m in "${modules[@]}"; do basename "$m"; done >"$root/modules/order"
cp "$here/guest/init" "$root/init"
cp "$here/guest/cluster.sh" "$here/guest/pkgtests.sh" "$root/usr/local/lib/tipc-vm/"
chmod 755 "$root/init"
cp "$guest_script" "$root/t/guest.sh"
cp /usr/sbin/ip /usr/sbin/tipc "$root/usr/local/sbin/"

# Library directories of any shared objects given as files, so that ldd
# resolves programs linked against them.
libpath=""
for f in "$@"; do
	case $(basename "$f") in
	*.so | *.so.*) libpath="$libpath:$(cd "$(dirname "$f")" && pwd)" ;;
	esac
done
libpath=${libpath#:}

copy_libs() {
	local bin=$1 lib
	# ldd prints "name => path (addr)" or "path (addr)".
	LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$bin" 2>/dev/null |
		awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}' |
		while read -r lib; do
			case $lib in
			*/ld-linux*) cp -L "$lib" "$root/lib64/$(basename "$lib")" ;;
			*) cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
			esac
		done
}

is_dynamic_elf() {
	[ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] &&
		LD_LIBRARY_PATH="$libpath" ldd "$1" >/dev/null 2>&1
}

copy_libs /usr/sbin/ip
copy_libs /usr/sbin/tipc
for f in "$@"; do
	cp -L "$f" "$root/t/$(basename "$f")"
	case $(basename "$f") in
	*.so | *.so.*) cp -L "$f" "$root/lib/x86_64-linux-gnu/$(basename "$f")" ;;
	esac
	if is_dynamic_elf "$f"; then
		copy_libs "$f"
	fi
done

if command -v cpio >/dev/null; then
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initrd"
else
	(cd "$root" && find . | "$cache/busybox/busybox" cpio -o -H newc 2>/dev/null) >"$work/initrd"
fi

# Boot. The serial console is the guest's stdout; the marker line carries
# the guest script's exit status.
consolelog=${NMDB_VM_LOG:-$work/console.log}
log "booting $(cat "$cache/kernel/version") (initramfs $(($(stat -c %s "$work/initrd") / 1024 / 1024)) MiB, timeout ${vm_timeout}s)"
start=$(date +%s)
: >"$consolelog" # exists before tail below opens it
timeout -k 10 "$vm_timeout" qemu-system-x86_64 \
	-accel tcg -cpu "${NMDB_VM_CPU:-max}" -m "$vm_mem" -smp "$vm_smp" \
	-display none -monitor none -no-reboot -nic none "${disk[@]}" \
	-chardev stdio,id=con,signal=off -serial chardev:con \
	-kernel "$cache/kernel/vmlinuz" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet panic=-1 oops=panic ${NMDB_VM_APPEND:-}" \
	</dev/null >"$consolelog" 2>&1 &
qpid=$!
if [ "${NMDB_VM_QUIET:-0}" != 1 ]; then
	tail -n +1 -f --pid="$qpid" "$consolelog" | tr -d '\r' &
fi
qrc=0
wait "$qpid" || qrc=$?
qpid=""
wait
[ "${NMDB_VM_QUIET:-0}" = 1 ] || echo
log "VM ran $(($(date +%s) - start))s"

status=$(tr -d '\r' <"$consolelog" | sed -n "s/^$marker=\([0-9][0-9]*\)\$/\1/p" | tail -n 1)
if [ -z "$status" ]; then
	if [ "$qrc" = 124 ]; then
		log "VM timed out after ${vm_timeout}s"
	else
		log "VM ended (qemu status $qrc) without reporting the guest script's status"
	fi
	if [ "${NMDB_VM_QUIET:-0}" = 1 ]; then
		echo "----- guest console -----" >&2
		tr -d '\r' <"$consolelog" >&2
		echo "----- end of guest console -----" >&2
	fi
	exit 3
fi
if [ "$status" != 0 ] && [ "${NMDB_VM_QUIET:-0}" = 1 ]; then
	echo "----- guest console -----" >&2
	tr -d '\r' <"$consolelog" >&2
	echo "----- end of guest console -----" >&2
fi
log "guest script exited with status $status"
exit "$status"
