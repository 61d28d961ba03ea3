/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libcurl multi on the core loop.
 *
 * libcurl tells us which sockets to watch (socket callback) and when to call
 * it back (timer callback); we turn those into loop_io and one loop_timer
 * and call curl_multi_socket_action() when they fire. Finished transfers are
 * collected with curl_multi_info_read() after each action, outside libcurl's
 * callbacks, so user callbacks may start or cancel requests freely.
 *
 * One hazard: libcurl closes sockets inside curl_multi_socket_action(), and
 * the loop may already hold an epoll event for such a socket in the batch it
 * is dispatching. A socket record is therefore never freed at once: it is
 * marked dead (its events are ignored) and reaped two timer rounds later,
 * when no batch can still point at it.
 */
#include "kube/client.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/vec.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BODY (256u << 20)	/* a list page or an error body; lists are paged */
#define MAX_ERR_BODY (1u << 20)

struct sock {
	struct loop_io io;
	struct kube_client *c;
	bool dead;
	struct sock *next;	/* graveyard */
};

struct kube_req {
	struct kube_client *c;
	struct kube_req *prev, *next;	/* queue or active list */
	CURL *easy;
	struct curl_slist *hdrs;
	char *url, *body;
	size_t body_len;
	char *method, *content_type;
	kube_done_fn done;
	kube_data_fn data;
	void *arg;
	long timeout_ms;
	bool no_rate_limit, active, cancelled, streaming, aborted, too_big;
	char *buf;
	size_t len, cap;
	char errbuf[CURL_ERROR_SIZE];
};

struct list {
	struct kube_req *head, *tail;
};

struct kube_client {
	struct loop *loop;
	struct kube_config cfg;
	char *user_agent;
	CURLM *multi;
	struct loop_timer curl_timer, pump_timer, reap_timer;
	struct list queue, active;
	double qps, tokens;
	int burst;
	uint64_t tokens_at_us;
	int in_curl;			/* >0 inside curl_multi_* calls */
	struct sock *grave_new, *grave_old;
	bool reachable;
	uint64_t requests;
	unsigned probe_ms;
	struct loop_timer probe_timer;
	struct kube_req *probe;		/* in flight */
};

static void list_add(struct list *l, struct kube_req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_del(struct list *l, struct kube_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

static void req_free(struct kube_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->url);
	free(r->body);
	free(r->method);
	free(r->content_type);
	free(r->buf);
	free(r);
}

/* ---- sockets and timers for libcurl ---- */

static void after_action(struct kube_client *c);

static void sock_event(struct loop_io *io, uint32_t events)
{
	struct sock *s = io->arg;
	struct kube_client *c = s->c;
	int mask = 0, running;

	if (s->dead)
		return;	/* a stale event for a socket libcurl already closed */
	if (events & (EPOLLIN | EPOLLHUP))
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		mask |= CURL_CSELECT_ERR;
	c->in_curl++;
	curl_multi_socket_action(c->multi, io->fd, mask, &running);
	c->in_curl--;
	after_action(c);
}

static void reap(struct loop_timer *t)
{
	struct kube_client *c = t->arg;

	while (c->grave_old) {
		struct sock *s = c->grave_old;

		c->grave_old = s->next;
		free(s);
	}
	c->grave_old = c->grave_new;
	c->grave_new = NULL;
	/* 1 ms, not 0: a re-armed timer must not fire in the same round */
	if (c->grave_old)
		loop_timer_arm(c->loop, &c->reap_timer, 1);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct kube_client *c = userp;
	struct sock *s = socketp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			loop_io_del(c->loop, &s->io);
			s->dead = true;
			s->next = c->grave_new;
			c->grave_new = s;
			if (!loop_timer_armed(&c->reap_timer))
				loop_timer_arm(c->loop, &c->reap_timer, 1);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (!s) {
		int rc;

		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->c = c;
		rc = loop_io_add(c->loop, &s->io, fd, ev, sock_event, s);
		if (rc < 0) {
			log_err("kube", "cannot watch a socket", "fd=%d err=%s", fd, log_q(strerror(-rc)));
			free(s);
			return -1;
		}
		curl_multi_assign(c->multi, fd, s);
	} else if (loop_io_mod(c->loop, &s->io, ev) == -ENOENT) {
		/* the fd was closed and reused without a REMOVE first: watch it anew */
		s->io.added = false;
		if (loop_io_add(c->loop, &s->io, fd, ev, sock_event, s) < 0)
			return -1;
	}
	return 0;
}

static void curl_timer_fire(struct loop_timer *t)
{
	struct kube_client *c = t->arg;
	int running;

	c->in_curl++;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	c->in_curl--;
	after_action(c);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct kube_client *c = userp;

	if (timeout_ms < 0)
		loop_timer_cancel(c->loop, &c->curl_timer);
	else
		loop_timer_arm(c->loop, &c->curl_timer, (uint64_t)timeout_ms);
	return 0;
}

/* Find dead connections in about half a minute (api cut, a vanished node),
 * far sooner than the kernel's defaults. */
static int on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	int cnt = 3;
	unsigned int user_timeout = 30000;

	if (purpose == CURLSOCKTYPE_IPCXN) {
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	}
	return CURL_SOCKOPT_OK;
}

