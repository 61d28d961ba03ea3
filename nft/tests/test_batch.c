/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nl_ext_ack_msg: the kernel's text in crafted NLMSG_ERROR messages, capped
 * (NETLINK_CAP_ACK, as ferry asks) and with the refused message copied. */
#include "nft/internal.h"
#include "core/test.h"

#include <libmnl/libmnl.h>
#include <string.h>

/* An error for a refused message with `payload_len` bytes of payload;
 * `msg` (if not NULL) as NLMSGERR_ATTR_MSG. */
static struct nlmsghdr *craft(char *buf, bool capped, size_t payload_len, const char *msg)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_seq = 7;
	struct nlmsgerr *e = mnl_nlmsg_put_extra_header(h, sizeof(*e));
	e->error = -EINVAL;
	e->msg.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + payload_len);
	e->msg.nlmsg_type = 0xa06;	/* NFT_MSG_NEWSETELEM */
	e->msg.nlmsg_seq = 7;
	if (capped) {
		h->nlmsg_flags |= NLM_F_CAPPED;
	} else {
		char *p = mnl_nlmsg_put_extra_header(h, payload_len);	/* zeroed, aligned */
		memset(p, 0xaa, payload_len);	/* looks like attributes only by accident */
	}
	if (msg) {
		h->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_u32(h, NLMSGERR_ATTR_OFFS, 20);
		mnl_attr_put_strz(h, NLMSGERR_ATTR_MSG, msg);
	}
	return h;
}

int main(void)
{
	char buf[1024] __attribute__((aligned(4)));
	const char *m;

	memset(buf, 0, sizeof(buf));
	m = nl_ext_ack_msg(craft(buf, true, 40, "Set element exists"));
	CHECK(m && !strcmp(m, "Set element exists"));

	memset(buf, 0, sizeof(buf));
	m = nl_ext_ack_msg(craft(buf, false, 40, "Could not process rule"));
	CHECK(m && !strcmp(m, "Could not process rule"));

	memset(buf, 0, sizeof(buf));
	CHECK(nl_ext_ack_msg(craft(buf, true, 40, NULL)) == NULL);

	/* A copied message longer than the error itself: no reading past it. */
	memset(buf, 0, sizeof(buf));
	struct nlmsghdr *h = craft(buf, true, 40, "x");
	h->nlmsg_flags &= (uint16_t)~NLM_F_CAPPED;
	CHECK(nl_ext_ack_msg(h) == NULL);

	/* The text not NUL-terminated inside its attribute: refused. */
	memset(buf, 0, sizeof(buf));
	h = craft(buf, true, 40, "abcd");
	struct nlattr *last = (struct nlattr *)((char *)h + h->nlmsg_len - MNL_ALIGN(5 + 4));
	CHECK(mnl_attr_get_type(last) == NLMSGERR_ATTR_MSG);
	memset((char *)last + 4, 'z', 5);
	CHECK(nl_ext_ack_msg(h) == NULL);
	return test_done("nft_batch");
}
