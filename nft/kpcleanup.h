/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kube-proxy's leftovers, for a node moving to ferry (`ferry cleanup`):
 *
 *   - nftables mode: the tables `ip kube-proxy` and `ip6 kube-proxy`;
 *   - iptables mode through iptables-nft: the KUBE-* chains in the ip/ip6
 *     tables nat, filter and mangle, and the rules of other chains there
 *     that jump or go to them; except kubelet's own KUBE-FIREWALL,
 *     KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT and KUBE-MARK-DROP, which
 *     kube-proxy's cleanup leaves too.
 *
 * One atomic batch (libnftnl): first the referring rules, then every KUBE-*
 * chain is flushed, then deleted, and the kube-proxy tables deleted. Other
 * tables, chains and rules (the operator's, the base chains iptables-nft
 * made) are untouched. iptables-legacy state (x_tables, not nftables) is out
 * of reach of netlink and is not handled.
 */
#ifndef FERRY_NFT_KPCLEANUP_H
#define FERRY_NFT_KPCLEANUP_H

/* Returns the number of objects removed (tables + chains + rules), 0 when
 * there was nothing, or a negative errno (logged, naming the object the
 * kernel refused). Retries when the ruleset changes under it. */
int kp_cleanup(void);

#endif