/* ---- request bodies ---- */

static bool buf_add(struct kube_req *r, const char *p, size_t n, size_t max)
{
	if (r->len + n > max) {
		r->too_big = true;
		return false;
	}
	if (vec_grow((void **)&r->buf, &r->cap, r->len + n + 1, 1))
		return false;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = 0;
	return true;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct kube_req *r = arg;
	size_t n = size * nmemb;
	long status = 0;

	if (r->cancelled)
		return 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->data && status >= 200 && status < 300) {
		r->streaming = true;
		if (r->data(r->arg, p, n) < 0) {
			r->aborted = true;
			return 0;
		}
		return n;
	}
	return buf_add(r, p, n, r->data || status >= 300 ? MAX_ERR_BODY : MAX_BODY) ? n : 0;
}

/* ---- the rate limiter ---- */

static void refill(struct kube_client *c)
{
	uint64_t now = loop_now_us();

	c->tokens += (now - c->tokens_at_us) / 1e6 * c->qps;
	if (c->tokens > c->burst)
		c->tokens = c->burst;
	c->tokens_at_us = now;
}

static int start(struct kube_client *c, struct kube_req *r);
static void finish(struct kube_client *c, struct kube_req *r, int status, int err, const char *msg);

/* Start what the limiter allows; unlimited requests (watches) never wait. */
static void pump(struct loop_timer *t)
{
	struct kube_client *c = t->arg;
	struct kube_req *r = c->queue.head, *next;

	refill(c);
	for (; r; r = next) {
		next = r->next;
		if (!r->no_rate_limit) {
			if (c->tokens < 1)
				continue;
			c->tokens -= 1;
		}
		list_del(&c->queue, r);
		if (start(c, r) < 0) {
			finish(c, r, 0, -EIO, r->errbuf[0] ? r->errbuf : "cannot start the request");
			next = c->queue.head;	/* the callback may have changed the queue */
		}
	}
	if (c->queue.head)
		loop_timer_arm(c->loop, &c->pump_timer,
			       (uint64_t)((1 - c->tokens) / c->qps * 1000) + 1);
}

/* ---- requests ---- */

