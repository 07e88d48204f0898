#!/usr/bin/env bash
# Checks the service files (make test-service): `make install-service` into
# a temporary DESTDIR puts every file in place with the program's path
# filled in, the defaults file parses as a shell file and has the flags the
# daemon accepts, and `systemd-analyze verify` accepts the unit without a
# word. Without systemd-analyze the unit check is skipped: this prints
# SKIPPED and records it for make test's summary (never as a pass).
set -euo pipefail

GO=${GO:-go}
MAKE=${MAKE:-make}
top=$(cd "$(dirname "$0")/../.." && pwd)
skipfile=${SKIP_FILE:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-service: FAIL: $*" >&2; exit 1; }

dest=$tmp/dest
"$MAKE" -s -C "$top" install-service DESTDIR="$dest" PREFIX=/opt/nmdb >/dev/null
unit=$dest/lib/systemd/system/nmdb.service
for f in "$unit" "$dest/etc/default/nmdb" "$dest/etc/logrotate.d/nmdb" "$dest/usr/lib/sysusers.d/nmdb.conf"; do
	[ -f "$f" ] || fail "make install-service did not install $f"
done
grep -qx 'ExecStart=/opt/nmdb/bin/nmdb -f $NMDB_OPTS' "$unit" || fail "ExecStart does not name /opt/nmdb/bin/nmdb: $(grep ExecStart= "$unit")"
! grep -q '@[A-Z]*@' "$unit" || fail "placeholders left in the unit"
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify"
echo "ok - make install-service installs the unit, defaults, logrotate and sysusers files"

# An operator's defaults file is kept on a second install.
echo 'NMDB_OPTS="-d /srv/nmdb"' >"$dest/etc/default/nmdb"
"$MAKE" -s -C "$top" install-service DESTDIR="$dest" PREFIX=/opt/nmdb >/dev/null
grep -qx 'NMDB_OPTS="-d /srv/nmdb"' "$dest/etc/default/nmdb" || fail "a second install overwrote /etc/default/nmdb"
echo "ok - a second install keeps the operator's defaults file"

# uninstall-service removes what it installed and keeps the operator's
# defaults file.
"$MAKE" -s -C "$top" uninstall-service DESTDIR="$dest" >/dev/null
for f in "$unit" "$dest/etc/logrotate.d/nmdb" "$dest/usr/lib/sysusers.d/nmdb.conf"; do
	[ ! -e "$f" ] || fail "make uninstall-service left $f"
done
grep -qx 'NMDB_OPTS="-d /srv/nmdb"' "$dest/etc/default/nmdb" || fail "make uninstall-service removed /etc/default/nmdb"
echo "ok - make uninstall-service removes the unit, logrotate and sysusers files, keeps the defaults file"
"$MAKE" -s -C "$top" install-service DESTDIR="$dest" PREFIX=/opt/nmdb >/dev/null

# The flags of the defaults file are the daemon's: nmdb parses them (the
# -h at the end makes it print its help instead of starting).
mkdir -p "$tmp/bin"
"$GO" build -C "$top" -o "$tmp/bin/" ./cmd/nmdb
NMDB_OPTS=$(. "$top/contrib/systemd/nmdb.default" && printf '%s' "$NMDB_OPTS")
# shellcheck disable=SC2086
"$tmp/bin/nmdb" -f $NMDB_OPTS -h >/dev/null || fail "nmdb rejects the defaults file's flags: $NMDB_OPTS"
echo "ok - nmdb accepts the defaults file's flags"

# The logrotate snippet: logrotate's own check when it is there.
if command -v logrotate >/dev/null; then
	sed 's/^\tsu nmdb nmdb$//; s/^\tcreate 0640 nmdb nmdb$/\tcreate 0640/' \
		"$dest/etc/logrotate.d/nmdb" >"$tmp/logrotate.conf"
	logrotate -d -s "$tmp/state" "$tmp/logrotate.conf" >"$tmp/logrotate.out" 2>&1 ||
		fail "logrotate -d rejects the snippet: $(cat "$tmp/logrotate.out")"
	! grep -qi 'error' "$tmp/logrotate.out" || fail "logrotate -d: $(grep -i error "$tmp/logrotate.out")"
	echo "ok - logrotate -d accepts the snippet"
else
	echo "test-service: logrotate not found: the logrotate snippet was not checked"
fi

if ! command -v systemd-analyze >/dev/null; then
	echo "test-service: SKIPPED: systemd-analyze not found (Debian package systemd); the unit file was NOT verified"
	[ -z "$skipfile" ] || echo "test-service (systemd-analyze not found)" >>"$skipfile"
	exit 0
fi
# verify checks that ExecStart names an executable: point it at the one
# just built.
sed "s|^ExecStart=/opt/nmdb/bin/nmdb|ExecStart=$tmp/bin/nmdb|" "$unit" >"$tmp/nmdb.service"
if ! systemd-analyze verify --man=no "$tmp/nmdb.service" >"$tmp/verify.out" 2>&1; then
	fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
fi
# It only warns about a bad setting: any word is a failure.
[ ! -s "$tmp/verify.out" ] || fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
echo "ok - systemd-analyze verify accepts the unit ($(systemd-analyze --version | head -n 1))"
