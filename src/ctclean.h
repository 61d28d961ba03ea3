/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stale UDP conntrack entries after a sync: sends what proxy/ctsync.h
 * computed, over nft/conntrack.h, and records the kube-proxy metrics.
 */
#ifndef FERRY_SRC_CTCLEAN_H
#define FERRY_SRC_CTCLEAN_H

struct fstate;
struct kp_metrics;

/*
 * After a successful sync from `old` (what the kernel held) to `cur`: when
 * proxy_ct_needed, reconcile both families and record
 * kubeproxy_conntrack_reconciler_* in `m` (may be NULL). Returns the
 * entries deleted (0 when not needed) or a negative errno (logged).
 */
int ct_clean(const struct fstate *old, const struct fstate *cur, struct kp_metrics *m);

#endif
