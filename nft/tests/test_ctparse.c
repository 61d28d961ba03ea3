/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ctnetlink dump parser on the seeds fuzz/gen_ctnetlink_corpus.py
 * writes (byte 0: the family; then the kernel's reply): which entries match,
 * and that malformed entries are skipped, not matched.
 */
#include "nft/conntrack.h"
#include "core/file.h"
#include "core/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *dir;

static int hits(const char *seed, int family, const struct ct_match *m, size_t n)
{
	char path[512];
	char *data;
	size_t len;
	void *buf;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, seed);
	if (file_read(path, 1 << 16, &data, &len) < 0 || len < 1) {
		CHECK(!"seed readable");
		return -1;
	}
	buf = malloc(len);
	memcpy(buf, data + 1, len - 1);
	rc = ct_parse_dump(buf, len - 1, family, m, n);
	free(buf);
	free(data);
	return rc;
}

int main(int argc, char **argv)
{
	struct ct_match svc, ep, np, np_ep, v6;

	dir = argc > 1 ? argv[1] : "fuzz/corpus/ctnetlink";
	ct_match_service(&svc, "198.19.0.10", 53);
	ct_match_endpoint(&ep, NULL, 0, "198.18.1.6", 53);
	ct_match_nodeport(&np, AF_INET, 30053, NULL, 0);
	ct_match_nodeport(&np_ep, AF_INET, 30053, "198.18.1.5", 0);
	ct_match_service(&v6, "2001:db8:5e::10", 53);

	/* UDP to the Service IP, not the TCP entry to the same address */
	CHECK_EQ_INT(hits("v4-service-endpoint-nodeport", AF_INET, &svc, 1), 1);
	/* the NodePort entry by its DNAT'ed endpoint (reply source) */
	CHECK_EQ_INT(hits("v4-service-endpoint-nodeport", AF_INET, &ep, 1), 1);
	CHECK_EQ_INT(hits("v4-service-endpoint-nodeport", AF_INET, &np, 1), 1);
	/* NodePort and endpoint together: that entry went to .6, not .5 */
	CHECK_EQ_INT(hits("v4-service-endpoint-nodeport", AF_INET, &np_ep, 1), 0);
	CHECK_EQ_INT(hits("v6-entry", AF_INET6, &v6, 1), 1);
	/* 4-byte addresses in an IPv6 dump: not an entry */
	CHECK_EQ_INT(hits("v4-entry-in-v6-dump", AF_INET6, &v6, 1), 0);
	/* malformed: never a match, never a crash */
	CHECK(hits("truncated-entry", AF_INET, &svc, 1) <= 0);
	CHECK(hits("short-address", AF_INET, &svc, 1) <= 0);
	CHECK(hits("nested-garbage", AF_INET, &svc, 1) <= 0);
	return test_done("test_nft_ctparse");
}
