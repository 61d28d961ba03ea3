#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# docs/config-reference.md is exactly what `ferry reference` prints, so the
# page cannot drift from the flags and fields the code accepts.
# Usage: check-config-reference.sh FERRY PAGE
set -eu
bin=$1 page=$2
out=$("$bin" reference) || { echo "ferry reference failed" >&2; exit 1; }
if ! printf '%s\n' "$out" | diff -u "$page" - >&2; then
	echo "docs/config-reference.md is out of date (above: what the code says); regenerate it:" >&2
	echo "    build/src/ferry reference > docs/config-reference.md" >&2
	exit 1
fi
