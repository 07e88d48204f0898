#!/usr/bin/env bash
# Install the Debian packages that `make test` needs and a fresh machine may
# lack: a C toolchain for the C library's tests, mandoc for the man pages,
# qemu, iproute2 and cpio for the TIPC/SCTP VM, strace for the fault tests,
# systemd (systemd-analyze) and logrotate to check the service files.
# Does nothing when all are present. Needs root (or sudo) to install.
set -euo pipefail

PACKAGES="build-essential gcc mandoc pkg-config qemu-system-x86 iproute2 cpio strace systemd logrotate"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null; then
	echo "deps: missing packages:$missing (no apt-get here: install them by hand)" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null; then
		sudo="sudo"
	else
		echo "deps: missing packages:$missing; run as root, or install them first" >&2
		exit 1
	fi
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing </dev/null
