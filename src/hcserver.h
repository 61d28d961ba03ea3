/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Service health-check node ports (healthCheckNodePort of LoadBalancer
 * Services with externalTrafficPolicy: Local), on the core loop and
 * core/httpd. Cloud and hardware load balancers probe them, any path: 200
 * when this node has local endpoints and the proxy is healthy, 503
 * otherwise; the bodies are proxy/healthcheck.h's.
 */
#ifndef FERRY_SRC_HCSERVER_H
#define FERRY_SRC_HCSERVER_H

#include "proxy/healthcheck.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

struct hc_want {
	const char *namespace, *name;
	uint16_t port;			/* spec.healthCheckNodePort */
	uint32_t local_endpoints;	/* this node's ready endpoints */
};

struct hc_servers;

/*
 * `binds`: addresses to listen on ("0.0.0.0", "::", "192.0.2.1"), one
 * listener per address and port; NULL or n_binds 0 means every address
 * ("::" dual-stack, or "0.0.0.0" where IPv6 is off), like kube-proxy without
 * nodePortAddresses. `health` (may be NULL: always healthy) gives
 * serviceProxyHealthy. Copies what it needs; NULL on ENOMEM.
 */
struct hc_servers *hc_new(struct loop *l, const char *const *binds, size_t n_binds,
			  const struct hc_health *health);
void hc_free(struct hc_servers *s);

/*
 * Serve exactly `want`: listeners of services no longer wanted (or whose
 * port changed) close, new ones open, counts update in place without
 * reopening. A port that cannot be opened is logged and retried on the next
 * call. Returns 0, or the first negative errno of a listener that failed.
 */
int hc_sync(struct hc_servers *s, const struct hc_want *want, size_t n);

/*
 * Listen on other addresses from now on: `every` (binds ignored) as hc_new
 * without binds, else exactly `binds` (none when n is 0: kube-proxy's
 * nodePortAddresses matching no address of the node). When they differ
 * every listener closes; the next hc_sync opens them again. 0 or -ENOMEM
 * (then nothing changed).
 */
int hc_set_binds(struct hc_servers *s, const char *const *binds, size_t n, bool every);

/* For tests and `ferry status`: services served, and a service's state. */
size_t hc_count(const struct hc_servers *s);
/* Local port actually bound (the first listener); -1 when not served. */
int hc_port(const struct hc_servers *s, const char *namespace, const char *name);

#endif
