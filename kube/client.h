/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transport: HTTP(S) requests to the API server on libcurl's multi
 * interface, driven by the core loop (libcurl's sockets become loop_io, its
 * timeout a loop_timer). No call blocks and there are no threads. One client
 * keeps its connections alive and, with HTTP/2, multiplexes every request and
 * watch over one connection.
 *
 * Requests pass a client-side rate limiter (token bucket, QPS + burst, as
 * client-go's): requests beyond the burst wait in a queue, in order.
 */
#ifndef FERRY_KUBE_CLIENT_H
#define FERRY_KUBE_CLIENT_H

#include "kube/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct kube_client;
struct kube_req;

struct kube_client_opts {
	double qps;		/* 0: 50, as kube-proxy's default */
	int burst;		/* 0: 100 */
	const char *user_agent;	/* NULL: ferry/VERSION */
	/* Every probe_ms, GET /livez (any HTTP answer counts): a connection
	 * that silently stopped answering shows as unreachable within
	 * probe_ms + its timeout, not when TCP gives up on it. 0: no probe. */
	unsigned probe_ms;
};

/* Takes ownership of *cfg (it is moved, cfg is zeroed). NULL on failure. */
struct kube_client *kube_client_new(struct loop *l, struct kube_config *cfg,
				    const struct kube_client_opts *o);
/* Cancels every request without calling their callbacks. */
void kube_client_free(struct kube_client *c);

struct loop *kube_client_loop(struct kube_client *c);
const char *kube_client_server(const struct kube_client *c);
/* The last request that ended (or the last probe) got an HTTP answer, any
 * status, rather than a transport error; false before the first answer. */
bool kube_client_reachable(const struct kube_client *c);
/* Requests sent and answered since start (for tests and metrics). */
uint64_t kube_client_requests(const struct kube_client *c);

/*
 * The outcome of a request. `status` is the HTTP status, 0 on a transport
 * error (then `err` is a negative errno-style code and `msg` says what
 * failed). `body` holds the response when no data callback was given (NUL
 * terminated, `len` bytes), NULL otherwise.
 */
struct kube_result {
	int status;
	int err;
	const char *msg;
	const char *body;
	size_t len;
};
typedef void (*kube_done_fn)(void *arg, const struct kube_result *r);
/* Streamed body (watches): return 0 to go on, negative to abort the request
 * (done then reports err=-ECANCELED). Called only for 2xx answers; other
 * statuses are buffered and reported to done. */
typedef int (*kube_data_fn)(void *arg, const char *buf, size_t len);

struct kube_req_opts {
	const char *method;		/* NULL: GET */
	const char *content_type;	/* for a body */
	const char *body;		/* copied */
	size_t body_len;
	kube_data_fn data;		/* stream the body instead of buffering */
	long timeout_ms;		/* whole request; 0: 60 s unless streaming */
	bool no_rate_limit;		/* watches: one per informer, long lived */
};

/* Start a request for `path` (e.g. "/api/v1/services?limit=500"). The done
 * callback runs exactly once, from the loop, never from inside this call;
 * the request is freed after it. NULL on allocation failure. */
struct kube_req *kube_request(struct kube_client *c, const char *path,
			      const struct kube_req_opts *o, kube_done_fn done, void *arg);
/* Abort: done is not called. Safe from any callback of this request. */
void kube_request_cancel(struct kube_req *r);

/* Percent-encode a query value (selectors hold '=', ',', '!'). Caller frees. */
char *kube_escape(const char *s);

#endif
