#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every shared library the ferry binary needs comes from a package the
# Dockerfile's runtime stage installs (its "# runtime:" line), so the image
# cannot start without one. Usage: check-dockerfile-deps.sh FERRY DOCKERFILE
set -eu
bin=$1 dockerfile=$2
want=$(sed -n 's/^# runtime: //p' "$dockerfile")
# the last stage's apt-get line: what the image really installs
runtime=$(awk '/^FROM/ { s = "" } { s = s $0 "\n" } END { printf "%s", s }' "$dockerfile" |
	sed -n '/apt-get install/,/&&/p' | tr -s ' \\\n' ' ')
[ -n "$want" ] || { echo "no '# runtime:' line in $dockerfile" >&2; exit 1; }
rc=0
for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
	[ "$lib" = libc.so.6 ] && continue	# in every Debian image
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n1 | cut -d: -f1)
	case " $want " in
	*" $pkg "*) ;;
	*) echo "$lib (package ${pkg:-?}) is not in the Dockerfile's runtime stage" >&2; rc=1 ;;
	esac
	case " $runtime " in
	*" $pkg "*) ;;
	*) echo "$pkg is on the runtime line but the last stage does not install it" >&2; rc=1 ;;
	esac
done
exit $rc
