/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event loop: one epoll set, one timerfd carrying a heap of timers, one
 * signalfd. Every source is a registered callback with an owner; nothing
 * blocks and nothing runs on a thread. libcurl's multi interface, netlink
 * sockets and the HTTP servers all plug in here.
 */
#ifndef FERRY_CORE_LOOP_H
#define FERRY_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;

/* ---- file descriptors ---- */
struct loop_io;
typedef void (*loop_io_fn)(struct loop_io *io, uint32_t events);
struct loop_io {
	int fd;
	uint32_t events;	/* EPOLLIN, EPOLLOUT, ... */
	loop_io_fn fn;
	void *arg;		/* the owner's */
	bool added;
};

/* Watch io->fd for `events`; `events` 0 keeps it registered but idle. */
int loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t events,
		loop_io_fn fn, void *arg);
int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events);
void loop_io_del(struct loop *l, struct loop_io *io);

/* ---- timers (monotonic milliseconds) ---- */
struct loop_timer;
typedef void (*loop_timer_fn)(struct loop_timer *t);
struct loop_timer {
	uint64_t due_ms;
	loop_timer_fn fn;
	void *arg;
	int heap_idx;		/* -1 when not armed */
};

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *arg);
/* (Re)arm to fire once, `after_ms` from now. */
void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t) { return t->heap_idx >= 0; }

/* ---- signals ---- */
typedef void (*loop_signal_fn)(struct loop *l, int signo, void *arg);
/* Block `signo` and deliver it through the loop. */
int loop_signal(struct loop *l, int signo, loop_signal_fn fn, void *arg);

/* ---- the loop ---- */
struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Run until loop_stop(); returns 0, or -1 on an epoll failure. */
int loop_run(struct loop *l);
/* Run one round: wait at most `timeout_ms` (-1 forever), dispatch, return. */
int loop_run_once(struct loop *l, int timeout_ms);
void loop_stop(struct loop *l);
bool loop_stopping(const struct loop *l);

uint64_t loop_now_ms(void);	/* CLOCK_MONOTONIC */
uint64_t loop_now_us(void);

#endif
