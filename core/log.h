/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Structured logging: one line per event, key=value fields.
 *
 *   ts=2026-11-26T13:00:00.123Z level=info sub=nft msg="sync done" services=10
 *
 * Errors, warnings and info always print; detail is gated by the verbosity
 * (`-v N`, as klog's), so `log_v(2, ...)` prints only with -v 2 or more.
 * Libraries log; only the top level decides to exit.
 */
#ifndef FERRY_CORE_LOG_H
#define FERRY_CORE_LOG_H

#include <stdio.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_verbosity(int v);
int log_verbosity(void);
void log_set_stream(FILE *f);   /* default stderr; tests capture it */

/*
 * `fields` is a printf format for the key=value part, may be NULL. Values
 * with spaces should be quoted by the caller with log_q().
 */
void log_msg(enum log_level lvl, int v, const char *sub, const char *msg,
	     const char *fields, ...) __attribute__((format(printf, 5, 6)));

/* Quote a value for a key=value field if it needs it; returns a static
 * rotating buffer, good for a few uses in one log call. */
const char *log_q(const char *s);

#define log_err(sub, msg, ...)  log_msg(LOG_ERROR, 0, sub, msg, __VA_ARGS__)
#define log_warn(sub, msg, ...) log_msg(LOG_WARN, 0, sub, msg, __VA_ARGS__)
#define log_info(sub, msg, ...) log_msg(LOG_INFO, 0, sub, msg, __VA_ARGS__)
#define log_v(n, sub, msg, ...) \
	do { if (log_verbosity() >= (n)) log_msg(LOG_DEBUG, n, sub, msg, __VA_ARGS__); } while (0)

#endif
