/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Two desired states for the conntrack tests (proxy/ and src/). */
#ifndef FERRY_PROXY_TESTS_CT_STATES_H
#define FERRY_PROXY_TESTS_CT_STATES_H

#include "core/test.h"
#include "nft/model.h"

#include <netinet/in.h>
#include <string.h>

static inline void addr(struct faddr **l, size_t *n, const char *s)
{
	struct faddr a;

	CHECK_EQ_INT(faddr_parse(&a, s), 0);
	CHECK_EQ_INT(fsvc_add_addr(l, n, &a), 0);
}

static inline void ep(struct fsvc *v, const char *ip, uint16_t port, bool ready, bool serving)
{
	struct fendpoint *e = fsvc_add_ep(v);

	CHECK_EQ_INT(faddr_parse(&e->addr, ip), 0);
	e->port = port;
	e->ready = ready;
	e->serving = serving;
	e->terminating = serving && !ready;
}

/* old: UDP A and D, TCP T; A has a v4 ready endpoint, a v4 one neither
 * ready nor serving, a v6 terminating-but-serving one */
static inline void build_old(struct fstate *s)
{
	struct fsvc *v;

	fstate_init(s);
	v = fstate_add_svc(s, "ns/a:dns/udp");
	v->proto = IPPROTO_UDP;
	v->port = 53;
	v->node_port = 30053;
	addr(&v->cluster_ips, &v->n_cluster_ips, "203.0.113.10");
	addr(&v->cluster_ips, &v->n_cluster_ips, "2001:db8:0:1::10");
	addr(&v->external_ips, &v->n_external_ips, "203.0.113.11");
	ep(v, "198.51.100.1", 5353, true, true);
	ep(v, "198.51.100.2", 5353, false, false);
	ep(v, "2001:db8::1", 5353, false, true);
	v = fstate_add_svc(s, "ns/d:dns/udp");
	v->proto = IPPROTO_UDP;
	v->port = 53;
	addr(&v->cluster_ips, &v->n_cluster_ips, "203.0.113.20");
	ep(v, "198.51.100.3", 5353, true, true);
	v = fstate_add_svc(s, "ns/t:http/tcp");
	v->proto = IPPROTO_TCP;
	v->port = 80;
	addr(&v->cluster_ips, &v->n_cluster_ips, "203.0.113.10");
	fstate_sort(s);
}

static inline const struct fsvc *svc(const struct fstate *s, const char *key)
{
	for (size_t i = 0; i < s->n_svcs; i++)
		if (!strcmp(s->svcs[i].key, key))
			return &s->svcs[i];
	return NULL;
}

/* cur = old without D */
static inline void build_cur(struct fstate *cur, const struct fstate *old)
{
	fstate_init(cur);
	for (size_t i = 0; i < old->n_svcs; i++) {
		if (!strcmp(old->svcs[i].key, "ns/d:dns/udp"))
			continue;
		struct fsvc *v = fstate_add_svc(cur, old->svcs[i].key);

		fsvc_free(v);	/* the fresh entry's key: the copy brings its own */
		CHECK_EQ_INT(fsvc_copy(v, &old->svcs[i]), 0);
	}
	fstate_sort(cur);
}

#endif
