/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy_ct_needed/proxy_ct_build on states built in memory (the sends are
 * src/tests/test_ctclean.c's).
 */
#include "core/test.h"
#include "nft/model.h"
#include "proxy/ctsync.h"
#include "proxy/tests/ct_states.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void test_needed_and_build(void)
{
	struct fstate old, cur, same;
	struct proxy_ct c;

	build_old(&old);
	build_old(&same);
	CHECK(!proxy_ct_needed(&old, &same));
	CHECK(!proxy_ct_needed(NULL, NULL));
	/* only TCP changed: nothing to do */
	((struct fsvc *)svc(&same, "ns/t:http/tcp"))->port = 8080;
	CHECK(!proxy_ct_needed(&old, &same));
	/* a UDP endpoint changed */
	((struct fsvc *)svc(&same, "ns/a:dns/udp"))->eps[1].ready = true;
	CHECK(proxy_ct_needed(&old, &same));
	CHECK(proxy_ct_needed(NULL, &old));
	CHECK(proxy_ct_needed(&old, NULL));
	build_cur(&cur, &old);
	CHECK_EQ_INT(cur.n_svcs, 2);
	CHECK(proxy_ct_needed(&old, &cur));	/* D went */

	CHECK_EQ_INT(proxy_ct_build(&old, &cur, &c), 0);
	/* IPv4: A's cluster IP, external IP, NodePort; D's cluster IP */
	CHECK_EQ_INT(c.n[0], 4);
	/* IPv6: A's cluster IP and NodePort (its endpoint is serving) */
	CHECK_EQ_INT(c.n[1], 2);
	if (c.n[0] == 4 && c.n[1] == 2) {
		uint8_t a10[4] = { 203, 0, 113, 10 }, a11[4] = { 203, 0, 113, 11 }, a20[4] = { 203, 0, 113, 20 };
		uint8_t e1[4] = { 198, 51, 100, 1 };

		CHECK(!memcmp(c.f[0][0].addr, a10, 4) && c.f[0][0].port == 53 && !c.f[0][0].node_port);
		CHECK(!memcmp(c.f[0][1].addr, a11, 4) && c.f[0][1].port == 53);
		CHECK(c.f[0][2].node_port && c.f[0][2].port == 30053);
		for (int i = 0; i < 3; i++) {
			CHECK_EQ_INT(c.f[0][i].n_serving, 1);
			CHECK(c.f[0][i].serving && !memcmp(c.f[0][i].serving[0].addr, e1, 4) &&
			      c.f[0][i].serving[0].port == 5353);
		}
		CHECK(!memcmp(c.f[0][3].addr, a20, 4) && c.f[0][3].n_serving == 0 && !c.f[0][3].serving);
		CHECK_EQ_INT(c.f[1][0].family, AF_INET6);
		CHECK_EQ_INT(c.f[1][0].n_serving, 1);
		CHECK(c.f[1][1].node_port && c.f[1][1].n_serving == 1);
		CHECK_EQ_INT(c.f[1][1].serving[0].addr[15], 1);
	}
	proxy_ct_free(&c);
	fstate_free(&old);
	fstate_free(&same);
	fstate_free(&cur);
}

int main(void)
{
	test_needed_and_build();
	return test_done("proxy_ctsync");
}
