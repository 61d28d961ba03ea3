/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kube-proxy's conntrack settings onto the node: writes what
 * proxy/kpconfig.h's kp_conntrack_sysctls computed.
 */
#ifndef FERRY_SRC_CTSYSCTL_H
#define FERRY_SRC_CTSYSCTL_H

#include "proxy/kpconfig.h"

/*
 * Each setting whose current value differs (raise_only: is lower) is
 * written under `root` ("/" on a node). One that cannot be read or written
 * (the DaemonSet mounts /proc/sys read-only; nf_conntrack_max is read-only
 * outside the host's namespace) is logged once, naming the sysctl and the
 * value to set on the node. Returns how many were not applied.
 */
int ct_sysctl_apply(const char *root, const struct kp_sysctl *l, size_t n);

#endif
