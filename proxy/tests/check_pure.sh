#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# proxy/ computes; the world is touched in src/. Fails when an archive given
# calls into sockets, files or netlink (its undefined symbols), naming them.
# usage: check_pure.sh NM LIB.a...
nm=$1
shift
bad=$("$nm" -u --format=just-symbols "$@" | sed 's/@.*//' | sort -u |
	grep -E '^(socket|socketpair|bind|listen|accept4?|connect|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg|open|open64|openat|openat64|creat|fopen|fopen64|fdopen|popen|read|write|unlink|mkstemp|system|execv.*|fork|httpd_new|loop_io_add|ct_reconcile|ct_delete.*|nft_sync_[a-z_]+|mnl_[a-z_]+|nftnl_[a-z_]+)$')
if [ -n "$bad" ]; then
	echo "I/O in a library that only computes: $(echo $bad)" >&2
	exit 1
fi
echo "no I/O symbols in: $*"
