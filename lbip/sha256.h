/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the layer-2
 * heartbeat's authentication. Written here rather than linked from
 * libcrypto so lbip/ keeps no dependency for 150 lines; checked against the
 * FIPS 180-4 examples and the RFC 4231 vectors (lbip/tests/test_sha256.c).
 */
#ifndef FERRY_LBIP_SHA256_H
#define FERRY_LBIP_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_BLOCK 64

struct sha256 {
	uint32_t h[8];
	uint64_t len;			/* bytes hashed so far */
	uint8_t buf[SHA256_BLOCK];
	size_t n;			/* bytes waiting in buf */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *p, size_t n);
void sha256_final(struct sha256 *c, uint8_t out[SHA256_LEN]);
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* HMAC-SHA256 of msg under key (any length; longer than a block is hashed). */
void hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[SHA256_LEN]);

/* Equal without an early exit, so a MAC check leaks no prefix length. */
bool sha256_ct_equal(const void *a, const void *b, size_t n);

#endif
