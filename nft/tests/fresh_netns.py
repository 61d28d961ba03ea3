# SPDX-License-Identifier: GPL-2.0-or-later
"""The start of every nft/tests script: root, or skipped (77); and never in
the root namespace (the tables, flushes and clean-ups are real), so a
script not yet in a fresh one starts itself again inside one."""
import os
import socket
import sys


def enter(marker):
    """`marker`: the script's own environment variable, set in the child so
    a namespace that is not fresh is an error, not a loop."""
    if os.geteuid() != 0:
        print('needs root (skipped)')
        sys.exit(77)
    if [n for _, n in socket.if_nameindex()] != ['lo']:
        if os.environ.get(marker):
            print('unshare -n did not give a fresh network namespace', file=sys.stderr)
            sys.exit(2)
        os.environ[marker] = '1'
        script = os.path.abspath(sys.modules['__main__'].__file__)
        os.execvp('unshare', ['unshare', '-n', sys.executable, script, *sys.argv[1:]])