static int start(struct kube_client *c, struct kube_req *r)
{
	const char *tok = kube_config_token(&c->cfg);
	char *auth = NULL;
	CURL *e;

	r->easy = e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);	/* wait to multiplex rather than open another connection */
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 15L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 5L);
	curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (r->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	if (c->cfg.insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (c->cfg.ca_data.data) {
		struct curl_blob b = { c->cfg.ca_data.data, c->cfg.ca_data.len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else if (c->cfg.ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg.ca_file);
	}
	if (c->cfg.cert_data.data) {
		struct curl_blob b = { c->cfg.cert_data.data, c->cfg.cert_data.len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cfg.cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cfg.cert_file);
	}
	if (c->cfg.key_data.data) {
		struct curl_blob b = { c->cfg.key_data.data, c->cfg.key_data.len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->cfg.key_file) {
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->cfg.key_file);
	}
	r->hdrs = curl_slist_append(r->hdrs, "Accept: application/json");
	if (tok && asprintf(&auth, "Authorization: Bearer %s", tok) >= 0) {
		r->hdrs = curl_slist_append(r->hdrs, auth);
		free(auth);
	}
	if (r->body) {
		char *ct = NULL;

		if (asprintf(&ct, "Content-Type: %s", r->content_type ? r->content_type : "application/json") >= 0) {
			r->hdrs = curl_slist_append(r->hdrs, ct);
			free(ct);
		}
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
	}
	if (r->method && strcmp(r->method, "GET"))
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		return -EIO;
	r->active = true;
	list_add(&c->active, r);
	return 0;
}

static void finish(struct kube_client *c, struct kube_req *r, int status, int err, const char *msg)
{
	struct kube_result res = {
		.status = status, .err = err, .msg = msg,
		.body = r->streaming ? NULL : (r->buf ? r->buf : ""),
		.len = r->streaming ? 0 : r->len,
	};

	if (r->active) {
		curl_multi_remove_handle(c->multi, r->easy);
		list_del(&c->active, r);
		r->active = false;
	}
	if (!r->cancelled && r->done)
		r->done(r->arg, &res);
	req_free(r);
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR: return -ECANCELED;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	default: return -EIO;
	}
}

/* Collect finished transfers, outside libcurl's callbacks. */
static void after_action(struct kube_client *c)
{
	CURLMsg *m;
	int left;

	if (c->in_curl)
		return;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct kube_req *r = NULL;
		long status = 0;
		CURLcode rc;

		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK) {
			c->reachable = true;
			c->requests++;
			finish(c, r, (int)status, 0, NULL);
		} else if (r->aborted || r->cancelled) {
			finish(c, r, 0, -ECANCELED, "aborted by the receiver");
		} else if (r->too_big) {
			finish(c, r, 0, -EFBIG, "response too large");
		} else {
			const char *msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);

			/* a watch that had answered and then died (a timeout, a
			 * reset) says the server is gone now */
			c->reachable = false;
			finish(c, r, 0, curl_errno(rc), msg);
		}
	}
	/* requests cancelled from inside libcurl's callbacks */
	for (struct kube_req *r = c->active.head, *next; r; r = next) {
		next = r->next;
		if (r->cancelled)
			finish(c, r, 0, -ECANCELED, NULL);
	}
}

struct kube_req *kube_request(struct kube_client *c, const char *path,
			      const struct kube_req_opts *o, kube_done_fn done, void *arg)
{
	static const struct kube_req_opts none;
	struct kube_req *r = calloc(1, sizeof(*r));

	if (!o)
		o = &none;
	if (!r)
		return NULL;
	r->c = c;
	r->done = done;
	r->data = o->data;
	r->arg = arg;
	r->no_rate_limit = o->no_rate_limit;
	r->timeout_ms = o->timeout_ms ? o->timeout_ms : (o->data ? 0 : 60000);
	if (asprintf(&r->url, "%s%s", c->cfg.server, path) < 0) {
		r->url = NULL;
		req_free(r);
		return NULL;
	}
	if ((o->method && !(r->method = strdup(o->method))) ||
	    (o->content_type && !(r->content_type = strdup(o->content_type)))) {
		req_free(r);
		return NULL;
	}
	if (o->body) {
		r->body = malloc(o->body_len + 1);
		if (!r->body) {
			req_free(r);
			return NULL;
		}
		memcpy(r->body, o->body, o->body_len);
		r->body[o->body_len] = 0;
		r->body_len = o->body_len;
	}
	log_v(4, "kube", "request", "method=%s path=%s", o->method ? o->method : "GET", log_q(path));
	list_add(&c->queue, r);
	/* started from the loop, so done never runs inside this call */
	if (!loop_timer_armed(&c->pump_timer))
		loop_timer_arm(c->loop, &c->pump_timer, 0);
	return r;
}

void kube_request_cancel(struct kube_req *r)
{
	struct kube_client *c;

	if (!r)
		return;
	c = r->c;
	r->cancelled = true;
	if (!r->active) {
		list_del(&c->queue, r);
		req_free(r);
	} else if (!c->in_curl) {
		finish(c, r, 0, -ECANCELED, NULL);
	}
	/* else: inside libcurl; on_write refuses more data and after_action
	 * removes it */
}

