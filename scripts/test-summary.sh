#!/usr/bin/env bash
# The last line of `make test`: which parts passed, and which were skipped
# (a part that could not run here wrote its name and reason to SKIP_FILE).
# Usage: test-summary.sh SKIP_FILE PART...
set -euo pipefail
skipfile=$1
shift
skipped=""
if [ -s "$skipfile" ]; then
	skipped=$(paste -sd ';' "$skipfile" | sed 's/;/; /g')
fi
passed=""
for p in "$@"; do
	name=${p#test-}
	if [ -n "$skipped" ] && grep -q "^$p " "$skipfile"; then
		continue
	fi
	passed="$passed${passed:+, }$name"
done
if [ -z "$skipped" ]; then
	echo "make test: all parts passed ($passed)"
else
	echo "make test: passed: $passed; SKIPPED, not passed: $skipped"
fi
