/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "src/ctclean.h"
#include "core/log.h"
#include "core/loop.h"
#include "nft/conntrack.h"
#include "proxy/ctsync.h"
#include "proxy/kpmetrics.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int ct_clean(const struct fstate *old, const struct fstate *cur, struct kp_metrics *m)
{
	struct proxy_ct c;
	int total = 0, rc;

	if (!proxy_ct_needed(old, cur))
		return 0;
	rc = proxy_ct_build(old, cur, &c);
	for (int k = 0; k < 2 && !rc; k++) {
		uint64_t t0 = loop_now_us();

		if (!c.n[k])
			continue;
		rc = ct_reconcile(c.f[k], c.n[k]);
		if (rc < 0)
			break;
		if (m)
			kp_metrics_conntrack(m, k ? AF_INET6 : AF_INET, (loop_now_us() - t0) / 1e6, rc);
		total += rc;
		rc = 0;
	}
	proxy_ct_free(&c);
	if (rc < 0) {
		log_err("proxy", "conntrack reconcile failed", "err=%s", log_q(strerror(-rc)));
		return rc;
	}
	if (total)
		log_v(2, "proxy", "stale UDP conntrack entries deleted", "entries=%d", total);
	return total;
}
