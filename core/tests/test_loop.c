/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/loop.h"
#include "core/test.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int order[16], n_order;

static void record(struct loop_timer *t) { order[n_order++] = (int)(long)t->arg; }

/* Timers fire in due order whatever order they were armed in; a cancelled
 * one never fires; re-arming moves it. */
static void test_timer_order(void)
{
	struct loop *l = loop_new();
	struct loop_timer t[6];
	/* 40 ms between neighbours: the order holds even when a loaded
	 * machine stops this process for a while between two arms */
	int delays[6] = { 200, 40, 120, 80, 160, 240 };

	for (int i = 0; i < 6; i++) {
		loop_timer_init(&t[i], record, (void *)(long)i);
		loop_timer_arm(l, &t[i], delays[i]);
	}
	loop_timer_cancel(l, &t[4]);	/* 160 ms: gone */
	loop_timer_arm(l, &t[5], 1);	/* 240 -> 1 ms: first */
	n_order = 0;
	uint64_t start = loop_now_ms();
	while (n_order < 5 && loop_now_ms() - start < 2000)
		loop_run_once(l, 100);
	CHECK_EQ_INT(n_order, 5);
	int want[5] = { 5, 1, 3, 2, 0 };
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(order[i], want[i]);
	CHECK(!loop_timer_armed(&t[4]));
	CHECK(loop_now_ms() - start >= 100);	/* it waited (start is after the arms) */
	loop_free(l);
}

/* Many timers with random delays come out sorted (the heap keeps order). */
static uint64_t last_due;
static int sorted_ok = 1, fired;
static void check_sorted(struct loop_timer *t)
{
	if (t->due_ms < last_due)
		sorted_ok = 0;
	last_due = t->due_ms;
	fired++;
}

static void test_timer_heap(void)
{
	struct loop *l = loop_new();
	static struct loop_timer t[500];

	srand(7);
	for (int i = 0; i < 500; i++) {
		loop_timer_init(&t[i], check_sorted, NULL);
		loop_timer_arm(l, &t[i], rand() % 40);
	}
	for (int i = 0; i < 500; i += 3)
		loop_timer_cancel(l, &t[i]);
	uint64_t start = loop_now_ms();
	while (fired < 333 && loop_now_ms() - start < 2000)
		loop_run_once(l, 50);
	CHECK_EQ_INT(fired, 333);
	CHECK(sorted_ok);
	loop_free(l);
}

static int pipe_reads;
static void on_pipe(struct loop_io *io, uint32_t events)
{
	char buf[16];

	if (read(io->fd, buf, sizeof(buf)) > 0)
		pipe_reads++;
}

static int got_signal;
static void on_signal(struct loop *l, int signo, void *arg)
{
	got_signal = signo;
	loop_stop(l);
}

static void stop_soon(struct loop_timer *t) { raise(SIGTERM); }

/* An fd callback runs when data arrives; SIGTERM arrives through the loop
 * (signalfd) and stops loop_run cleanly. */
static void test_io_and_signal(void)
{
	struct loop *l = loop_new();
	struct loop_io io;
	struct loop_timer t;
	int p[2];

	CHECK(pipe(p) == 0);
	CHECK(loop_io_add(l, &io, p[0], EPOLLIN, on_pipe, NULL) == 0);
	CHECK(loop_signal(l, SIGTERM, on_signal, NULL) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	loop_timer_init(&t, stop_soon, NULL);
	loop_timer_arm(l, &t, 20);
	CHECK(loop_run(l) == 0);
	CHECK_EQ_INT(pipe_reads, 1);
	CHECK_EQ_INT(got_signal, SIGTERM);
	loop_io_del(l, &io);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/* A callback that deletes and frees another io whose event is pending in
 * the same batch: that io's callback must not run (ASan would catch the
 * use after free). */
static struct loop_io *victim;
static int victim_calls, killer_calls;
static void victim_fn(struct loop_io *io, uint32_t events) { victim_calls++; }
static void killer_fn(struct loop_io *io, uint32_t events)
{
	struct loop *l = io->arg;

	killer_calls++;
	if (victim) {
		loop_io_del(l, victim);
		free(victim);
		victim = NULL;
	}
}

static void test_delete_pending_io(void)
{
	struct loop *l = loop_new();
	struct loop_io killer;
	int a[2], b[2];

	CHECK(pipe(a) == 0 && pipe(b) == 0);
	victim = calloc(1, sizeof(*victim));
	/* both readable before the wait: one epoll_wait returns both */
	CHECK(write(a[1], "x", 1) == 1 && write(b[1], "x", 1) == 1);
	CHECK(loop_io_add(l, &killer, a[0], EPOLLIN, killer_fn, l) == 0);
	CHECK(loop_io_add(l, victim, b[0], EPOLLIN, victim_fn, NULL) == 0);
	/* whichever comes first: if the victim ran first it is deleted after;
	 * if the killer ran first the victim must not run */
	loop_run_once(l, 100);
	CHECK_EQ_INT(killer_calls, 1);
	CHECK(victim_calls <= 1);
	if (victim) {
		loop_io_del(l, victim);
		free(victim);
	}
	loop_io_del(l, &killer);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	loop_free(l);
}

int main(void)
{
	test_delete_pending_io();
	test_timer_order();
	test_timer_heap();
	test_io_and_signal();
	return test_done("core_loop");
}