/* ---- the reachability probe ---- */

#define PROBE_TIMEOUT_MS 5000

static void probe_done(void *arg, const struct kube_result *r)
{
	struct kube_client *c = arg;
	bool was = c->reachable;

	c->probe = NULL;
	c->reachable = r->status > 0;
	if (was != c->reachable)
		log_info("kube", c->reachable ? "API server answers again" : "API server does not answer",
			 "server=%s probe=/livez err=%s", log_q(c->cfg.server),
			 log_q(r->status > 0 ? "-" : r->msg ? r->msg : "?"));
}

static void probe_fire(struct loop_timer *t)
{
	struct kube_client *c = t->arg;
	struct kube_req_opts o = { .no_rate_limit = true,
		.timeout_ms = c->probe_ms / 2 < PROBE_TIMEOUT_MS ? c->probe_ms / 2 : PROBE_TIMEOUT_MS };

	loop_timer_arm(c->loop, &c->probe_timer, c->probe_ms);
	if (!c->probe)
		c->probe = kube_request(c, "/livez", &o, probe_done, c);
}

struct kube_client *kube_client_new(struct loop *l, struct kube_config *cfg,
				    const struct kube_client_opts *o)
{
	static bool global_done;
	struct kube_client *c;
	curl_version_info_data *vi;

	if (!cfg->server) {
		log_err("kube", "no API server address", "source=%s", log_q(cfg->source ? cfg->source : "?"));
		return NULL;
	}
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		global_done = true;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = l;
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	c->qps = o && o->qps > 0 ? o->qps : 50;
	c->burst = o && o->burst > 0 ? o->burst : 100;
	c->tokens = c->burst;
	c->tokens_at_us = loop_now_us();
	if (asprintf(&c->user_agent, "%s", o && o->user_agent ? o->user_agent : "ferry/" FERRY_VERSION) < 0)
		c->user_agent = NULL;
	c->multi = curl_multi_init();
	if (!c->multi || !c->user_agent) {
		kube_client_free(c);
		return NULL;
	}
	loop_timer_init(&c->curl_timer, curl_timer_fire, c);
	loop_timer_init(&c->pump_timer, pump, c);
	loop_timer_init(&c->reap_timer, reap, c);
	loop_timer_init(&c->probe_timer, probe_fire, c);
	if ((c->probe_ms = o ? o->probe_ms : 0))
		loop_timer_arm(l, &c->probe_timer, c->probe_ms);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	vi = curl_version_info(CURLVERSION_NOW);
	log_info("kube", "client ready", "server=%s source=%s http2=%s qps=%g burst=%d",
		 log_q(c->cfg.server), log_q(c->cfg.source ? c->cfg.source : "-"),
		 vi->features & CURL_VERSION_HTTP2 ? "yes" : "no", c->qps, c->burst);
	return c;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	loop_timer_cancel(c->loop, &c->probe_timer);
	while (c->queue.head) {
		struct kube_req *r = c->queue.head;

		list_del(&c->queue, r);
		req_free(r);
	}
	while (c->active.head) {
		struct kube_req *r = c->active.head;

		r->cancelled = true;
		finish(c, r, 0, -ECANCELED, NULL);
	}
	if (c->loop) {
		loop_timer_cancel(c->loop, &c->curl_timer);
		loop_timer_cancel(c->loop, &c->pump_timer);
		loop_timer_cancel(c->loop, &c->reap_timer);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);	/* may call on_socket REMOVE */
	for (int i = 0; i < 2; i++) {
		struct sock **g = i ? &c->grave_old : &c->grave_new;

		while (*g) {
			struct sock *s = *g;

			*g = s->next;
			free(s);
		}
	}
	kube_config_free(&c->cfg);
	free(c->user_agent);
	free(c);
}

struct loop *kube_client_loop(struct kube_client *c) { return c->loop; }
const char *kube_client_server(const struct kube_client *c) { return c->cfg.server; }
bool kube_client_reachable(const struct kube_client *c) { return c->reachable; }
uint64_t kube_client_requests(const struct kube_client *c) { return c->requests; }

char *kube_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = malloc(strlen(s) * 3 + 1), *p = o;

	if (!o)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = 0;
	return o;
}
