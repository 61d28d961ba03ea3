/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/loop.h"
#include "core/log.h"
#include "core/vec.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIGNALS 8

struct sig_handler {
	int signo;
	loop_signal_fn fn;
	void *arg;
};

struct loop {
	int epfd;
	bool stop;
	/* the events being dispatched: loop_io_del() clears an io's pending
	 * ones, so a callback may free another io of the same batch */
	struct epoll_event *batch;
	int batch_n;

	/* Timers: a binary min-heap by due time, the earliest one armed in timerfd. */
	struct loop_io timer_io;
	struct loop_timer **heap;
	int heap_len;
	size_t heap_cap;
	uint64_t timerfd_due;	/* what timerfd is set to; 0 = disarmed */

	struct loop_io sig_io;
	sigset_t sigs;
	struct sig_handler handlers[MAX_SIGNALS];
	int n_handlers;
};

uint64_t loop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + ts.tv_nsec / 1000;
}

uint64_t loop_now_ms(void) { return loop_now_us() / 1000; }

/* ---- file descriptors ---- */

int loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t events,
		loop_io_fn fn, void *arg)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	io->fd = fd;
	io->events = events;
	io->fn = fn;
	io->arg = arg;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	io->added = true;
	return 0;
}

int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (io->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void loop_io_del(struct loop *l, struct loop_io *io)
{
	if (!io->added)
		return;
	/* The fd may already be closed by its owner (libcurl does that); ignore. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->added = false;
	for (int i = 0; i < l->batch_n; i++)
		if (l->batch[i].data.ptr == io)
			l->batch[i].data.ptr = NULL;
}

/* ---- timers ---- */

static void heap_swap(struct loop *l, int a, int b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_idx = a;
	l->heap[b]->heap_idx = b;
}

static void heap_up(struct loop *l, int i)
{
	while (i > 0) {
		int p = (i - 1) / 2;

		if (l->heap[p]->due_ms <= l->heap[i]->due_ms)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void heap_down(struct loop *l, int i)
{
	for (;;) {
		int c = 2 * i + 1, m = i;

		if (c < l->heap_len && l->heap[c]->due_ms < l->heap[m]->due_ms)
			m = c;
		if (c + 1 < l->heap_len && l->heap[c + 1]->due_ms < l->heap[m]->due_ms)
			m = c + 1;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	int i = t->heap_idx, last = l->heap_len - 1;

	if (i != last) {
		heap_swap(l, i, last);
		l->heap_len--;
		heap_down(l, i);
		heap_up(l, i);
	} else {
		l->heap_len--;
	}
	t->heap_idx = -1;
}

/* Point the timerfd at the earliest timer, if that changed. */
static void timerfd_update(struct loop *l)
{
	uint64_t due = l->heap_len ? l->heap[0]->due_ms : 0;
	struct itimerspec its = { 0 };

	if (due == l->timerfd_due)
		return;
	if (due) {
		/* absolute; a due time in the past fires at once */
		its.it_value.tv_sec = due / 1000;
		its.it_value.tv_nsec = (due % 1000) * 1000000;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(l->timer_io.fd, TFD_TIMER_ABSTIME, &its, NULL);
	l->timerfd_due = due;
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->due_ms = 0;
	t->heap_idx = -1;
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms)
{
	if (t->heap_idx >= 0)
		heap_remove(l, t);
	if (vec_grow((void **)&l->heap, &l->heap_cap, (size_t)l->heap_len + 1, sizeof(*l->heap)))
		abort();	/* out of memory for a timer: nothing sane to do */
	t->due_ms = loop_now_ms() + after_ms;
	t->heap_idx = l->heap_len;
	l->heap[l->heap_len++] = t;
	heap_up(l, t->heap_idx);
	timerfd_update(l);
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (t->heap_idx < 0)
		return;
	heap_remove(l, t);
	timerfd_update(l);
}

static void timers_fire(struct loop_io *io, uint32_t events)
{
	struct loop *l = io->arg;
	uint64_t expirations, now = loop_now_ms();

	if (read(io->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("loop", "timerfd read failed", "err=%s", log_q(strerror(errno)));
	l->timerfd_due = 0;
	/* Fire everything due; a callback may re-arm its own timer. */
	while (l->heap_len && l->heap[0]->due_ms <= now && !l->stop) {
		struct loop_timer *t = l->heap[0];

		heap_remove(l, t);
		t->fn(t);
	}
	timerfd_update(l);
}

/* ---- signals ---- */

static void signals_read(struct loop_io *io, uint32_t events)
{
	struct loop *l = io->arg;
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		for (int i = 0; i < l->n_handlers; i++)
			if (l->handlers[i].signo == (int)si.ssi_signo)
				l->handlers[i].fn(l, si.ssi_signo, l->handlers[i].arg);
	}
}

int loop_signal(struct loop *l, int signo, loop_signal_fn fn, void *arg)
{
	int fd;

	if (l->n_handlers == MAX_SIGNALS)
		return -ENOSPC;
	sigaddset(&l->sigs, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigs, NULL) < 0)
		return -errno;
	fd = signalfd(l->sig_io.added ? l->sig_io.fd : -1, &l->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!l->sig_io.added && loop_io_add(l, &l->sig_io, fd, EPOLLIN, signals_read, l) < 0) {
		close(fd);
		return -errno;
	}
	l->handlers[l->n_handlers++] = (struct sig_handler){ signo, fn, arg };
	return 0;
}

/* ---- the loop ---- */

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	int tfd;

	if (!l)
		return NULL;
	sigemptyset(&l->sigs);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || tfd < 0 ||
	    loop_io_add(l, &l->timer_io, tfd, EPOLLIN, timers_fire, l) < 0) {
		if (tfd >= 0)
			close(tfd);
		if (l->epfd >= 0)
			close(l->epfd);
		free(l);
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->sig_io.added) {
		close(l->sig_io.fd);
		sigprocmask(SIG_UNBLOCK, &l->sigs, NULL);
	}
	for (int i = 0; i < l->heap_len; i++)
		l->heap[i]->heap_idx = -1;
	close(l->timer_io.fd);
	close(l->epfd);
	free(l->heap);
	free(l);
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(l->epfd, evs, 64, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	l->batch = evs;
	l->batch_n = n;
	for (int i = 0; i < n && !l->stop; i++) {
		struct loop_io *io = evs[i].data.ptr;

		if (io)		/* NULL: deleted by an earlier callback */
			io->fn(io, evs[i].events);
	}
	l->batch = NULL;
	l->batch_n = 0;
	return n;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop)
		if (loop_run_once(l, -1) < 0) {
			log_err("loop", "epoll_wait failed", "err=%s", log_q(strerror(errno)));
			return -1;
		}
	return 0;
}

void loop_stop(struct loop *l) { l->stop = true; }
bool loop_stopping(const struct loop *l) { return l->stop; }
