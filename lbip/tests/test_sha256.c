// SPDX-License-Identifier: GPL-2.0-or-later
/* lbip/sha256.c against FIPS 180-4's examples and RFC 4231's HMAC vectors. */
#include <stdlib.h>
#include <string.h>

#include "core/test.h"
#include "lbip/sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_hash(const char *msg, size_t n, const char *want)
{
	uint8_t d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];

	sha256(msg, n, d);
	hex(d, sizeof(d), h);
	CHECK_EQ_STR(h, want);
	/* the same bytes fed in two pieces, split everywhere */
	for (size_t cut = 0; cut <= n && n < 200; cut++) {
		struct sha256 c;

		sha256_init(&c);
		sha256_update(&c, msg, cut);
		sha256_update(&c, msg + cut, n - cut);
		sha256_final(&c, d);
		hex(d, sizeof(d), h);
		if (strcmp(h, want)) {
			CHECK_EQ_STR(h, want);
			break;
		}
	}
}

static const struct {
	uint8_t kbyte;			/* key: klen times this byte, or 0 = kstr */
	size_t klen;
	const char *kstr;
	uint8_t dbyte;			/* data: dlen times this byte, or 0 = dstr */
	size_t dlen;
	const char *dstr;
	const char *want;
} hmacs[] = {
	/* RFC 4231 4.2 .. 4.8 (4.6 is truncated output, left out) */
	{ 0x0b, 20, NULL, 0, 0, "Hi There",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ 0, 0, "Jefe", 0, 0, "what do ya want for nothing?",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ 0xaa, 20, NULL, 0xdd, 50, NULL,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ 0, 25, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14"
		 "\x15\x16\x17\x18\x19", 0xcd, 50, NULL,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	{ 0xaa, 131, NULL, 0, 0, "Test Using Larger Than Block-Size Key - Hash Key First",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ 0xaa, 131, NULL, 0, 0, "This is a test using a larger than block-size key and a larger "
	  "than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
};

int main(void)
{
	char *mil;

	check_hash("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_hash("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_hash("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
		   "lmnopqrsmnopqrstnopqrstu", 112,
		   "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	mil = malloc(1000000);
	CHECK(mil != NULL);
	if (mil) {
		memset(mil, 'a', 1000000);
		check_hash(mil, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
		free(mil);
	}

	for (size_t i = 0; i < sizeof(hmacs) / sizeof(hmacs[0]); i++) {
		uint8_t key[200], data[200], mac[SHA256_LEN];
		const void *k = hmacs[i].kstr, *d = hmacs[i].dstr;
		size_t kl = hmacs[i].klen, dl = hmacs[i].dlen;
		char h[2 * SHA256_LEN + 1];

		if (hmacs[i].kbyte) {
			memset(key, hmacs[i].kbyte, kl);
			k = key;
		} else if (!kl) {
			kl = strlen(hmacs[i].kstr);
		}
		if (hmacs[i].dbyte) {
			memset(data, hmacs[i].dbyte, dl);
			d = data;
		} else {
			dl = strlen(hmacs[i].dstr);
		}
		hmac_sha256(k, kl, d, dl, mac);
		hex(mac, sizeof(mac), h);
		CHECK_EQ_STR(h, hmacs[i].want);
	}

	CHECK(sha256_ct_equal("abcd", "abcd", 4));
	CHECK(!sha256_ct_equal("abcd", "abce", 4));
	CHECK(!sha256_ct_equal("xbcd", "abcd", 4));
	return test_done("lbip_sha256");
}
