/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lbip/svcindex.c: a pass's Services by namespace/name, plain data. */
#include "core/test.h"
#include "lbip/range.h"
#include "lbip/svcindex.h"

#include <arpa/inet.h>
#include <stdlib.h>

/* a speaker's entry: the shared part first, its own after */
struct my {
	struct lb_svc_entry e;
	int mine;
};

static void test_ingress(void)
{
	struct kube_lb_ingress ing[] = { { .hostname = "x.example" }, { .ip = "192.0.2.1" },
					 { .ip = "not an ip" }, { .ip = "2001:db8::1" },
					 { .ip = "192.0.2.9" } };
	struct kube_service svc = { .lb_ingress = ing, .n_lb_ingress = 5 };
	struct lb_addr ips[2], want;

	CHECK_EQ_INT(lb_svc_ingress_ips(&svc, ips), 2);
	lb_addr_parse("192.0.2.1", &want);
	CHECK(!lb_addr_cmp(&ips[0], &want));
	lb_addr_parse("2001:db8::1", &want);
	CHECK(!lb_addr_cmp(&ips[1], &want));
	svc.n_lb_ingress = 1;
	CHECK_EQ_INT(lb_svc_ingress_ips(&svc, ips), 0);
	CHECK_EQ_INT(lb_svc_ingress_ips(NULL, ips), 0);
}

static void test_index(void)
{
	struct lb_svc_index x = { 0 };
	const char *ns[] = { "shop", "shop", "a/b", "a" };
	const char *name[] = { "web", "db", "c", "b/c" };

	CHECK(!lb_svc_index_find(&x, "shop", "web"));
	for (int i = 0; i < 4; i++) {
		struct my *m = calloc(1, sizeof(*m));

		m->mine = i;
		CHECK_EQ_INT(lb_svc_index_add(&x, &m->e, ns[i], name[i]), 0);
	}
	CHECK_EQ_INT(x.list.n, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(container_of(x.list.v[i], struct my, e)->mine, i);	/* added order */
	CHECK_EQ_STR(x.list.v[0]->key, "shop/web");
	CHECK_EQ_INT(container_of(lb_svc_index_find(&x, "shop", "db"), struct my, e)->mine, 1);
	/* the key is the joined string: "a/b"+"c" and "a"+"b/c" cannot be told
	 * apart (neither can be a real name: a slash is not allowed in one) */
	CHECK(lb_svc_index_find(&x, "a/b", "c") != NULL);
	CHECK(!lb_svc_index_find(&x, "shop", "cache"));
	CHECK(!lb_svc_index_find(&x, "web", "shop"));
	lb_svc_index_free(&x);
	CHECK_EQ_INT(x.list.n, 0);
	CHECK(!lb_svc_index_find(&x, "shop", "web"));
}

static void test_pool_of(void)
{
	struct lb_range r[3];
	char err[64];
	struct lb_pool pools[2] = { { .name = "v4", .ranges = r, .n_ranges = 2 },
				    { .name = "v6", .ranges = r + 2, .n_ranges = 1 } };
	struct lb_config cfg = { .pools = pools, .n_pools = 2 };
	struct lb_addr a;

	CHECK_EQ_INT(lb_range_parse("192.0.2.0/28", &r[0], err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_parse("198.51.100.10-198.51.100.20", &r[1], err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_parse("2001:db8::/120", &r[2], err, sizeof(err)), 0);
	lb_addr_parse("198.51.100.20", &a);
	CHECK(lb_pool_of(&cfg, &a) == &pools[0]);
	lb_addr_parse("198.51.100.21", &a);
	CHECK(!lb_pool_of(&cfg, &a));
	lb_addr_parse("2001:db8::ff", &a);
	CHECK(lb_pool_of(&cfg, &a) == &pools[1]);
	CHECK(!lb_pool_of(NULL, &a));
}

static void test_sockaddr(void)
{
	struct sockaddr_storage ss;
	struct lb_addr a, b;

	lb_addr_parse("192.0.2.7", &a);
	CHECK_EQ_INT(lb_addr_to_sockaddr(&a, 179, &ss), sizeof(struct sockaddr_in));
	CHECK_EQ_INT(ss.ss_family, AF_INET);
	CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 179);
	lb_addr_from_sockaddr((struct sockaddr *)&ss, &b);
	CHECK(!lb_addr_cmp(&a, &b));
	lb_addr_parse("2001:db8::7", &a);
	CHECK_EQ_INT(lb_addr_to_sockaddr(&a, 0, &ss), sizeof(struct sockaddr_in6));
	CHECK_EQ_INT(ss.ss_family, AF_INET6);
	lb_addr_from_sockaddr((struct sockaddr *)&ss, &b);
	CHECK(!lb_addr_cmp(&a, &b));
	lb_addr_from_sockaddr(NULL, &b);
	CHECK_EQ_INT(b.family, 0);
	ss.ss_family = AF_UNIX;
	lb_addr_from_sockaddr((struct sockaddr *)&ss, &b);
	CHECK_EQ_INT(b.family, 0);
}

int main(void)
{
	test_ingress();
	test_index();
	test_pool_of();
	test_sockaddr();
	return test_done("lbip_svcindex");
}
