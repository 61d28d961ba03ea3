/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Netlink frames checked before libmnl walks them: its mnl_nlmsg_ok()
 * compares a length of 2^31 or more as negative and walks off the buffer
 * (found by fuzz/ctnetlink). One check, for every netlink reader.
 */
#ifndef FERRY_CORE_NLFRAME_H
#define FERRY_CORE_NLFRAME_H

#include <stdbool.h>
#include <stddef.h>

/* Every message header in buf[0..len) lies inside it, each at least a
 * header long; a trailing piece shorter than a header is allowed (libmnl
 * stops there). */
bool nl_frames_ok(const void *buf, size_t len);

/* -errno after a failed mnl_cb_run(). libmnl copies an NLMSG_ERROR's code
 * into errno as it came, so a hostile message can leave INT_MIN there
 * (negating it overflows; found by fuzz/ctnetlink) or a non-errno: those
 * are -EPROTO. */
int nl_errno(void);

#endif
