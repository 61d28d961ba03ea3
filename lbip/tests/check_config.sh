#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# ferry check-config on the files in cases/: exit codes and messages.
# usage: check_config.sh FERRY CASES_DIR
ferry=$1 dir=$2 fail=0 out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect CODE FILES... -- MESSAGE...: exit code and a line for each message
expect() {
	code=$1; shift; files=
	while [ "$1" != "--" ]; do files="$files $dir/$1"; shift; done; shift
	"$ferry" check-config $files >"$out" 2>&1
	rc=$?
	if [ "$rc" != "$code" ]; then
		echo "FAIL: check-config$files: exit $rc, want $code"; cat "$out"; fail=1
	fi
	for m in "$@"; do
		if ! grep -qF -- "$m" "$out"; then
			echo "FAIL: check-config$files: no line with: $m"; cat "$out"; fail=1
		fi
	done
}

expect 0 good-configmap.yaml -- "valid: source=configmap pools=1 addresses=51 l2advertisements=1"
expect 0 good-legacy-bgp.yaml -- "pools=2" "peers=2" "bgpadvertisements=2"
expect 0 good-crds.yaml -- "valid: source=crds pools=1 addresses=144 l2advertisements=1 bgpadvertisements=1 peers=1"
expect 0 good-list.yaml -- "valid: source=crds pools=1 addresses=4 l2advertisements=1"
# Resources and a ConfigMap together: the resources win.
expect 0 good-crds.yaml good-configmap.yaml -- "source=crds" "the ConfigMap is ignored"
expect 1 bad-legacy.yaml -- \
	'address-pools[1].protocol: unknown protocol "layer3"' \
	'address-pools[1].addresses[1]: "198.51.100.5/24": is not a network (host bits set)' \
	'address-pools[2].adresses: unknown field' \
	'address-pools[2].name: duplicate definition of pool "a"' \
	'invalid: '
expect 1 bad-crds.yaml -- \
	'IPAddressPool metallb-system/pool-a: spec.addresses[1]: "192.0.2.10-192.0.2.1": start 192.0.2.10 is after end 192.0.2.1' \
	'BGPAdvertisement metallb-system/adv: spec.communities[0]: "undefined-name" is neither' \
	'BGPPeer metallb-system/router: spec.myASN: missing local ASN'
# Two good files that overlap are bad together.
expect 1 good-crds.yaml good-crds.yaml -- 'duplicate definition of pool "pool-a"'
expect 1 does-not-exist.yaml -- "No such file"
"$ferry" check-config >/dev/null 2>&1
[ $? = 2 ] || { echo "FAIL: no argument must exit 2"; fail=1; }
exit $fail
